"""DuckDB backend: a database file opened read-only, results fetched with ``fetchmany``."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from source_warehouse_model.backends.base import Backend, Column, Kind, Relation
from source_warehouse_model.config import ConfigError, DuckDBWarehouse

_KINDS = {
    "BOOLEAN": Kind.BOOLEAN,
    **dict.fromkeys(
        ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"),
        Kind.INTEGER,
    ),
    **dict.fromkeys(("HUGEINT", "UHUGEINT"), Kind.BIG_INTEGER),
    **dict.fromkeys(("FLOAT", "DOUBLE"), Kind.NUMBER),
    "VARCHAR": Kind.STRING,
    "DATE": Kind.DATE,
    "TIME": Kind.TIME,
    **dict.fromkeys(("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"), Kind.TIMESTAMP),
    "TIMESTAMP WITH TIME ZONE": Kind.TIMESTAMP_TZ,
    "TIME WITH TIME ZONE": Kind.TIME_TZ,
    "JSON": Kind.JSON,
    "BLOB": Kind.BINARY,
}
# Python would truncate nanoseconds to microseconds: fetch ISO 8601 text, which also binds back losslessly.
_NANOSECOND_TEXT = "strftime({}, '%Y-%m-%dT%H:%M:%S.%n')"
# Python's form of these is lossy (INTERVAL months), not JSON-serialisable (TIMETZ) or absent (BIT, UNION).
_AS_TEXT = "CAST({} AS VARCHAR)"


def column(name: str, native_type: str) -> Column:
    if native_type.endswith("]"):
        return Column(name, native_type, Kind.ARRAY)
    if native_type.startswith(("STRUCT", "MAP")):
        return Column(name, native_type, Kind.OBJECT)
    if native_type.startswith("DECIMAL"):
        return Column(name, native_type, Kind.DECIMAL)
    return Column(name, native_type, _KINDS.get(native_type, Kind.STRING))


class DuckDBBackend(Backend):
    placeholder: ClassVar[str] = "?"

    def __init__(self, config: DuckDBWarehouse) -> None:
        in_memory = config.path == ":memory:"
        if not in_memory and not Path(config.path).is_file():
            raise ConfigError(f"DuckDB database file not found: {config.path}")
        self._connection = duckdb.connect(config.path, read_only=not in_memory)
        # TIMESTAMPTZ values come back in UTC, and naive cursor values compare as UTC.
        self._connection.execute("SET TimeZone = 'UTC'")

    def relations(self, schemas: Sequence[str]) -> list[Relation]:
        if not schemas:
            return []
        markers = ", ".join("lower(?)" for _ in schemas)
        query = (
            "SELECT table_schema, table_name FROM information_schema.tables"
            f" WHERE table_catalog = current_database() AND lower(table_schema) IN ({markers})"
            " ORDER BY table_schema, table_name"
        )
        return [
            Relation(schema, name)
            for schema, name in self._connection.cursor().execute(query, schemas).fetchall()
        ]

    def describe(self, query: str) -> list[Column]:
        rows = self._connection.cursor().execute(f"DESCRIBE {query}").fetchall()
        return [column(row[0], row[1]) for row in rows]

    def batches(
        self, query: str, params: Sequence[Any], size: int
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(query, list(params))
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def output_sql(self, column: Column, expression: str) -> str:
        if column.native_type == "TIMESTAMP_NS":
            return _NANOSECOND_TEXT.format(expression)
        if (column.kind is Kind.STRING and column.native_type != "VARCHAR") or column.kind is Kind.TIME_TZ:
            return _AS_TEXT.format(expression)
        return expression

    def close(self) -> None:
        self._connection.close()
