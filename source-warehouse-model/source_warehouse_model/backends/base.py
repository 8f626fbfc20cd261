"""The small interface every warehouse backend implements.

Stream logic (query building, cursors, state) talks to warehouses only through ``Backend``, so
adding Snowflake or Postgres means one new module here and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    import pyarrow


class Kind(StrEnum):
    """Backend-neutral column kinds: they decide the JSON schema and how values are written.

    Each backend maps its native types onto these and returns values of the Python type noted
    (or, via ``Backend.output_sql``, text that keeps what the Python type would lose).
    """

    BOOLEAN = "boolean"  # bool
    INTEGER = "integer"  # int within 64 bits
    BIG_INTEGER = "big_integer"  # int (or digit text) that may exceed 64 bits
    NUMBER = "number"  # float
    DECIMAL = "decimal"  # Decimal
    STRING = "string"  # str
    DATE = "date"  # date
    TIME = "time"  # time without tzinfo
    TIME_TZ = "time_tz"  # time with tzinfo, or text
    TIMESTAMP = "timestamp"  # naive datetime, or ISO 8601 text when finer than microseconds
    TIMESTAMP_TZ = "timestamp_tz"  # datetime in UTC, or ISO 8601 text with its offset
    JSON = "json"  # JSON text of an object or array
    VARIANT = "variant"  # JSON text of any JSON value, scalars included (Snowflake VARIANT)
    OBJECT = "object"  # dict (values may be any of these Python types), or its JSON text
    ARRAY = "array"  # list or tuple, or its JSON text
    BINARY = "binary"  # bytes


@dataclass(frozen=True)
class TextValue:
    """A column's value as text in a query's result, and what turns that text back into the value."""

    sql: str
    decode: Callable[[str], Any]


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str


@dataclass(frozen=True)
class Column:
    name: str
    native_type: str
    kind: Kind


class Backend(ABC):
    """A connection to one warehouse; use as a context manager so it is always closed."""

    placeholder: ClassVar[str]  # bound-parameter marker in the backend's SQL ("?", "%s")

    @abstractmethod
    def relations(self, schemas: Sequence[str]) -> list[Relation]:
        """Tables and views in these schemas."""

    @abstractmethod
    def describe(self, query: str) -> list[Column]:
        """Columns a SELECT returns, without running it."""

    def estimate_rows(self, query: str, params: Sequence[Any]) -> int | None:
        """How many rows the query returns, for the ESTIMATE trace.

        An exact COUNT: DuckDB counts a local file quickly; Snowflake answers it from metadata for
        a plain table and prunes by the cursor predicate for incremental reads, so only a full
        refresh of a view pays for its query twice.
        """
        count: int = self.fetch_one(f"SELECT COUNT(*) FROM ({query}) AS counted", params)[0]
        return count

    @abstractmethod
    def batches(
        self, query: str, params: Sequence[Any], size: int
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        """Run the query with bound parameters and yield its rows, at most ``size`` at a time."""

    @abstractmethod
    def close(self) -> None: ...

    # Records written by the warehouse: a backend that can write each row's record data as JSON text
    # itself spares Python a dict per row and its serialisation, most of a read's cost.

    def record_sql(self, columns: Sequence[Column], sources: Sequence[str]) -> str | None:
        """SQL for a row's record data as JSON text, byte for byte what ``values.record_builder`` and
        orjson write for the row ``batches`` returns; ``sources`` are the columns' value expressions.

        None (the default) when the backend cannot, for some column: the rows are converted in Python.
        """
        return None

    def text_value(self, column: Column, source: str) -> TextValue:
        """The column's value as text that decodes to exactly the value ``batches`` returns, for a
        query built with ``record_sql``: the cursor and keys a read keeps in its state."""
        raise NotImplementedError

    def arrow_batches(self, query: str, params: Sequence[Any], size: int) -> Iterator[pyarrow.RecordBatch]:
        """Run the query with bound parameters and yield its rows as Arrow batches of about ``size``."""
        raise NotImplementedError

    def output_sql(self, column: Column, expression: str) -> str:
        """Wrap a value expression of this column's type so Python receives it without loss."""
        return expression

    def cursor_param(self, column: Column) -> str:
        """A bound cursor value cast to the column's type, so the comparison happens in that type.

        The state may hold a cursor as text (to keep nanoseconds or an offset): without the cast, the
        warehouse could compare it as text, or guess its type.
        """
        return f"CAST({self.placeholder} AS {column.native_type})"

    def minus_sql(self, expression: str, amount: timedelta | Decimal) -> str:
        """``expression`` (a date, time or number) moved back by a lookback window."""
        if isinstance(amount, Decimal):
            return f"{expression} - {amount:f}"
        return f"{expression} - INTERVAL '{amount // timedelta(microseconds=1)} microseconds'"

    # Bookkeeping: a place apart from the models, writable by the connector, where change detection
    # by diff keeps its snapshots (source_warehouse_model.diff).

    @abstractmethod
    def bookkeeping_schema(self) -> str:
        """The schema holding the snapshots, as SQL to qualify a table name with.

        Raises ConfigError, saying what to configure or grant, when it cannot be used.
        """

    @abstractmethod
    def bookkeeping_tables(self) -> list[str]:
        """Names of the tables in the bookkeeping schema."""

    @abstractmethod
    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        """Run a statement whose result is not needed (DDL, DELETE)."""

    @abstractmethod
    def fingerprint_sql(self, expressions: Sequence[str]) -> str:
        """A value that changes whenever any of the expressions' values changes, and only then."""

    def create_table_sql(self, table: str, query: str) -> str:
        return f"CREATE TABLE {table} AS {query}"

    def check_bookkeeping(self) -> None:
        """Prove the snapshots can be written: create and drop a probe table."""
        table = f"{self.bookkeeping_schema()}.{self.quote('RETL_CHECK_PROBE')}"
        with self.writing_bookkeeping():
            self.execute(f"DROP TABLE IF EXISTS {table}")
            self.execute(self.create_table_sql(table, "SELECT 1 AS probe"))
            self.execute(f"DROP TABLE {table}")

    @contextmanager
    def writing_bookkeeping(self) -> Iterator[None]:
        """Raise what the user can fix (a missing schema or grant) as a ConfigError that says how."""
        try:
            yield
        except Exception as exc:
            error = self.bookkeeping_error(exc)
            if error is exc:
                raise
            raise error from exc

    def bookkeeping_error(self, exc: Exception) -> Exception:
        """``exc`` as the user should see it; backends turn the errors they recognise into ConfigErrors."""
        return exc

    def quote(self, identifier: str) -> str:
        """Quote an identifier exactly as written (mixed case, spaces, embedded quotes)."""
        return '"' + identifier.replace('"', '""') + '"'

    def fetch_one(self, query: str, params: Sequence[Any]) -> tuple[Any, ...]:
        """The single row of an aggregate query."""
        with closing(self.batches(query, params, 1)) as batches:
            return next(batches)[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
