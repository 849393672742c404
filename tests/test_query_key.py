"""One key per query: the ETag, the answer cache, the download cache and a cursor never
confuse two queries, however their values are spelt."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from urllib.parse import parse_qsl

from hypothesis import example, given
from hypothesis import strategies as st

from bawaba.serving.caching import canonical_query
from conftest import Served

API = "/api/v1/datasets"
# Few characters, among them every separator, so that spellings collide often.
TEXT = st.text(alphabet="a,&=%+ é\x00\U0001f600", max_size=4) | st.text(max_size=6)
PAIRS = st.lists(st.tuples(TEXT, TEXT), max_size=4)


def _read_naively(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs a reader gets back from ``pairs`` joined by ``&`` and ``=`` unescaped: the
    other queries an unescaped key would confuse with them."""
    joined = "&".join(f"{name}={value}" for name, value in pairs)
    return [(field.partition("=")[0], field.partition("=")[2]) for field in joined.split("&")]


@given(PAIRS, st.sampled_from(["read naively", "reversed", "another"]), PAIRS)
@example([("department__in", "DCAA,DHA&year=2013")], "read naively", [])
def test_distinct_queries_have_distinct_keys(
    a: list[tuple[str, str]], how: str, another: list[tuple[str, str]]
) -> None:
    b = {"read naively": _read_naively(sorted(a)), "reversed": a[::-1], "another": another}[how]
    assert (Counter(a) == Counter(b)) == (canonical_query(a) == canonical_query(b))


@given(PAIRS, st.randoms())
def test_the_order_of_parameters_does_not_change_the_key(
    a: list[tuple[str, str]], rng: random.Random
) -> None:
    shuffled = list(a)
    rng.shuffle(shuffled)
    assert canonical_query(shuffled) == canonical_query(a)


@given(PAIRS)
def test_a_key_reads_back_as_its_query(pairs: list[tuple[str, str]]) -> None:
    key = canonical_query(pairs)
    decoded = parse_qsl(key, keep_blank_values=True, errors="strict") if key else []
    assert decoded == sorted(pairs)


# The finding: a value holding an escaped "&year=2013" was keyed like the real parameter.
SPELT_IN = "department__in=DCAA,DHA%26year%3D2013"
SPELT_APART = "department__in=DCAA,DHA&year=2013"
# The same two questions asked with their values in another order: keys never seen before.
SPELT_IN_AGAIN = "department__in=DHA%26year%3D2013,DCAA"
SPELT_APART_AGAIN = "department__in=DHA,DCAA&year=2013"


def _rows(served: Served, query: str) -> tuple[set[tuple[object, ...]], str]:
    with served.client() as client:
        answer = client.get(f"{API}/epay-annual/records?{query}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["next"] is None, "one page holds every row"
    rows = {tuple(sorted(row.items())) for row in answer.json()["rows"]}
    return rows, answer.headers["etag"]


def test_a_value_holding_an_escaped_separator_never_shares_an_answer(served: Served) -> None:
    first, first_tag = _rows(served, SPELT_IN)
    second, second_tag = _rows(served, SPELT_APART)
    assert first_tag != second_tag
    assert second == _rows(served, SPELT_APART_AGAIN)[0]
    assert first == _rows(served, SPELT_IN_AGAIN)[0]
    assert second, "the release has 2013 rows of DCAA or DHA: the comparison is not vacuous"
    assert {dict(row)["year"] for row in second} == {2013}
    assert {dict(row)["department"] for row in first} == {"DCAA"}


def _download(served: Served, query: str) -> list[dict[str, str]]:
    with served.client() as client:
        answer = client.get(f"{API}/epay-annual/download.csv?{query}")
    assert answer.status_code == 200, answer.text
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_a_download_is_never_served_from_another_querys_file(served: Served) -> None:
    poisoned = _download(served, SPELT_IN)  # written to the download cache first
    asked = _download(served, SPELT_APART)
    assert asked, "the release has 2013 rows of DCAA or DHA: the comparison is not vacuous"
    assert {row["year"] for row in asked} == {"2013"}
    assert {row["department"] for row in asked} == {"DCAA", "DHA"} & {
        row["department"] for row in _download(served, SPELT_APART_AGAIN)
    }
    assert {row["department"] for row in poisoned} == {"DCAA"}
    assert len(asked) == len(_download(served, SPELT_APART_AGAIN))


def test_a_cursor_from_one_dataset_is_refused_on_another(served: Served) -> None:
    with served.client() as client:
        first = client.get(f"{API}/epay-annual/records", params={"limit": 1}).json()
        assert first["next_cursor"]
        elsewhere = client.get(
            f"{API}/epay-monthly/records", params={"limit": 1, "cursor": first["next_cursor"]}
        )
        same = client.get(
            f"{API}/epay-annual/records", params={"limit": 1, "cursor": first["next_cursor"]}
        )
    assert same.status_code == 200
    assert elsewhere.status_code == 400, elsewhere.text
    error = elsewhere.json()["error"]
    assert error["code"] == "bad-parameter"
    assert "cursor" in error["message"]
    assert "another" in error["message"]
