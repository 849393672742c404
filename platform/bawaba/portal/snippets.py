"""Copyable code for a dataset: curl, Python and DuckDB, each reading its stable URLs.

The snippets use the URLs this server answers on (the request's own base URL), so what a
reader copies runs against the server they are looking at. A premium dataset's snippets
carry the API key header, read from an environment variable rather than pasted in.
"""

from __future__ import annotations

from dataclasses import dataclass

from bawaba.catalog.model import Dataset
from bawaba.serving.documents import links

KEY_VARIABLE = "BAWABA_API_KEY"


@dataclass(frozen=True)
class Snippet:
    id: str
    """curl, python or duckdb: also the id of its block on the page."""
    title: str
    language: str
    """For the ``language-…`` class of the code block."""
    code: str


def _curl(dataset: Dataset, urls: dict[str, str], premium: bool) -> str:
    key = f' -H "X-API-Key: ${KEY_VARIABLE}"' if premium else ""
    measure = next(iter(dataset.by_role("measure")), None)
    order = f"&order=-{measure.name}" if measure is not None else ""
    return (
        f"# The first rows as JSON{', with your key' if premium else ''}\n"
        f'curl{key} "{urls["records"]}?limit=5{order}"\n\n'
        "# The whole dataset as CSV\n"
        f'curl{key} -o {dataset.id}.csv "{urls["csv"]}"'
    )


def _python(dataset: Dataset, urls: dict[str, str], premium: bool) -> str:
    headers = (
        f'headers = {{"X-API-Key": os.environ["{KEY_VARIABLE}"]}}\n'
        if premium
        else "headers = {}\n"
    )
    imports = "import io\nimport os\n\n" if premium else "import io\n\n"
    return (
        f"{imports}import httpx\nimport pandas as pd\n\n"
        f"{headers}"
        f'page = httpx.get("{urls["records"]}", params={{"limit": 100}}, headers=headers).json()\n'
        'print(page["total"], "rows;", page["rows"][0])\n\n'
        "# The whole dataset, as a DataFrame\n"
        f'parquet = httpx.get("{urls["parquet"]}", headers=headers).content\n'
        "frame = pd.read_parquet(io.BytesIO(parquet))\n"
        "print(frame.head())"
    )


def _duckdb(dataset: Dataset, urls: dict[str, str], premium: bool) -> str:
    secret = (
        "-- Send your key with every request DuckDB makes to the server\n"
        "CREATE SECRET bawaba (TYPE http, EXTRA_HTTP_HEADERS MAP {'X-API-Key': 'YOUR-KEY'});\n\n"
        if premium
        else ""
    )
    return (
        "-- DuckDB reads the Parquet URL directly (httpfs; range requests)\n"
        "INSTALL httpfs;\nLOAD httpfs;\n\n"
        f"{secret}"
        f"SELECT *\nFROM read_parquet('{urls['parquet']}')\nLIMIT 10;"
    )


def snippets(base: str, dataset: Dataset) -> list[Snippet]:
    found = links(base, dataset)
    urls = {"records": found["records"], **found["downloads"]}
    premium = dataset.tier == "premium"
    return [
        Snippet("curl", "curl", "shell", _curl(dataset, urls, premium)),
        Snippet("python", "Python", "python", _python(dataset, urls, premium)),
        Snippet("duckdb", "DuckDB", "sql", _duckdb(dataset, urls, premium)),
    ]
