"""Snowflake backend: ``snowflake-connector-python`` with server-side binding and Arrow fetches.

Parameters use ``qmark`` style, bound by the server, so a literal ``%`` or ``?`` inside model SQL
stays text. Results arrive as Arrow batches, converted to rows a batch at a time, so memory stays
flat. Sessions run in UTC and carry a QUERY_TAG naming the connector.

Timestamps and times are read as text with all nine fractional digits (and TIMESTAMP_TZ's own
offset), which Python's datetime and Arrow's nanosecond timestamps (years 1677-2262 only) would
lose; the state keeps that text, and the cursor parameter casts it back to the column's type.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from contextlib import closing
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from snowflake.connector.constants import FIELD_ID_TO_NAME
from snowflake.connector.errors import DatabaseError, NotSupportedError, ProgrammingError

from source_warehouse_model.backends.base import Backend, Column, Kind, Relation
from source_warehouse_model.config import (
    ConfigError,
    KeyPairCredentials,
    PasswordCredentials,
    SnowflakeWarehouse,
    relation_parts,
)
from source_warehouse_model.errors import sync_error

QUERY_TAG = "airbyte:source-warehouse-model"
SESSION_PARAMETERS = {
    # TIMESTAMP_LTZ values, and comparisons between timestamp types, in UTC whatever the account says.
    "TIMEZONE": "UTC",
    # Lets admins find (and cost) this connector's queries in QUERY_HISTORY.
    "QUERY_TAG": QUERY_TAG,
    # Cursor text is cast back to its type: pin the input formats an account may have changed.
    "TIMESTAMP_INPUT_FORMAT": "AUTO",
    "TIME_INPUT_FORMAT": "AUTO",
}

_KINDS = {
    "REAL": Kind.NUMBER,
    "TEXT": Kind.STRING,
    "BOOLEAN": Kind.BOOLEAN,
    "DATE": Kind.DATE,
    "TIME": Kind.TIME,
    "TIMESTAMP_NTZ": Kind.TIMESTAMP,
    "TIMESTAMP_LTZ": Kind.TIMESTAMP_TZ,
    "TIMESTAMP_TZ": Kind.TIMESTAMP_TZ,
    "BINARY": Kind.BINARY,
    "VARIANT": Kind.VARIANT,
    "OBJECT": Kind.OBJECT,
    "ARRAY": Kind.ARRAY,
    "VECTOR": Kind.ARRAY,
}
_TEXT_FORMATS = {
    "TIME": "HH24:MI:SS.FF9",
    "TIMESTAMP_NTZ": 'YYYY-MM-DD"T"HH24:MI:SS.FF9',
    "TIMESTAMP_LTZ": 'YYYY-MM-DD"T"HH24:MI:SS.FF9TZH:TZM',
    "TIMESTAMP_TZ": 'YYYY-MM-DD"T"HH24:MI:SS.FF9TZH:TZM',
}
# Error codes of a login refused for its credentials; the connector also gives them SQLSTATE 28000.
_BAD_CREDENTIALS = {390100, 390101, 390102, 390144}
_ROLE_NOT_GRANTED = 390189
_LOGIN_OBJECT_MISSING = 390201  # the connect string's database or warehouse
_OBJECT_MISSING = 2003  # "Object 'X' does not exist or not authorized."
_NOT_PRIVILEGED = 3001  # "SQL access control error: Insufficient privileges to operate on schema 'X'"
_MISSING = re.compile(r"(Object|Schema|Database) '((?:[^']|'')+)' does not exist or not authorized")


def column(name: str, type_code: int, precision: int | None, scale: int | None) -> Column:
    """A described column; NUMBER(p, 0) is an integer, beyond 18 digits one that can exceed 64 bits."""
    type_name = FIELD_ID_TO_NAME.get(type_code, "")  # "" for a type code this driver does not know
    if type_name == "FIXED":
        precision = precision or 38
        if scale:
            return Column(name, f"NUMBER({precision},{scale})", Kind.DECIMAL)
        return Column(name, f"NUMBER({precision},0)", Kind.INTEGER if precision <= 18 else Kind.BIG_INTEGER)
    if type_name in _TEXT_FORMATS:
        return Column(name, f"{type_name}({9 if scale is None else scale})", _KINDS[type_name])
    native = {"TEXT": "VARCHAR", "REAL": "FLOAT"}.get(type_name, type_name or f"TYPE {type_code}")
    # Types without a kind (GEOGRAPHY, INTERVAL, types newer than the driver) are read as text.
    return Column(name, native, _KINDS.get(type_name, Kind.STRING))


class SnowflakeBackend(Backend):
    placeholder: ClassVar[str] = "?"

    def __init__(self, config: SnowflakeWarehouse, login_seconds: float | None = None) -> None:
        """Log in; ``login_seconds`` bounds the login, retries included (the driver's default is 120 s)."""
        self._config = config
        arguments = connect_arguments(config)
        if login_seconds is not None:
            arguments["login_timeout"] = login_seconds
        try:
            self._connection = snowflake.connector.connect(**arguments)
        except Exception as exc:
            refused = _login_error(config, exc) if isinstance(exc, DatabaseError) else None
            raise refused or sync_error(exc, f"connecting to Snowflake at {_address(config)}") from exc

    def relations(self, schemas: Sequence[str]) -> list[Relation]:
        if not schemas:
            return []
        markers = ", ".join("UPPER(?)" for _ in schemas)
        query = (
            "SELECT table_schema, table_name FROM information_schema.tables"
            f" WHERE table_catalog = CURRENT_DATABASE() AND UPPER(table_schema) IN ({markers})"
            " ORDER BY table_schema, table_name"
        )
        return [
            Relation(schema, name) for rows in self.batches(query, schemas, 10_000) for schema, name in rows
        ]

    def describe(self, query: str) -> list[Column]:
        with closing(self._connection.cursor()) as cursor:
            try:
                described = cursor.describe(query) or []
            except ProgrammingError as exc:
                if exc.errno == _OBJECT_MISSING:
                    raise ConfigError(self.access_hint(exc.raw_msg or str(exc))) from exc
                raise
        return [column(item.name, item.type_code, item.precision, item.scale) for item in described]

    def batches(
        self, query: str, params: Sequence[Any], size: int
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        with closing(self._connection.cursor()) as cursor:
            cursor.execute(query, _bindable(params))
            try:
                tables = cursor.fetch_arrow_batches()
            except NotSupportedError:
                # A JSON result, which Snowflake sends for some statements (and fakesnow for DML).
                while rows := cursor.fetchmany(size):
                    yield rows  # tuples: the cursor is not a DictCursor
                return
            for table in tables:
                for batch in table.to_batches(max_chunksize=size):
                    if batch.num_rows:
                        # Column-wise conversion is far faster than per-row; one batch in memory at a time.
                        yield list(zip(*(values.to_pylist() for values in batch.columns), strict=True))

    def output_sql(self, column: Column, expression: str) -> str:
        text_format = _TEXT_FORMATS.get(column.native_type.split("(")[0])
        if text_format is not None:
            return f"TO_VARCHAR({expression}, '{text_format}')"
        if column.kind is Kind.STRING and column.native_type != "VARCHAR":
            return f"TO_VARCHAR({expression})"
        return expression

    def minus_sql(self, expression: str, amount: timedelta | Decimal) -> str:
        # DATEADD is defined for DATE as well (the result becomes a timestamp), interval arithmetic is not.
        if isinstance(amount, timedelta):
            return f"DATEADD(MICROSECOND, {-(amount // timedelta(microseconds=1))}, {expression})"
        return super().minus_sql(expression, amount)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with closing(self._connection.cursor()) as cursor:
            cursor.execute(statement, _bindable(params))

    def bookkeeping_schema(self) -> str:
        return ".".join(self.quote(name) if quoted else name for name, quoted in self._bookkeeping_parts())

    def bookkeeping_tables(self) -> list[str]:
        parts = self._bookkeeping_parts()
        (schema, quoted), database = parts[-1], parts[:-1]
        catalog = "".join(f"{self.quote(name) if quoted else name}." for name, quoted in database)
        query = f"SELECT table_name FROM {catalog}information_schema.tables WHERE table_schema = ?"
        # Unquoted names are stored upper-cased; the role sees only tables it has privileges on.
        return [
            name
            for rows in self.batches(query, [schema if quoted else schema.upper()], 10_000)
            for (name,) in rows
        ]

    def _bookkeeping_parts(self) -> list[tuple[str, bool]]:
        if self._config.bookkeeping_schema is None:
            raise ConfigError("set warehouse.bookkeeping_schema: models with change_detection diff need it")
        return relation_parts(self._config.bookkeeping_schema)

    def create_table_sql(self, table: str, query: str) -> str:
        # Transient: snapshots are rebuilt every sync, so they need no Fail-safe storage (and its cost).
        return f"CREATE TRANSIENT TABLE {table} AS {query}"

    def fingerprint_sql(self, expressions: Sequence[str]) -> str:
        # HASH is documented deterministic, takes every type, NULLs included, and hashes NUMBERs that
        # compare equal alike whatever their scale, and TIMESTAMP_TZs by their instant. TO_JSON would be
        # no basis: the order of an object's keys in its text "is not predictable" (Snowflake's docs).
        return f"HASH({', '.join(expressions)})"

    def bookkeeping_error(self, exc: Exception) -> Exception:
        if not isinstance(exc, ProgrammingError) or exc.errno not in (_OBJECT_MISSING, _NOT_PRIVILEGED):
            return exc
        role, parts = self._config.role, self._bookkeeping_parts()
        names = [self.quote(name) if quoted else name for name, quoted in parts]
        schema = ".".join(names if len(names) == 2 else [self._config.database, *names])
        database = schema.rsplit(".", 1)[0]
        return ConfigError(
            f"role {role} cannot create tables in the bookkeeping schema {schema}"
            f" ({exc.raw_msg or exc}). Create it if needed and grant: GRANT USAGE ON DATABASE {database}"
            f" TO ROLE {role}; GRANT USAGE, CREATE TABLE ON SCHEMA {schema} TO ROLE {role}"
        )

    def access_hint(self, message: str) -> str:
        """What a "does not exist or not authorized" error means, with the grants that fix it.

        Snowflake does not say which: without privileges on it, an object is invisible to the role.
        """
        role, database = self._config.role, self._config.database
        match = _MISSING.search(message)
        try:
            parts = relation_parts(match.group(2)) if match else []
        except ValueError:
            parts = []
        if match is None or not parts:
            return (
                f"a relation the query reads does not exist, or role {role} may not read it ({message})."
                f" If it exists, grant: GRANT USAGE ON DATABASE <database> TO ROLE {role};"
                f" GRANT USAGE ON SCHEMA <database>.<schema> TO ROLE {role};"
                f" GRANT SELECT ON VIEW <database>.<schema>.<name> TO ROLE {role} (ON TABLE for a table)"
            )
        kind = match.group(1)
        names = [self.quote(name) if quoted else name for name, quoted in parts]
        # Qualify the name; an unqualified object resolves in PUBLIC, as the session sets no schema.
        defaults = {"Database": [], "Schema": [database], "Object": [database, "PUBLIC"]}[kind]
        names = defaults[: len(defaults) + 1 - len(names)] + names
        grants = [f"GRANT USAGE ON DATABASE {names[0]} TO ROLE {role}"]
        if len(names) > 1:
            grants.append(f"GRANT USAGE ON SCHEMA {'.'.join(names[:2])} TO ROLE {role}")
        if len(names) > 2:
            grants.append(f"GRANT SELECT ON VIEW {'.'.join(names)} TO ROLE {role} (ON TABLE for a table)")
        return (
            f"{kind.lower()} {'.'.join(names)} does not exist, or role {role} may not read it."
            f" If it exists, grant: {'; '.join(grants)}"
        )

    def close(self) -> None:
        self._connection.close()


def _bindable(params: Sequence[Any]) -> list[Any]:
    """A Decimal binds as text, which the cursor parameter's CAST turns into the exact NUMBER(p, s):
    the driver would send it as FIXED, which fakesnow reads as an integer only."""
    return [str(value) if isinstance(value, Decimal) else value for value in params]


def connect_arguments(config: SnowflakeWarehouse) -> dict[str, Any]:
    """``snowflake.connector.connect`` keyword arguments for the config."""
    arguments: dict[str, Any] = {
        "account": config.account,
        "user": config.user,
        "role": config.role,
        "warehouse": config.warehouse,
        "database": config.database,
        "paramstyle": "qmark",
        # Without it, Arrow results turn NUMBER(p, s>0) into float64 and lose digits.
        "arrow_number_to_decimal": True,
        "session_parameters": dict(SESSION_PARAMETERS),
        # The driver otherwise probes cloud metadata endpoints at each login, for its telemetry.
        "platform_detection_timeout_seconds": 0.0,
    }
    if config.host is not None:
        arguments["host"] = config.host
    if config.port is not None:
        arguments["port"] = config.port
    arguments["protocol"] = config.protocol
    credentials = config.credentials
    if isinstance(credentials, PasswordCredentials):
        arguments["password"] = credentials.password
    elif isinstance(credentials, KeyPairCredentials):
        arguments["authenticator"] = "SNOWFLAKE_JWT"
        arguments["private_key"] = _private_key_der(credentials)
    else:
        arguments["authenticator"] = "PROGRAMMATIC_ACCESS_TOKEN"
        arguments["token"] = credentials.token
    return arguments


def _private_key_der(credentials: KeyPairCredentials) -> bytes:
    """The PEM key (decrypted with its passphrase) as unencrypted PKCS#8 DER, which the driver takes."""
    passphrase = credentials.private_key_passphrase
    try:
        key = serialization.load_pem_private_key(
            credentials.private_key.strip().encode(), password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"the Snowflake private key cannot be loaded ({exc}); paste the whole PEM key, with its"
            " BEGIN and END lines, and the passphrase if (and only if) the key is encrypted"
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _address(config: SnowflakeWarehouse) -> str:
    host = config.host or f"{config.account}.snowflakecomputing.com"
    return f"{config.protocol}://{host}:{config.port or 443}"


def _login_error(config: SnowflakeWarehouse, exc: DatabaseError) -> ConfigError | None:
    """A ConfigError the user can act on when the login was refused for a reason in the config."""
    who, reason = f"user {config.user} on account {config.account}", exc.raw_msg or str(exc)
    if exc.sqlstate == "28000" or exc.errno in _BAD_CREDENTIALS:
        advice = {
            "password": "the password",
            "key_pair": f"that the user's public key matches the private key (ALTER USER {config.user}"
            " SET RSA_PUBLIC_KEY = '...')",
            "pat": "that the token was generated for this user and has not expired or been revoked",
        }[config.credentials.auth_type]
        return ConfigError(
            f"Snowflake rejected the credentials of {who}: {reason} Check the user and {advice}."
        )
    if exc.errno == _ROLE_NOT_GRANTED:
        return ConfigError(
            f"role {config.role} is not granted to {who}: {reason} Grant it: GRANT ROLE {config.role}"
            f" TO USER {config.user}"
        )
    if exc.errno == _LOGIN_OBJECT_MISSING:
        return ConfigError(
            f"Snowflake refused the database {config.database} or the warehouse {config.warehouse} for {who}:"
            f" {reason} If they exist, grant: GRANT USAGE ON DATABASE {config.database} TO ROLE"
            f" {config.role}; GRANT USAGE ON WAREHOUSE {config.warehouse} TO ROLE {config.role}"
        )
    return None
