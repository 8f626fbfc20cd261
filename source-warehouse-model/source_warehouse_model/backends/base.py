"""The small interface every warehouse backend implements.

Stream logic (query building, cursors, state) talks to warehouses only through ``Backend``, so
adding Snowflake or Postgres means one new module here and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Self


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
    TIMESTAMP_TZ = "timestamp_tz"  # datetime in UTC
    JSON = "json"  # JSON text
    OBJECT = "object"  # dict (values may be any of these Python types)
    ARRAY = "array"  # list or tuple
    BINARY = "binary"  # bytes


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

    @abstractmethod
    def estimate_rows(self, query: str, params: Sequence[Any]) -> int | None:
        """Roughly how many rows the query returns (None when unknown); feeds the ESTIMATE trace."""

    @abstractmethod
    def batches(
        self, query: str, params: Sequence[Any], size: int
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        """Run the query with bound parameters and yield its rows, at most ``size`` at a time."""

    @abstractmethod
    def close(self) -> None: ...

    def output_sql(self, column: Column, expression: str) -> str:
        """Wrap a value expression of this column's type so Python receives it without loss."""
        return expression

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
