"""Settings in one typed place, read from ``BAWABA_*`` environment variables.

Paths are relative to the working directory unless absolute, so the same checkout can hold
several independent installations (the tests give each its own ``BAWABA_VAR_DIR``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Bawaba can be configured with; see README.md "Settings"."""

    model_config = SettingsConfigDict(env_prefix="BAWABA_", frozen=True, extra="ignore")

    var_dir: Annotated[
        Path, Field(description="Generated working data: landing zone, store, reports, secrets.")
    ] = Path("var")
    datasets_dir: Annotated[Path, Field(description="Published datasets.")] = Path("datasets")
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
    """The demo's daily table (about 203,000 cells at scale 1.0) is audited with the rest
    of the release in well under a minute; the budget stops a table several times larger
    from running the publish for hours."""

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


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
