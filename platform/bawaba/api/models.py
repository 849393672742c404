"""The JSON answers of the API's own paths, as pydantic models: the OpenAPI document's
200 schemas.

The handlers build their documents as plain dicts and encode them with orjson (twice as
fast as validating on the way out), so these models describe and never run; the
schemathesis contract test (tests/test_openapi_contract.py) holds every live answer to them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bawaba.catalog.model import FieldType, Frequency, Grain, Role, Text, Tier
from bawaba.core.versions import FileEntry
from bawaba.publish.changes import VersionChanges

Row = dict[str, Any]
"""A row as a JSON object: column name -> value (null where a cell is suppressed)."""


class LicencePublic(BaseModel):
    id: str
    title: str
    url: str


class DatasetLinks(BaseModel):
    self: str
    records: str
    aggregate: str
    versions: str
    downloads: dict[str, str] = Field(description="Format (csv, json, parquet) -> URL.")


class DatasetSummary(BaseModel):
    """A dataset as the catalog lists it."""

    id: str
    tier: Tier
    title: Text
    description: Text
    topics: list[str]
    grain: Grain
    update_frequency: Frequency
    licence: LicencePublic
    current_version: str | None = Field(description="null before the first publish.")
    rows: int | None
    links: DatasetLinks


class DatasetList(BaseModel):
    count: int
    datasets: list[DatasetSummary]


class FieldPublic(BaseModel):
    """One column of the data dictionary."""

    name: str
    role: Role
    type: FieldType
    unit: str | None
    code_list: str | None
    additive: bool
    title: Text
    description: Text


class PrivacyPublic(BaseModel):
    k: int = Field(description="Least distinct payers in a published cell.")
    p: float = Field(description="The p% dominance rule on per-payer sums.")
    max_dimensions: int


class VersionLinks(BaseModel):
    records: str
    download: str


class VersionPublic(BaseModel):
    version: str
    current: bool
    created_at: str
    rows: int
    files: list[FileEntry]
    release: str | None
    changes: VersionChanges | None = Field(description="What the version changed, if known.")
    links: VersionLinks


class DatasetDetail(DatasetSummary):
    """A dataset's metadata, data dictionary and versions."""

    publisher: Text
    source_departments: Literal["all"] | list[str]
    sort_by: list[str]
    key: list[str] = Field(
        description="The columns that tell cells apart: what /changes rows are matched on."
    )
    fields: list[FieldPublic]
    privacy: PrivacyPublic | None = Field(description="null for reference data.")
    versions: list[VersionPublic]


class VersionList(BaseModel):
    dataset: str
    current_version: str | None
    versions: list[VersionPublic]


class RecordsPage(BaseModel):
    """One page of a dataset's rows."""

    dataset: str
    version: str
    columns: list[str]
    rows: list[Row]
    total: int = Field(description="Rows matching the filters, on every page.")
    offset: int
    limit: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    next: str | None = Field(description="The next page's URL; null on the last page.")


class AggregateAnswer(BaseModel):
    dataset: str
    version: str
    group_by: list[str]
    measures: list[str]
    columns: list[str]
    rows: list[Row]
    truncated: bool = Field(description="Whether there were more groups than `limit`.")


class KeyPublic(BaseModel):
    id: str
    prefix: str
    org: str
    plan: str
    expires_at: str | None


class Used(BaseModel):
    requests: int
    rows: int
    bytes: int


class UsageThisMonth(Used):
    by_dataset: dict[str, Used] = Field(description="Dataset id (or path) -> its usage.")


class Remaining(BaseModel):
    quota: int | None = Field(description="The plan's monthly quota; null: none.")
    used: int
    remaining: int | None


class Quotas(BaseModel):
    requests: Remaining
    rows: Remaining


class PlanLimits(BaseModel):
    rate: str = Field(description="Rate limits, e.g. 600/minute;20000/hour.")
    max_export_rows: int | None


class UsageReport(BaseModel):
    key: KeyPublic
    month: str = Field(description="The calendar month counted (UTC), e.g. 2013-06.")
    resets_at: str
    usage: UsageThisMonth
    quota: Quotas
    limits: PlanLimits


class Health(BaseModel):
    status: Literal["ok"]
    release: str | None = Field(description="The current release; null before the first.")
    datasets: int


class AccessToken(BaseModel):
    access_token: str = Field(description="A signed JWT, sent as `Authorization: Bearer …`.")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until it expires.")


class TokenRequest(BaseModel):
    """The token endpoint's form body (RFC 6749 section 4.4.2)."""

    grant_type: Literal["client_credentials"]
    client_id: str | None = Field(
        default=None, description="The key's id; or send id and key as HTTP Basic credentials."
    )
    client_secret: str | None = Field(default=None, description="The key itself.")
    scope: str | None = Field(
        default=None, description="Ignored: a token carries its key's whole plan."
    )
