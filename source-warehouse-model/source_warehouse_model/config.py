"""Connector configuration: the pydantic models are both the validator and the spec's JSON schema."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from retl_shared import spec as retl_spec
from retl_shared.errors import ConfigError

__all__ = ["ConfigError", "SourceConfig", "parse_config", "spec_schema"]


# Airbyte's UI does not render the anyOf-with-null pydantic produces for optional fields.
OptionalText = Annotated[str | None, WithJsonSchema({"type": "string"})]


class DuckDBWarehouse(BaseModel):
    model_config = ConfigDict(title="DuckDB", extra="forbid")

    type: Literal["duckdb"] = Field(title="Type", description="Read a DuckDB database file.")
    path: str = Field(
        title="Database path",
        description="Path of the DuckDB file (opened read-only), or :memory: for an empty database.",
        min_length=1,
        examples=["/data/warehouse.duckdb"],
    )


# A discriminated union by `type`, so Snowflake and Postgres warehouses slot in beside DuckDB.
Warehouse = Annotated[Union[DuckDBWarehouse], Field(discriminator="type")]  # noqa: UP007


class ModelConfig(BaseModel):
    """A declared stream: a SQL query or one relation, with its keys."""

    model_config = ConfigDict(title="Model", extra="forbid")

    name: str = Field(
        title="Stream name", description="Name of the stream this model produces.", min_length=1
    )
    sql: OptionalText = Field(
        None,
        title="SQL",
        description="A SELECT query; it is run as a subquery, so no trailing ORDER BY or LIMIT is needed.",
        json_schema_extra={"multiline": True},
    )
    relation: OptionalText = Field(
        None,
        title="Relation",
        description=(
            "A table or view, as name or schema.name; double-quote parts that hold special characters"
            ' ("My Schema".orders).'
        ),
    )
    primary_key: list[str] = Field(
        default_factory=list,
        title="Primary key",
        description="Columns that identify a row: destinations upsert by them; they order cursor ties.",
    )
    cursor_field: OptionalText = Field(
        None,
        title="Cursor field",
        description="Column whose value grows whenever a row changes (e.g. updated_at); enables incremental.",
    )

    @model_validator(mode="after")
    def _sql_or_relation(self) -> ModelConfig:
        if (self.sql is None) == (self.relation is None):
            raise ValueError(f"model {self.name!r}: set exactly one of sql or relation")
        if self.relation is not None:
            relation_parts(self.relation)
        return self


class SourceConfig(BaseModel):
    model_config = ConfigDict(title="Warehouse Model Source Spec", extra="forbid")

    warehouse: Warehouse = Field(title="Warehouse", description="The warehouse to read from.")
    schemas: list[str] = Field(
        default_factory=list,
        title="Schemas",
        description="Every table and view in these schemas becomes a stream (namespace = schema).",
        examples=[["main"]],
    )
    models: list[ModelConfig] = Field(
        default_factory=list,
        title="Models",
        description="Extra streams defined by SQL or by naming a relation, with primary key and cursor.",
    )
    checkpoint_every_records: int = Field(
        10_000,
        ge=1,
        title="Checkpoint every N records",
        description="Emit a state after this many records, so a failed sync resumes near where it stopped.",
    )

    @model_validator(mode="after")
    def _streams_declared(self) -> SourceConfig:
        if not self.schemas and not self.models:
            raise ValueError("configure at least one schema or model")
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique: {', '.join(duplicates)}")
        return self


def parse_config(raw: Any) -> SourceConfig:
    return retl_spec.parse_config(SourceConfig, raw)


def spec_schema() -> dict[str, Any]:
    return retl_spec.spec_schema(SourceConfig)


_PART = re.compile(r'"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_$]*)')


def relation_parts(relation: str) -> list[tuple[str, bool]]:
    """Split `schema.name` into (identifier, was_quoted) parts.

    Unquoted parts are plain identifiers left for the warehouse to case-fold (Snowflake upper-cases
    them); quoted parts are taken exactly.
    """
    parts: list[tuple[str, bool]] = []
    position = 0
    while True:
        match = _PART.match(relation, position)
        if match is None:
            raise ValueError(f"relation {relation!r} is not name, schema.name or database.schema.name")
        quoted, plain = match.groups()
        parts.append((quoted.replace('""', '"'), True) if quoted is not None else (plain, False))
        position = match.end()
        if position == len(relation):
            break
        if relation[position] != "." or len(parts) == 3:
            raise ValueError(f"relation {relation!r} is not name, schema.name or database.schema.name")
        position += 1
    return parts
