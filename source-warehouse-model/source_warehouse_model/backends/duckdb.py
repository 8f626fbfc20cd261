"""DuckDB backend: a database file opened read-only, results fetched with ``fetchmany``."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb

from source_warehouse_model.backends import duckdb_json
from source_warehouse_model.backends.base import Backend, Column, Kind, Relation, TextValue
from source_warehouse_model.config import ConfigError, DuckDBWarehouse
from source_warehouse_model.errors import about

if TYPE_CHECKING:
    import pyarrow  # DuckDB imports it when asked for Arrow, and only then

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
BOOKKEEPING = "retl_bookkeeping"  # the catalog name of the attached bookkeeping file
_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", BOOKKEEPING})
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
        self._config = config
        in_memory = config.path == ":memory:"
        if not in_memory and Path(config.path).is_dir():
            raise ConfigError(
                f"warehouse.path {config.path} is a directory; name the DuckDB database file in it"
            )
        if not in_memory and not Path(config.path).is_file():
            raise ConfigError(f"DuckDB database file not found: {config.path}; check warehouse.path")
        # The warehouse is attached read-only to an in-memory database, under the name DuckDB would
        # give it (model SQL may qualify names with it), and made the default. A connection opened
        # read-only could not attach the read-write bookkeeping file that diff models need.
        self._connection = duckdb.connect(":memory:")
        self._catalog: str | None = None
        self._bookkeeping: str | None = None
        try:
            with about(f"cannot open the DuckDB database {config.path} (warehouse.path)"):
                # TIMESTAMPTZ values come back in UTC, and naive cursor values compare as UTC. GLOBAL: a
                # plain SET would not reach the cursors that run the queries.
                self._connection.execute("SET GLOBAL TimeZone = 'UTC'")
                if not in_memory:
                    self._catalog = self.quote(_catalog_name(config.path))
                    self._connection.execute(f"ATTACH ? AS {self._catalog} (READ_ONLY)", [config.path])
        except BaseException:
            self._connection.close()
            raise

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor whose default database is the warehouse (USE is a per-cursor setting)."""
        cursor = self._connection.cursor()
        if self._catalog is not None:
            cursor.execute(f"USE {self._catalog}")
        return cursor

    def relations(self, schemas: Sequence[str]) -> list[Relation]:
        if not schemas:
            return []
        markers = ", ".join("lower(?)" for _ in schemas)
        query = (
            "SELECT table_schema, table_name FROM information_schema.tables"
            f" WHERE table_catalog = current_database() AND lower(table_schema) IN ({markers})"
            " ORDER BY table_schema, table_name"
        )
        return [Relation(schema, name) for schema, name in self._cursor().execute(query, schemas).fetchall()]

    def describe(self, query: str) -> list[Column]:
        rows = self._cursor().execute(f"DESCRIBE {query}").fetchall()
        return [column(row[0], row[1]) for row in rows]

    def batches(
        self, query: str, params: Sequence[Any], size: int
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        cursor = self._cursor()
        try:
            cursor.execute(query, list(params))
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def arrow_batches(self, query: str, params: Sequence[Any], size: int) -> Iterator[pyarrow.RecordBatch]:
        # A relation streams its result; the DB-API cursor's Arrow reader would copy it first.
        with (
            closing(self._cursor()) as cursor,
            closing(cursor.sql(query, params=list(params)).to_arrow_reader(size)) as reader,
        ):
            yield from reader

    def record_sql(self, columns: Sequence[Column], sources: Sequence[str]) -> str | None:
        values = [self.output_sql(column, source) for column, source in zip(columns, sources, strict=True)]
        return duckdb_json.record_sql(columns, values)

    def text_value(self, column: Column, source: str) -> TextValue:
        return TextValue(
            duckdb_json.text_sql(column, self.output_sql(column, source)), duckdb_json.decoder(column)
        )

    def output_sql(self, column: Column, expression: str) -> str:
        if column.native_type == "TIMESTAMP_NS":
            return _NANOSECOND_TEXT.format(expression)
        if (column.kind is Kind.STRING and column.native_type != "VARCHAR") or column.kind is Kind.TIME_TZ:
            return _AS_TEXT.format(expression)
        return expression

    def bookkeeping_schema(self) -> str:
        if self._bookkeeping is None:
            path = self._config.bookkeeping_file
            if path is None:
                raise ConfigError("set warehouse.bookkeeping_path: models with change_detection diff need it")
            try:
                self._cursor().execute(f"ATTACH ? AS {BOOKKEEPING}", [str(path)])
            except duckdb.Error as exc:
                raise ConfigError(
                    f"cannot open the bookkeeping database {path} for writing ({exc}); set"
                    " warehouse.bookkeeping_path to a file in a directory the connector may write"
                ) from None
            self._bookkeeping = f"{BOOKKEEPING}.main"
        return self._bookkeeping

    def bookkeeping_tables(self) -> list[str]:
        self.bookkeeping_schema()
        query = (
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_catalog = ? AND table_schema = 'main' AND table_type = 'BASE TABLE'"
        )
        with closing(self._cursor()) as cursor:
            return [name for (name,) in cursor.execute(query, [BOOKKEEPING]).fetchall()]

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with closing(self._cursor()) as cursor:
            cursor.execute(statement, list(params))

    def fingerprint_sql(self, expressions: Sequence[str]) -> str:
        # MD5 of the row's text: a standard function, so the value stays the same across DuckDB
        # releases (hash() does not promise that). The text of a STRUCT quotes and escapes its strings
        # where needed, so two different rows of one type never share a text; NULL is unquoted,
        # unlike the string 'NULL'; decimals keep their digits and scale, doubles their shortest
        # exact form, TIMESTAMPTZ shows the instant in UTC (the session's time zone), JSON its text.
        return f"md5_number(CAST(ROW({', '.join(expressions)}) AS VARCHAR))"

    def close(self) -> None:
        self._connection.close()


def _catalog_name(path: str) -> str:
    """The name DuckDB gives a database file it opens: the file name up to its first dot."""
    name = Path(path).name.split(".")[0]
    return name if name and name not in _RESERVED_CATALOGS else "warehouse"
