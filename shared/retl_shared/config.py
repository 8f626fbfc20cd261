"""The config vocabulary every destination shares, as pydantic models rendered into the spec.

A destination's config model subclasses ``DestinationConfig`` and overrides ``api_base_url``'s
default; everything else (stream mappings, batching, dry run, rejection threshold) is the same
in every destination, so a user learns it once.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError


class NullPolicy(StrEnum):
    skip = "skip"
    clear = "clear"


class UnmappedColumns(StrEnum):
    pass_through = "pass_through"
    drop = "drop"


class Change(StrEnum):
    """What a diff-mode source says happened to a row (its `_retl_change` column)."""

    added = "added"
    updated = "updated"
    deleted = "deleted"


class OnDelete(StrEnum):
    ignore = "ignore"  # leave the destination's record as it is
    archive = "archive"  # archive it (restorable), where the API has that
    delete = "delete"  # delete it, where the API allows it; the webhook sends the deleted row as it is
    clear = "clear"  # send nulls for the mapped fields, whatever `nulls` says


# The columns a diff-mode source adds to every record: what happened, and when a deletion was seen.
CHANGE_COLUMN = "_retl_change"
DELETED_AT_COLUMN = "_ab_cdc_deleted_at"
CHANGE_COLUMNS = frozenset({CHANGE_COLUMN, DELETED_AT_COLUMN})


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


def _characters(value: str) -> str | None:
    """What kind of stray character a pasted value holds, if any."""
    if any(c in "\r\n" for c in value):
        return "a line break"
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        return "a control character"
    if value != value.strip():
        return "a space at its start or end"
    return None


def _token(value: str) -> str:
    """API keys and tokens hold no whitespace at all: a stray one is a paste error, and would reach
    the HTTP headers (where requests' errors would print the value)."""
    found = _characters(value) or ("a space" if any(c.isspace() for c in value) else None)
    if found:
        raise PydanticCustomError("pasted", "contains {found}: paste it again without it", {"found": found})
    return value


def _password(value: str) -> str:
    """Passwords may hold inner spaces, but no line breaks, control characters or edge whitespace."""
    found = _characters(value)
    if found:
        raise PydanticCustomError("pasted", "contains {found}: paste it again without it", {"found": found})
    return value


# A secret with no whitespace at all (API keys, tokens, signing secrets).
Token = Annotated[str, AfterValidator(_token)]
# A secret that may hold inner spaces (passwords, header values).
Password = Annotated[str, AfterValidator(_password)]


_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def check_url(value: str, *, templated: bool = False) -> str:
    """An http(s) URL with a host; the error shows what was typed (credentials in it masked).

    ``templated`` URLs may hold ``{{ record.x }}`` in their path or query, never in the host. A user name
    or password in the URL is refused: the URL is no secret field (it is stored and shown in plain
    text), and requests would send them as Basic auth in place of the configured credentials.
    """
    shown = {"shown": _shown_url(value)}
    if "{" in urlsplit(value).netloc:
        raise PydanticCustomError(
            "url", "{shown} has no fixed host name (a template cannot make the host)", shown
        )
    rendered = _TEMPLATE.sub("t", value) if templated else value  # a template's own spaces are not the URL's
    if _characters(rendered) or any(c.isspace() for c in rendered):
        raise PydanticCustomError("url", "{shown} holds a space or line break", shown)
    if "{{" in rendered or "{%" in rendered:
        raise PydanticCustomError("url", "{shown} may not hold a template here", shown)
    parts = urlsplit(rendered)
    if parts.scheme not in ("http", "https"):
        raise PydanticCustomError("url", "{shown} is not an http:// or https:// URL", shown)
    if not parts.hostname or "%" in parts.netloc:
        raise PydanticCustomError("url", "{shown} has no host name", shown)
    if "@" in parts.netloc:
        raise PydanticCustomError(
            "url",
            "{shown} holds a user name or password: remove them from the URL and set the credentials in "
            "the authentication settings, which are kept secret",
            shown,
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise PydanticCustomError("url", "{shown} has a port that is not a number", shown) from None
    return value


def _shown_url(value: str) -> str:
    """The URL as typed, for a message, with any credentials in it (https://user:pw@host) masked."""
    parts = urlsplit(value)
    if "@" in parts.netloc:
        value = value.replace(parts.netloc, "****@" + parts.netloc.rsplit("@", 1)[1], 1)
    return repr(value[:200])


def _base_url(value: str) -> str:
    return check_url(value) if value else value


# An http(s) URL with a host (the empty string means "the vendor's default", where allowed).
# HttpUrl is an API's base URL: no user:password in it.
HttpUrl = Annotated[str, AfterValidator(check_url)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
TemplatedUrl = Annotated[str, AfterValidator(lambda value: check_url(value, templated=True))]


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
    on_delete: OnDelete = Field(
        OnDelete.ignore,
        title="On delete",
        description="For a source in diff mode: what a row that left the model does. ignore leaves the "
        "record; archive or delete removes it where the destination can; clear sends nulls for the mapped "
        "fields.",
    )
    send: list[Change] = Field(
        default_factory=lambda: list(Change),
        title="Send",
        description='For a source in diff mode: which changes to send, e.g. ["added"] to fire an event '
        "only for new rows. The others are counted as skipped.",
    )

    @field_validator("match_key", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _bucket(value: str) -> str:
    """A bucket's name alone: ``s3://`` or a path in it is a paste of the wrong thing (the path goes in
    Prefix); S3's own naming rules are left to the store, as S3-compatible stores differ."""
    if not value or "/" in value or any(c.isspace() for c in value):
        raise PydanticCustomError(
            "bucket",
            "{shown} is not a bucket name: give the name alone (e.g. my-bucket), the folder in Prefix",
            {"shown": repr(value[:100])},
        )
    return value


class NoRejectedStore(BaseModel):
    model_config = ConfigDict(title="None (logged only)", extra="forbid")
    storage_type: Literal["none"] = "none"


class LocalRejectedStore(BaseModel):
    model_config = ConfigDict(title="Local directory", extra="forbid")
    storage_type: Literal["local"] = "local"
    path: str = Field(
        min_length=1,
        title="Directory",
        description="Where the JSONL files go, e.g. /data/retl/rejected (created if missing); in a "
        "container, a mounted volume.",
    )


class S3RejectedStore(BaseModel):
    model_config = ConfigDict(title="S3 or S3-compatible", extra="forbid")
    storage_type: Literal["s3"] = "s3"
    bucket: Annotated[str, AfterValidator(_bucket)] = Field(title="Bucket", description="e.g. my-bucket")
    prefix: str = Field(
        "", title="Prefix", description="Folder in the bucket the files go under, e.g. retl/rejected."
    )
    region: str | None = Field(
        None, title="Region", description="e.g. eu-west-1; by default, AWS's configuration (AWS_REGION)."
    )
    access_key_id: Token | None = secret(
        default=None,
        title="Access key ID",
        description="With the secret access key; leave both empty to use AWS's default credentials "
        "(environment, profile, instance or pod role).",
    )
    secret_access_key: Token | None = secret(default=None, title="Secret access key")
    endpoint_url: HttpUrl | None = Field(
        None,
        title="Endpoint URL",
        description="For an S3-compatible store (MinIO, Ceph, R2…), e.g. https://minio.internal:9000; "
        "empty for AWS.",
    )

    @model_validator(mode="after")
    def _both_keys_or_neither(self) -> S3RejectedStore:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise PydanticCustomError(
                "keys",
                "give both access_key_id and secret_access_key, or neither (AWS's default credentials)",
            )
        return self


RejectedRecords = Annotated[
    NoRejectedStore | LocalRejectedStore | S3RejectedStore, Field(discriminator="storage_type")
]


class DestinationConfig(BaseModel):
    """Settings every destination has; subclasses add credentials and vendor options."""

    model_config = ConfigDict(extra="forbid")

    api_base_url: BaseUrl = Field(
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
    rejected_records: RejectedRecords = Field(
        default_factory=NoRejectedStore,
        title="Rejected records",
        description="Where to keep every rejected record (stream, keys, field, reason and the record as "
        "read, secrets masked) as JSONL files under {sync id}/{namespace}/{stream}/: a local directory "
        "or an S3 bucket. By default they are only counted, and the first 100 per stream logged.",
    )

    def mapping_for(self, stream: str, namespace: str | None) -> StreamMapping | None:
        """The entry for a stream; an entry without a namespace matches the stream in any namespace."""
        for mapping in self.streams:
            if mapping.stream == stream and mapping.namespace in (None, namespace):
                return mapping
        return None
