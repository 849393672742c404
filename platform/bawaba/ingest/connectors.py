"""Connectors: what is new at a department since the last committed run.

A file drop yields the landed files not yet in the ledger. An HTTP export is paged from the
committed watermark, each page retried with exponential back-off on a 5xx answer, a time-out
or a broken connection, and landed as a JSON-lines file in the run's staging, so both kinds
are then read the same way and the raw pull is kept for audit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bawaba.errors import BawabaError
from bawaba.fsutil import sha256_file
from bawaba.ingest import intact
from bawaba.ingest.declarations import FileDrop, HttpExport
from bawaba.ingest.store import LedgerEntry

Progress = Callable[[int], None]


class SourceUnavailable(BawabaError):
    slug = "source-unavailable"


class ChangedFile(BawabaError):
    slug = "changed-file"


@dataclass
class Pulled:
    """What a connector found: files to read, and the state to commit if they are."""

    files: list[Path] = field(default_factory=list)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    watermark: int | None = None
    revised: dict[str, LedgerEntry] = field(default_factory=dict)
    """Landed file -> what was ingested of it before: corrected re-deliveries."""
    rejected: list[bytes] = field(default_factory=list)
    """Export records that are not JSON objects, as JSON text: quarantined, not landed."""


def find_new_files(source: FileDrop, folder: Path, ledger: dict[str, LedgerEntry]) -> Pulled:
    """Landed files not ingested yet, and corrected re-deliveries of ingested ones (a file
    changed after ingestion is an error only where the ledger cannot say where its rows
    are)."""
    pulled = Pulled()
    for path in sorted(folder.glob(source.pattern)):
        if not path.is_file() or path.name.startswith("."):
            continue
        stat = path.stat()
        manifest = intact.manifest_of(path)
        manifest_digest = sha256_file(manifest) if manifest.is_file() else None
        seen = ledger.get(path.name)
        # A quarantined file is delivered anew when its manifest is corrected, too.
        fixed = seen is not None and seen.quarantined and seen.manifest != manifest_digest
        unchanged = seen is not None and (seen.size, seen.mtime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        )
        if unchanged and not fixed:
            continue
        digest = sha256_file(path)
        if seen is not None and seen.sha256 == digest and not fixed:
            continue
        if seen is not None and not (seen.placed or seen.quarantined):
            raise ChangedFile(
                f"{path.name} changed after it was ingested, before revisions were tracked",
                hint="deliver corrections as a new file; this file's rows cannot be replaced",
            )
        if seen is not None and seen.part is not None:
            pulled.revised[path.name] = seen
        pulled.files.append(path)
        pulled.ledger[path.name] = LedgerEntry(
            size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=digest, manifest=manifest_digest
        )
    return pulled


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float
    max_retries: int
    backoff_s: float


def _get(
    client: httpx.Client, path: str, params: dict[str, int], timeout_s: float
) -> tuple[int, bytes]:
    """The status and body of ``GET path``. The body is read as a stream, never into the
    response: httpx keeps a response in a reference cycle (its stream refers back to it),
    so a page read into it would stay in memory until Python's cycle collector ran, and
    an export of thousands of pages piles up gigabytes before it does."""
    with client.stream("GET", path, params=params, timeout=timeout_s) as response:
        return response.status_code, b"".join(response.iter_bytes())


def _get_page(
    client: httpx.Client, path: str, params: dict[str, int], policy: RetryPolicy
) -> dict[str, object]:
    failure = ""
    for attempt in range(policy.max_retries + 1):
        if attempt:
            time.sleep(policy.backoff_s * 2 ** (attempt - 1))
        try:
            status, content = _get(client, path, params, policy.timeout_s)
        except (httpx.TimeoutException, httpx.TransportError) as error:
            failure = f"{type(error).__name__}: {error}"
            continue
        if status >= 500:
            failure = f"HTTP {status}"
            continue
        if status != 200:
            raise SourceUnavailable(
                f"GET {path} answered HTTP {status}",
                hint="check the pipeline's path and the department's API",
            )
        body = orjson.loads(content)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SourceUnavailable(f"GET {path} did not answer a page of records")
        return body
    raise SourceUnavailable(
        f"GET {path} failed {policy.max_retries + 1} times, last with {failure}",
        hint="the department's export API is down or overloaded; the run committed nothing "
        "for this department and the next run resumes from the same watermark",
    )


def pull_http(
    source: HttpExport,
    *,
    base_url: str,
    watermark: int,
    target: Path,
    policy: RetryPolicy,
    progress: Progress | None = None,
) -> Pulled:
    """Every record after ``watermark``, landed as JSON lines in ``target``."""
    after = watermark
    written = 0
    rejected: list[bytes] = []
    with httpx.Client(base_url=base_url) as client, target.open("wb") as out:
        while True:
            page = _get_page(
                client, source.path, {"after": after, "limit": source.page_size}, policy
            )
            records = page["records"]
            assert isinstance(records, list)
            objects = [r for r in records if isinstance(r, dict)]
            rejected += [orjson.dumps(r) for r in records if not isinstance(r, dict)]
            out.writelines(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in objects)
            written += len(objects)
            if progress is not None:
                progress(len(records))
            if not records:
                break
            next_after = page.get("next_after")
            if not isinstance(next_after, int) or next_after <= after:
                raise SourceUnavailable(
                    f"GET {source.path} did not advance its watermark past {after}",
                    hint="an export page must answer next_after = the last record's sequence",
                )
            after = next_after
    if not written:
        target.unlink()
    return Pulled(files=[target] if written else [], watermark=after, rejected=rejected)
