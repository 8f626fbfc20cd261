"""The streams a config declares, and their catalog entries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from source_warehouse_model.backends.base import Backend, Column, Kind
from source_warehouse_model.config import ConfigError, ModelConfig, SourceConfig, relation_parts
from source_warehouse_model.errors import about, sync_error
from source_warehouse_model.values import JSON_SCHEMAS

# Kinds whose values order meaningfully and round-trip through the state's cursor text.
CURSOR_KINDS = frozenset(
    {
        Kind.INTEGER,
        Kind.BIG_INTEGER,
        Kind.NUMBER,
        Kind.DECIMAL,
        Kind.STRING,
        Kind.DATE,
        Kind.TIME,
        Kind.TIMESTAMP,
        Kind.TIMESTAMP_TZ,
    }
)

# Columns a diff stream adds to each record: what changed, and for a deleted row when the sync
# noticed (Airbyte's CDC convention, which destinations read as a delete).
CHANGE_COLUMN = "_retl_change"
DELETED_AT_COLUMN = "_ab_cdc_deleted_at"
CHANGE_SCHEMAS: dict[str, dict[str, Any]] = {
    CHANGE_COLUMN: {
        "type": "string",
        "enum": ["added", "updated", "deleted"],
        "description": "How the row changed since the last confirmed sync (change_detection diff).",
    },
    DELETED_AT_COLUMN: {
        **JSON_SCHEMAS[Kind.TIMESTAMP_TZ],
        "description": "For a deleted row, when the sync detected the deletion; null otherwise.",
    },
}


@dataclass(frozen=True)
class StreamDef:
    name: str
    namespace: str | None
    sql: str  # a SELECT giving the stream's rows; always used as a subquery
    primary_key: tuple[str, ...] = ()
    cursor_field: str | None = None
    change_detection: Literal["cursor", "diff"] = "cursor"

    @property
    def diff(self) -> bool:
        return self.change_detection == "diff"

    @property
    def subquery(self) -> str:
        """The SQL as a FROM item; closed on its own line so a trailing -- comment cannot swallow it."""
        return f"({self.sql}\n) AS m"

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


def declared_streams(config: SourceConfig, backend: Backend) -> list[StreamDef]:
    """Every relation in the configured schemas, then the models."""
    with about(f"listing the tables and views of schemas {', '.join(config.schemas)}"):
        relations = backend.relations(config.schemas)
    streams = [
        StreamDef(
            relation.name,
            relation.schema,
            f"SELECT * FROM {backend.quote(relation.schema)}.{backend.quote(relation.name)}",
        )
        for relation in relations
    ]
    return streams + [_model_stream(model, backend) for model in config.models]


def missing_schemas(config: SourceConfig, streams: list[StreamDef]) -> list[str]:
    """Configured schemas without any relation: usually a typo."""
    found = {stream.namespace.lower() for stream in streams if stream.namespace}
    return [schema for schema in config.schemas if schema.lower() not in found]


def _model_stream(model: ModelConfig, backend: Backend) -> StreamDef:
    if model.relation is not None:
        # Unquoted parts stay unquoted so the warehouse applies its own case rules.
        parts = [backend.quote(name) if quoted else name for name, quoted in relation_parts(model.relation)]
        sql = f"SELECT * FROM {'.'.join(parts)}"
    else:
        sql = (model.sql or "").strip().rstrip(";")
    return StreamDef(
        model.name, None, sql, tuple(model.primary_key), model.cursor_field, model.change_detection
    )


def describe(backend: Backend, stream: StreamDef) -> list[Column]:
    """The stream's columns; a query that does not compile is the user's to fix."""
    subject = f"stream {stream.label}: the query fails"
    try:
        return backend.describe(f"SELECT * FROM {stream.subquery}")
    except ConfigError as exc:  # the backend's own wording (Snowflake's grants)
        raise ConfigError(f"{subject}: {exc.message}") from exc
    except Exception as exc:
        raise sync_error(exc, subject) from exc


def column_named(columns: list[Column], name: str, stream: StreamDef, role: str) -> Column:
    """The column of that name, else the one column whose name differs from it only in case (Snowflake
    upper-cases unquoted names, so a model's `updated_at` is its UPDATED_AT); two such are an error."""
    matches = case_matches(columns, name)
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = " and ".join(repr(column.name) for column in matches)
        raise ConfigError(
            f"stream {stream.label}: {role} column {name!r} matches the columns {shown}, which differ only"
            " in case; write it exactly as one of them"
        )
    known = ", ".join(column.name for column in columns)
    raise ConfigError(f"stream {stream.label}: {role} column {name!r} not found; columns are: {known}")


def case_matches(columns: list[Column], name: str) -> list[Column]:
    """The column named ``name`` exactly, else every column whose name differs from it only in case."""
    exact = [column for column in columns if column.name == name]
    return exact or [column for column in columns if column.name.casefold() == name.casefold()]


def cursor_column(columns: list[Column], name: str, stream: StreamDef) -> Column:
    column = column_named(columns, name, stream, "cursor")
    if column.kind not in CURSOR_KINDS:
        raise ConfigError(
            f"stream {stream.label}: cursor column {name!r} is {column.native_type}, which cannot be a cursor"
        )
    return column


def key_columns(columns: list[Column], stream: StreamDef) -> list[Column]:
    """The stream's primary key columns; a diff stream orders by them and keeps them in its state."""
    keys = [column_named(columns, name, stream, "primary key") for name in stream.primary_key]
    if stream.diff:
        for column in keys:
            if column.kind not in CURSOR_KINDS:
                raise ConfigError(
                    f"stream {stream.label}: primary key column {column.name!r} is {column.native_type},"
                    " which cannot key a diff (use numbers, text, dates or timestamps)"
                )
        clashes = [column.name for column in columns if column.name in CHANGE_SCHEMAS]
        if clashes:
            raise ConfigError(
                f"stream {stream.label}: change_detection diff adds the columns {', '.join(CHANGE_SCHEMAS)};"
                f" rename the model's {', '.join(clashes)}"
            )
    return keys


def resolve_keys(stream: StreamDef, columns: list[Column]) -> StreamDef:
    """The stream with its primary key and cursor named as its columns are; fails early when a model
    names a primary key or cursor column its query does not return."""
    keys = tuple(column.name for column in key_columns(columns, stream))
    cursor = None if stream.cursor_field is None else cursor_column(columns, stream.cursor_field, stream).name
    return replace(stream, primary_key=keys, cursor_field=cursor)


def airbyte_stream(stream: StreamDef, columns: list[Column]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": stream.name,
        "json_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {column.name: JSON_SCHEMAS[column.kind] for column in columns},
        },
        "supported_sync_modes": ["full_refresh", "incremental"],
        # False lets the user pick any column as cursor in the UI; a diff stream needs none.
        "source_defined_cursor": stream.cursor_field is not None or stream.diff,
    }
    if stream.diff:
        entry["json_schema"]["properties"].update(CHANGE_SCHEMAS)
    if stream.namespace:
        entry["namespace"] = stream.namespace
    if stream.cursor_field is not None:
        entry["default_cursor_field"] = [stream.cursor_field]
    if stream.primary_key:
        entry["source_defined_primary_key"] = [[name] for name in stream.primary_key]
    return entry
