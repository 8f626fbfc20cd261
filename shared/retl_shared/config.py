"""The config vocabulary every destination shares, as pydantic models rendered into the spec.

A destination's config model subclasses ``DestinationConfig`` and overrides ``api_base_url``'s
default; everything else (stream mappings, batching, dry run, rejection threshold) is the same
in every destination, so a user learns it once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NullPolicy(StrEnum):
    skip = "skip"
    clear = "clear"


class UnmappedColumns(StrEnum):
    pass_through = "pass_through"
    drop = "drop"


class FieldType(StrEnum):
    """Types the kernel coerces values to before a sink formats them for its API."""

    string = "string"
    integer = "integer"
    number = "number"
    decimal = "decimal"
    boolean = "boolean"
    date = "date"
    datetime = "datetime"
    json = "json"
    any = "any"


def secret(**kwargs: Any) -> Any:
    """A pydantic Field marked ``airbyte_secret``: masked in the UI and redacted from every log line."""
    extra = kwargs.pop("json_schema_extra", {}) or {}
    return Field(json_schema_extra={"airbyte_secret": True, **extra}, **kwargs)


class StreamMapping(BaseModel):
    """How one source stream becomes one destination object and operation."""

    model_config = ConfigDict(extra="forbid", title="Stream mapping")

    stream: str = Field(title="Stream", description="Name of the source stream (the model or table).")
    namespace: str | None = Field(
        None, title="Namespace", description="Source namespace, when two streams share a name."
    )
    object: str | None = Field(
        None,
        title="Destination object",
        description="Object to write, e.g. `contacts`. "
        "Defaults to the destination's only object, if it has one.",
    )
    operation: str | None = Field(
        None,
        title="Operation",
        description="upsert, update, create or archive (or the destination's own). Defaults from the "
        "stream's destination sync mode: append_dedup → upsert, append → create, update → update, "
        "soft_delete → archive.",
    )
    match_key: list[str] = Field(
        default_factory=list,
        title="Match key",
        description="Destination field(s) that identify a record, e.g. `email`. Defaults to the object's "
        "matching key, else the stream's primary key (after renames). Records without it are rejected.",
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        title="Field renames",
        description='Source column → destination field, e.g. {"lifetime_value_usd": "lifetime_value"}.',
    )
    static_values: dict[str, Any] = Field(
        default_factory=dict, title="Static values", description="Destination field → constant value."
    )
    templates: dict[str, str] = Field(
        default_factory=dict,
        title="Templates",
        description="Destination field → Jinja template over the source record, "
        'e.g. {"full_name": "{{ record.firstname }} {{ record.lastname }}"}.',
    )
    field_types: dict[str, FieldType] = Field(
        default_factory=dict,
        title="Field types",
        description="Destination field → type to coerce to, where the destination's schema does not say.",
    )
    unmapped_columns: UnmappedColumns = Field(
        UnmappedColumns.pass_through,
        title="Unmapped columns",
        description="pass_through sends columns not named in Field renames under their own names; "
        "drop omits them.",
    )
    nulls: NullPolicy = Field(
        NullPolicy.skip,
        title="Null values",
        description="skip leaves the destination value unchanged; clear empties it.",
    )

    @field_validator("match_key", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class DestinationConfig(BaseModel):
    """Settings every destination has; subclasses add credentials and vendor options."""

    model_config = ConfigDict(extra="forbid")

    api_base_url: str = Field(
        "",
        title="API base URL",
        description="Where the vendor API lives. Change it only for a sandbox or a proxy.",
        json_schema_extra={"order": 90},
    )
    streams: list[StreamMapping] = Field(
        default_factory=list,
        title="Streams",
        description="One entry per source stream: destination object, operation, match key and "
        "field mapping.",
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        title="Batch size",
        description="Records per request; defaults to, and is capped at, the API's maximum.",
    )
    max_concurrency: int = Field(
        4, ge=1, le=64, title="Max concurrency", description="Requests in flight at once."
    )
    dry_run: bool = Field(
        False,
        title="Dry run",
        description="Map and validate everything and report what would be written, without writing anything.",
    )
    max_rejected_ratio: float = Field(
        0.1,
        ge=0,
        le=1,
        title="Max rejected ratio",
        description="Fail the sync when more than this share of its records is rejected (0.1 = 10 %).",
    )

    def mapping_for(self, stream: str, namespace: str | None) -> StreamMapping | None:
        """The entry for a stream; an entry without a namespace matches the stream in any namespace."""
        for mapping in self.streams:
            if mapping.stream == stream and mapping.namespace in (None, namespace):
                return mapping
        return None
