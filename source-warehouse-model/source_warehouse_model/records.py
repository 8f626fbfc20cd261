"""Rows to RECORD messages, a fetch batch at a time: shared by every way of reading a stream.

Where the backend can write each row's record data as JSON itself (``Backend.record_sql``), a chunk's
RECORD lines are built column-wise from the Arrow result and handed on as one pre-serialised block:
no Python object per row. Otherwise each row becomes a dict, converted by ``values.record_builder``.
Both write the same bytes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson

from retl_shared.protocol import record_message
from source_warehouse_model.backends.base import Backend, Column, TextValue
from source_warehouse_model.messages import MessageBuffer
from source_warehouse_model.streams import StreamDef
from source_warehouse_model.values import Row, record_builder

if TYPE_CHECKING:
    import pyarrow  # imported by the backend that returns Arrow: a slow import that others need not pay

FETCH_ROWS = 10_000  # rows per fetch and per write: memory stays flat whatever the stream's size
PROGRESS_SECONDS = 10.0  # a long read logs its count and rate this often, so a sync visibly lives


def estimate(backend: Backend, stream: StreamDef, query: str, params: list[Any], out: MessageBuffer) -> None:
    rows = backend.estimate_rows(query, params)
    if rows is not None:
        out.estimate_trace(stream.name, stream.namespace, rows)


def select_list(backend: Backend, columns: list[Column], sources: Sequence[str] | None = None) -> str:
    """The columns, each read without loss (``output_sql``) from its source expression (default: itself)."""
    selected = []
    for index, column in enumerate(columns):
        name = backend.quote(column.name)
        expression = backend.output_sql(column, name if sources is None else sources[index])
        selected.append(name if expression == name else f"{expression} AS {name}")
    return ", ".join(selected)


class Chunk(Protocol):
    """The rows of one chunk of records, as far as the readers need them."""

    def __len__(self) -> int: ...

    def last(self, index: int) -> Any:
        """The value of column ``index`` (a tracked column) in the chunk's last row."""

    def counts(self, index: int) -> Counter[Any]:
        """How many of the chunk's rows hold each value of column ``index`` (a tracked column)."""


class _Chunk(Chunk, Protocol):
    def write(self, stream: StreamDef, out: MessageBuffer) -> None:
        """Write the chunk's RECORD messages."""


@dataclass(frozen=True)
class RecordQuery:
    """The rows to send as records: ``SELECT <columns> <source> [ORDER BY <order>]``."""

    columns: list[Column]
    source: str  # the query from FROM onwards (an ORDER BY of raw expressions may end it)
    params: list[Any] = field(default_factory=list)
    sources: Sequence[str] | None = None  # the columns' value expressions; default: the columns
    order: Sequence[int] = ()  # indexes of the columns to order by, by their values as read
    tracked: Sequence[int] = ()  # indexes of the columns whose values the caller reads from chunks


def record_chunks(
    backend: Backend,
    stream: StreamDef,
    query: RecordQuery,
    every: int,
    out: MessageBuffer,
    running: bool = True,
) -> Iterator[Chunk]:
    """Write a record per row of the query, yielding after each chunk; a chunk also ends after every
    `every`th row. The backend writes the records where it can and ``out`` takes them so, else they
    are built in Python.

    The first chunk is preceded by the RUNNING status, unless ``running`` is False (already sent).
    """
    columns, params = query.columns, query.params
    sources = query.sources or [backend.quote(column.name) for column in columns]
    data = backend.record_sql(columns, sources) if out.record_lines else None
    chunks: Iterator[_Chunk]
    if data is None:
        # The select list names each value as read after its column, and ORDER BY binds those names.
        order = ", ".join(backend.quote(columns[index].name) for index in query.order)
        sql = f"SELECT {select_list(backend, columns, sources)} {query.source}{_order_by(order)}"
        build = record_builder(columns)
        batches = _chunks(backend.batches(sql, params, FETCH_ROWS), every, _cut_rows)
        chunks = (_Rows(rows, build) for rows in batches)
    else:
        texts = {index: backend.text_value(columns[index], sources[index]) for index in query.tracked}
        order = ", ".join(backend.output_sql(columns[index], sources[index]) for index in query.order)
        # Each row's data ends with a line break (the text has none), to be replaced by the envelope.
        selected = ", ".join([f"{data} || chr(10)", *(text.sql for text in texts.values())])
        sql = f"SELECT {selected} {query.source}{_order_by(order)}"
        arrow = _chunks(backend.arrow_batches(sql, params, FETCH_ROWS), every, _cut_batch)
        chunks = (_Texts(batch, texts) for batch in arrow)
    started = last_log = time.monotonic()
    rows = 0
    for number, chunk in enumerate(chunks):
        if number == 0 and running:
            out.stream_status(stream.name, stream.namespace, "RUNNING")
        chunk.write(stream, out)
        rows += len(chunk)
        now = time.monotonic()
        if now - last_log >= PROGRESS_SECONDS:
            out.log(f"stream {stream.label}: {rows} rows read, {rows / (now - started):.0f} rows/s")
            last_log = now
        yield chunk


def _order_by(expressions: str) -> str:
    return f" ORDER BY {expressions}" if expressions else ""


class _Rows:
    """A chunk of rows as Python values."""

    def __init__(self, rows: list[Row], build: Callable[[Row], dict[str, Any]]) -> None:
        self._rows, self._build = rows, build

    def write(self, stream: StreamDef, out: MessageBuffer) -> None:
        build = self._build
        out.write_many(record_message(stream.name, build(row), stream.namespace) for row in self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def last(self, index: int) -> Any:
        return self._rows[-1][index]

    def counts(self, index: int) -> Counter[Any]:
        return Counter(row[index] for row in self._rows)


class _Texts:
    """A chunk of rows as an Arrow batch: the record data's JSON text, then the tracked columns' text."""

    def __init__(self, batch: pyarrow.RecordBatch, texts: dict[int, TextValue]) -> None:
        self.batch = batch
        self._texts = {index: (at, text.decode) for at, (index, text) in enumerate(texts.items(), 1)}

    def write(self, stream: StreamDef, out: MessageBuffer) -> None:
        out.write_lines(_record_lines(stream, self.batch.column(0)))

    def __len__(self) -> int:
        return int(self.batch.num_rows)

    def last(self, index: int) -> Any:
        position, decode = self._texts[index]
        text = self.batch.column(position)[-1].as_py()
        return None if text is None else decode(text)

    def counts(self, index: int) -> Counter[Any]:
        position, decode = self._texts[index]
        return Counter(
            None if text is None else decode(text) for text in self.batch.column(position).to_pylist()
        )


def _record_lines(stream: StreamDef, data: pyarrow.Array) -> orjson.Fragment:
    """The chunk's RECORD messages, one per line: each row's data in the envelope ``record_message`` builds.

    ``data`` holds each row's data followed by a line break, contiguous in its buffer: replacing the
    line breaks wraps every row at once.
    """
    # The names are escaped in the envelope, so its first "data":{} is where the data goes.
    envelope = orjson.dumps(record_message(stream.name, {}, stream.namespace))
    before, data_key, after = envelope.partition(b'"data":{}')
    before += data_key[:-2]
    if str(data.type) not in ("string", "large_string"):  # e.g. string_view: no contiguous buffer
        data = data.cast("large_string")
    offsets = memoryview(data.buffers()[1]).cast("q" if str(data.type) == "large_string" else "i")
    start, end = offsets[data.offset], offsets[data.offset + len(data)]
    rows = bytes(memoryview(data.buffers()[2])[start : end - 1])
    # The last line's newline is the writer's, as for every message.
    return orjson.Fragment(b"".join((before, rows.replace(b"\n", after + b"\n" + before), after)))


_Batch = TypeVar("_Batch", bound=Sized)


def _cut_rows(rows: list[Row], start: int, end: int) -> list[Row]:
    return rows[start:end]


def _cut_batch(batch: pyarrow.RecordBatch, start: int, end: int) -> pyarrow.RecordBatch:
    return batch.slice(start, end - start)


def _chunks(
    batches: Iterable[_Batch], every: int, cut: Callable[[_Batch, int, int], _Batch]
) -> Iterator[_Batch]:
    count = 0
    for rows in batches:
        size, start = len(rows), 0
        while start < size:
            end = min(size, start + every - count % every)
            yield cut(rows, start, end)
            count += end - start
            start = end
