"""Settings in one typed place, read from ``BAWABA_*`` environment variables.

Paths are relative to the working directory unless absolute, so the same checkout can hold
several independent installations (the tests give each its own ``BAWABA_VAR_DIR``).
"""

from __future__ import annotations

import ipaddress
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class Settings(BaseSettings):
    """Everything Bawaba can be configured with; see README.md "Settings"."""

    model_config = SettingsConfigDict(env_prefix="BAWABA_", frozen=True, extra="ignore")

    var_dir: Annotated[
        Path, Field(description="Generated working data: landing zone, store, reports, secrets.")
    ] = Path("var")
    datasets_dir: Annotated[Path, Field(description="Published datasets.")] = Path("datasets")
    datasets_url: Annotated[
        str | None,
        Field(
            pattern=r"^s3://[^/?#]+(/[^?#]*)?$",
            description="Publish to and serve from S3-compatible object storage instead of "
            "BAWABA_DATASETS_DIR: `s3://bucket/prefix`. Endpoint, region and credentials come "
            "from the usual AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, "
            "`AWS_ACCESS_KEY_ID`, …).",
        ),
    ] = None
    object_cache_mb: Annotated[
        int,
        Field(
            ge=0,
            description="Disk under var/cache/objects for local copies of version objects "
            "read from BAWABA_DATASETS_URL (they never change, so a copy never goes stale).",
        ),
    ] = 4096
    release_pointer_ttl_s: Annotated[
        float,
        Field(
            ge=0,
            description="How long a server trusts the release pointer it read from object "
            "storage before asking again (a conditional GET): the most a new release waits "
            "to be served.",
        ),
    ] = 2.0
    download_redirect_s: Annotated[
        int,
        Field(
            ge=0,
            le=604_800,
            description="With BAWABA_DATASETS_URL, answer a whole-version Parquet download "
            "with a redirect to a presigned URL valid this many seconds; 0 serves the file.",
        ),
    ] = 0
    pipelines_dir: Annotated[
        Path, Field(description="One Python file per department pipeline.")
    ] = Path("pipelines")
    catalog_path: Annotated[Path, Field(description="The hand-written catalog.")] = Path(
        "catalog.yaml"
    )
    pseudonym_key: Annotated[
        SecretStr | None,
        Field(
            description="Secret HMAC key (32+ bytes) for payer pseudonyms. When unset, the "
            "key file under var/secrets/ is used if it exists."
        ),
    ] = None
    seed: Annotated[int, Field(description="Seed of the department simulator.")] = 2013
    scale: Annotated[
        float, Field(gt=0, le=10, description="Simulator volume; 1.0 is the published figures.")
    ] = 1.0
    departments_api_url: Annotated[
        str, Field(description="Base URL of the departments' HTTP export APIs.")
    ] = "http://127.0.0.1:8100"
    http_timeout_s: Annotated[
        float, Field(gt=0, description="Per-request time-out of the HTTP connector.")
    ] = 10.0
    http_max_retries: Annotated[
        int, Field(ge=0, description="Retries of one page on a 5xx answer or time-out.")
    ] = 6
    http_backoff_s: Annotated[
        float, Field(ge=0, description="First back-off delay; doubles on each retry.")
    ] = 0.2

    dask_scheduler: Annotated[
        str | None,
        Field(
            pattern=r"^(tcp|tls|inproc|ucx)://\S+$",
            description="A Dask scheduler (`tcp://host:8786`) on which `bawaba pipelines run` "
            "and `bawaba publish` run their work; when unset, they run in this process "
            "(and never import Dask). The store, the landing zone and var/ must be on "
            "storage every worker reaches at the same path.",
        ),
    ] = None

    keep_versions: Annotated[
        int, Field(ge=1, description="Versions of each dataset kept readable.")
    ] = 5

    max_audit_cells: Annotated[
        int,
        Field(
            ge=1,
            description="Largest table the suppression audit takes on; a larger one is "
            "withheld (never published unaudited).",
        ),
    ] = 300_000
    """The demo's largest tables have about 20,000 cells at scale 1.0; the budget stops a
    table many times larger from running the publish for hours."""
    publish_part_rows: Annotated[
        int,
        Field(
            ge=1,
            description="Rows of the store a publish builds at a time: a group of "
            "departments up to this many rows in a year (a larger department alone).",
        ),
    ] = 2_000_000
    """What a publish holds grows with the part, not with the store; fewer, larger parts
    cost less CPU (each builder reads the store once per part)."""

    api_host: Annotated[str, Field(description="Address `bawaba serve` listens on.")] = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535, description="Port of `bawaba serve`.")] = 8000
    api_workers: Annotated[int, Field(ge=1, description="Server processes of `bawaba serve`.")] = 1
    open_rate_limit: Annotated[
        str,
        Field(
            description="Requests an anonymous caller may make, per client address, in "
            "slowapi notation (e.g. `120/minute;2000/hour`)."
        ),
    ] = "120/minute;3000/hour"
    rate_limit_storage_uri: Annotated[
        str,
        Field(
            description="Where rate limits are counted: `lmdb://` (an LMDB file under "
            "`BAWABA_VAR_DIR` that every worker process of `bawaba serve` shares, so limits "
            "hold exactly whatever the number of workers), `lmdb:///absolute/path`, "
            "`memory://` (each process counts alone: one worker only), or a Redis URL "
            "(`redis://host:6379/0`, `rediss://…`, `unix://…`), where rate limits, monthly "
            "quotas and usage are counted for every replica at once."
        ),
    ] = "lmdb://"
    trusted_proxies: Annotated[
        str,
        Field(
            description="Comma-separated addresses or networks (CIDR) of the reverse proxies "
            "whose `X-Forwarded-For` and `X-Forwarded-Proto` `bawaba serve` believes. None by "
            "default: any client could otherwise pick its own address, and with it its "
            "anonymous rate limit."
        ),
    ] = ""
    max_url_bytes: Annotated[
        int, Field(ge=1024, description="Longest request URL (path and query); longer is a 414.")
    ] = 16_384
    max_header_bytes: Annotated[
        int,
        Field(ge=1024, description="Largest request headers, names and values; larger is a 431."),
    ] = 32_768
    max_body_bytes: Annotated[
        int, Field(ge=1024, description="Largest request body (forms, JSON); larger is a 413.")
    ] = 1_048_576
    failed_auth_limit: Annotated[
        str,
        Field(
            description="Failed authentications (bad, expired or revoked keys and tokens, "
            "and failed client credentials at `/oauth/token`) allowed per client address, "
            "in slowapi notation; past it, credentials from that address get a 429 until "
            "the window ends, without being checked."
        ),
    ] = "30/minute;300/hour"
    page_rows: Annotated[
        int, Field(ge=1, description="Rows in a records page when `limit` is not given.")
    ] = 100
    max_page_rows: Annotated[
        int, Field(ge=1, description="Largest `limit` of a records or aggregate page.")
    ] = 10_000
    query_deadline_s: Annotated[
        float,
        Field(
            gt=0,
            description="A records or aggregate query still running after this is "
            "interrupted and answered with an error.",
        ),
    ] = 5.0
    response_cache_mb: Annotated[
        int,
        Field(
            ge=0,
            description="Memory for answers kept by ETag (versions never change, "
            "so a kept answer never goes stale).",
        ),
    ] = 64
    download_cache_mb: Annotated[
        int,
        Field(
            ge=0,
            description="Disk under var/cache/ for filtered and CSV/JSON downloads, kept by ETag.",
        ),
    ] = 2048
    duckdb_threads: Annotated[
        int, Field(ge=1, description="Threads DuckDB may use for one query.")
    ] = 2
    duckdb_memory_limit: Annotated[
        str, Field(description="DuckDB's memory limit (e.g. `2GB`).")
    ] = "2GB"
    resident_mb: Annotated[
        int,
        Field(
            ge=0,
            description="Parquet (by file size) that DuckDB keeps in memory as tables, so "
            "queries on small versions skip decoding the file; 0 reads every query from "
            "the file.",
        ),
    ] = 256

    key_store_path: Annotated[
        Path, Field(description="The API key store (SQLite): hashed secrets and usage.")
    ] = Path("api_keys/keys.sqlite")
    key_store_url: Annotated[
        SecretStr | None,
        Field(
            description="A PostgreSQL database (`postgresql://user:password@host/db`) for "
            "keys, token signing keys and usage, shared by every replica; when unset, the "
            "SQLite file at key_store_path."
        ),
    ] = None
    plans_path: Annotated[Path, Field(description="The plans keys can be on.")] = Path(
        "api_keys/plans.yaml"
    )
    key_store_secret: Annotated[
        SecretStr | None,
        Field(
            description="Secret key of the keyed hash of API keys and of bearer-token "
            "signatures. When unset, a key file under var/secrets/ is used (created on first "
            "need)."
        ),
    ] = None
    token_lifetime_s: Annotated[
        int, Field(ge=60, le=86_400, description="Lifetime of a bearer token from /oauth/token.")
    ] = 900
    usage_flush_s: Annotated[
        float,
        Field(gt=0, description="How often a server writes its usage counts to the key store."),
    ] = 1.0

    contact_email: Annotated[
        str,
        Field(
            pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            description="Where data users write to the publisher; the DCAT catalogs "
            "(data.json, DCAT-AP) name it as every dataset's contact point.",
        ),
    ] = "opendata@bawaba.example"

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network; give addresses such as "
                    "127.0.0.1 or networks such as 10.0.0.0/8, comma-separated"
                ) from None
        return value

    @property
    def proxies(self) -> list[str]:
        """``trusted_proxies`` as a list (empty: trust no proxy)."""
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]

    @field_validator("key_store_url")
    @classmethod
    def _postgresql_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(POSTGRESQL_SCHEMES):
            raise ValueError(
                "BAWABA_KEY_STORE_URL must be a PostgreSQL URL (postgresql://user:password@"
                "host:port/database); leave it unset for the SQLite key store"
            )
        return url

    @property
    def landing_dir(self) -> Path:
        """Raw department files as delivered (personal data: never served)."""
        return self.var_dir / "landing"

    @property
    def systems_dir(self) -> Path:
        """The simulated departments' own record stores, behind their export API."""
        return self.var_dir / "departments"

    @property
    def store_dir(self) -> Path:
        """The analytic store: sanitised rows, no identifiers, no free text."""
        return self.var_dir / "store"

    @property
    def quarantine_dir(self) -> Path:
        """Rejected raw rows with their reason (personal data: never served)."""
        return self.var_dir / "quarantine"

    @property
    def runs_dir(self) -> Path:
        """One JSON report per ingestion run."""
        return self.var_dir / "runs"

    @property
    def secrets_dir(self) -> Path:
        """Local secrets the demo generates; git-ignored with the rest of var/."""
        return self.var_dir / "secrets"

    @property
    def pseudonym_key_file(self) -> Path:
        return self.secrets_dir / "pseudonym.key"

    @property
    def key_store_secret_file(self) -> Path:
        return self.secrets_dir / "api-keys.key"

    @property
    def cache_dir(self) -> Path:
        """Downloads materialised by ETag; safe to delete at any time."""
        return self.var_dir / "cache"


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
