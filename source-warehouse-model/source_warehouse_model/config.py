"""Connector configuration: the pydantic models are both the validator and the spec's JSON schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator

from retl_shared import spec as retl_spec
from retl_shared.config import Password, Token, secret
from retl_shared.errors import ConfigError

__all__ = ["ConfigError", "Lookback", "SourceConfig", "parse_config", "spec_schema"]


# Airbyte's UI does not render the anyOf-with-null pydantic produces for optional fields.
OptionalText = Annotated[str | None, WithJsonSchema({"type": "string"})]
OptionalInteger = Annotated[int | None, WithJsonSchema({"type": "integer"})]
OptionalPassword = Annotated[Password | None, WithJsonSchema({"type": "string"})]


class DuckDBWarehouse(BaseModel):
    model_config = ConfigDict(title="DuckDB", extra="forbid")

    type: Literal["duckdb"] = Field(title="Type", description="Read a DuckDB database file.")
    path: str = Field(
        title="Database path",
        description="Path of the DuckDB file (opened read-only), or :memory: for an empty database.",
        min_length=1,
        examples=["/data/warehouse.duckdb"],
    )
    bookkeeping_path: OptionalText = Field(
        None,
        title="Bookkeeping database path",
        description="DuckDB file where models with change_detection diff keep their snapshots (created if"
        " missing; the warehouse itself stays read-only). Defaults to the warehouse's path with the"
        " extension .retl.duckdb, e.g. /data/warehouse.retl.duckdb.",
        examples=["/data/warehouse.retl.duckdb"],
    )

    @property
    def bookkeeping_file(self) -> Path | None:
        """Where diff snapshots live; None for an in-memory warehouse without a configured file."""
        if self.bookkeeping_path is not None:
            return Path(self.bookkeeping_path)
        if self.path == ":memory:":
            return None
        return Path(self.path).with_suffix(".retl.duckdb")


class PasswordCredentials(BaseModel):
    model_config = ConfigDict(title="Password", extra="forbid")

    auth_type: Literal["password"] = Field(title="Authentication", description="User name and password.")
    password: Password = secret(title="Password", description="The user's password.", min_length=1)


class KeyPairCredentials(BaseModel):
    model_config = ConfigDict(title="Key pair", extra="forbid")

    auth_type: Literal["key_pair"] = Field(
        title="Authentication", description="Key-pair (JWT) authentication, for service users."
    )
    private_key: str = secret(
        title="Private key",
        description="The PEM private key whose public key is set on the user (RSA_PUBLIC_KEY), "
        "starting with -----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----.",
        min_length=1,
        json_schema_extra={"multiline": True},
    )
    private_key_passphrase: OptionalPassword = secret(
        default=None, title="Passphrase", description="Passphrase of an encrypted private key."
    )


class TokenCredentials(BaseModel):
    model_config = ConfigDict(title="Programmatic access token", extra="forbid")

    auth_type: Literal["pat"] = Field(
        title="Authentication", description="A programmatic access token (PAT) generated for the user."
    )
    token: Token = secret(title="Token", description="The programmatic access token.", min_length=1)


Credentials = Annotated[
    PasswordCredentials | KeyPairCredentials | TokenCredentials, Field(discriminator="auth_type")
]


class SnowflakeWarehouse(BaseModel):
    model_config = ConfigDict(title="Snowflake", extra="forbid")

    type: Literal["snowflake"] = Field(title="Type", description="Read a Snowflake database.")
    account: str = Field(
        title="Account",
        description="Account identifier: orgname-accountname, or the account locator with its region.",
        min_length=1,
        examples=["myorg-myaccount", "xy12345.eu-central-1"],
    )
    user: str = Field(title="User", description="The Snowflake user to connect as.", min_length=1)
    role: str = Field(
        title="Role",
        description="Role whose grants decide what can be read.",
        min_length=1,
        examples=["AIRBYTE"],
    )
    warehouse: str = Field(
        title="Warehouse", description="Virtual warehouse that runs the queries.", min_length=1
    )
    database: str = Field(
        title="Database",
        description="Database holding the schemas and relations; names that are not fully qualified "
        "resolve in it.",
        min_length=1,
    )
    credentials: Credentials = Field(title="Credentials", description="How the user authenticates.")
    host: OptionalText = Field(
        None,
        title="Host",
        description="Connect to this host instead of <account>.snowflakecomputing.com (proxies, tests).",
    )
    port: OptionalInteger = Field(None, title="Port", description="Port of the host; defaults to 443.")
    protocol: Literal["https", "http"] = Field(
        "https", title="Protocol", description="https, or http for a local test server."
    )
    bookkeeping_schema: OptionalText = Field(
        None,
        title="Bookkeeping schema",
        description="Schema (schema or database.schema) where models with change_detection diff keep their"
        " snapshots, as transient tables; the role needs USAGE and CREATE TABLE on it, nothing more."
        " Required when a model uses diff.",
        examples=["RETL_BOOKKEEPING", "ANALYTICS.RETL_BOOKKEEPING"],
    )


# A discriminated union by `type`: a Postgres warehouse slots in beside these.
Warehouse = Annotated[DuckDBWarehouse | SnowflakeWarehouse, Field(discriminator="type")]


@dataclass(frozen=True)
class Lookback:
    """How far below the stored cursor an incremental read starts, to pick up late-arriving rows.

    ``amount`` is a ``timedelta`` for date and time cursors (from an ISO 8601 duration) or a
    ``Decimal`` for numeric ones; ``text`` is the setting as written, for messages.
    """

    text: str
    amount: timedelta | Decimal


_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_lookback(value: Any) -> Lookback | None:
    """An ISO 8601 duration (PT1H, P2D, PT90S) or a non-negative number; months and years vary, so no."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be an ISO 8601 duration such as PT1H, or a number")
    text = str(value).strip()
    duration = _DURATION.fullmatch(text.upper())
    parts = {
        unit: float(amount) for unit, amount in (duration.groupdict() if duration else {}).items() if amount
    }
    if parts:
        return Lookback(text, timedelta(**parts))
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 duration in weeks, days, hours, minutes or seconds"
            " (PT1H, P2D, PT30M) nor a number"
        ) from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{text!r} must be a finite number, at least 0")
    return Lookback(text, number)


LookbackSetting = Annotated[
    Lookback | None,
    PlainValidator(parse_lookback),
    WithJsonSchema({"type": "string", "examples": ["PT1H", "P1D", "1000"]}),
]


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
    lookback_window: LookbackSetting = Field(
        None,
        title="Lookback window",
        description="Re-read rows this far below the stored cursor, for rows that arrive late: an ISO 8601"
        " duration (PT1H, P1D) for a date or time cursor, a number for a numeric one. Overrides the"
        " default lookback window.",
    )
    change_detection: Literal["cursor", "diff"] = Field(
        "cursor",
        title="Change detection",
        description="cursor: incremental syncs read the rows whose cursor_field grew. diff: for models"
        " without a trustworthy cursor (aggregates, views stamping CURRENT_TIMESTAMP()); each sync"
        " compares the model with the last confirmed snapshot, inside the warehouse, and sends added,"
        " updated and deleted rows. diff needs a primary_key and no cursor_field.",
    )

    @model_validator(mode="after")
    def _sql_or_relation(self) -> ModelConfig:
        if (self.sql is None) == (self.relation is None):
            raise ValueError(f"model {self.name!r}: set exactly one of sql or relation")
        if self.relation is not None:
            relation_parts(self.relation)
        if self.change_detection == "diff":
            if not self.primary_key:
                raise ValueError(f"model {self.name!r}: change_detection diff needs a primary_key")
            if self.cursor_field is not None or self.lookback_window is not None:
                raise ValueError(
                    f"model {self.name!r}: change_detection diff compares whole rows; remove cursor_field"
                    " and lookback_window"
                )
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
    lookback_window: LookbackSetting = Field(
        None,
        title="Default lookback window",
        description="Re-read rows this far below the stored cursor in every incremental stream whose cursor"
        " it fits: an ISO 8601 duration (PT1H, P1D) applies to date and time cursors, a number to numeric"
        " ones. Models can set their own.",
    )

    @model_validator(mode="after")
    def _streams_declared(self) -> SourceConfig:
        if not self.schemas and not self.models:
            raise ValueError("configure at least one schema or model")
        names = [model.name for model in self.models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique: {', '.join(duplicates)}")
        if any(model.change_detection == "diff" for model in self.models):
            _check_bookkeeping(self.warehouse)
        return self

    def lookback_for(self, namespace: str | None, name: str) -> tuple[Lookback | None, bool]:
        """The stream's lookback window, and whether its own model set it (rather than the default)."""
        if namespace is None:
            for model in self.models:
                if model.name == name and model.lookback_window is not None:
                    return model.lookback_window, True
        return self.lookback_window, False


def _check_bookkeeping(warehouse: DuckDBWarehouse | SnowflakeWarehouse) -> None:
    """Diff models need a writable place for their snapshots, apart from the models."""
    if isinstance(warehouse, SnowflakeWarehouse):
        if warehouse.bookkeeping_schema is None:
            raise ValueError(
                "models with change_detection diff need warehouse.bookkeeping_schema: a schema where the"
                " role may create tables (see the README's grants)"
            )
        parts = relation_parts(warehouse.bookkeeping_schema)
        if len(parts) > 2:
            raise ValueError("warehouse.bookkeeping_schema must be schema or database.schema")
        return
    bookkeeping = warehouse.bookkeeping_file
    if bookkeeping is None or str(bookkeeping) == ":memory:":
        raise ValueError(
            "models with change_detection diff need warehouse.bookkeeping_path, a DuckDB file that keeps"
            " their snapshots between syncs"
        )
    if warehouse.path != ":memory:" and bookkeeping.resolve() == Path(warehouse.path).resolve():
        raise ValueError("warehouse.bookkeeping_path must be another file than the warehouse")


def parse_config(raw: Any) -> SourceConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"The config must be a JSON object with a warehouse and its streams, not {json_kind(raw)}"
        )
    return retl_spec.parse_config(SourceConfig, raw)


def json_kind(value: Any) -> str:
    """What a JSON value is, for messages that must not show it (it may hold a secret)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


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
