"""Rows to RECORD messages, a fetch batch at a time: shared by every way of reading a stream."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from retl_shared.protocol import record_message
from source_warehouse_model.backends.base import Backend, Column
from source_warehouse_model.messages import MessageBuffer
from source_warehouse_model.streams import StreamDef
from source_warehouse_model.values import Row, record_builder

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


def record_chunks(
    backend: Backend,
    stream: StreamDef,
    columns: list[Column],
    query: str,
    params: list[Any],
    every: int,
    out: MessageBuffer,
    running: bool = True,
) -> Iterator[list[Row]]:
    """Buffer a record per row, yielding after each chunk; a chunk also ends after every `every`th row.

    The first chunk is preceded by the RUNNING status, unless ``running`` is False (already sent).
    """
    build = record_builder(columns)
    started = last_log = time.monotonic()
    rows = 0
    for number, chunk in enumerate(_chunks(backend.batches(query, params, FETCH_ROWS), every)):
        if number == 0 and running:
            out.stream_status(stream.name, stream.namespace, "RUNNING")
        out.write_many(record_message(stream.name, build(row), stream.namespace) for row in chunk)
        rows += len(chunk)
        now = time.monotonic()
        if now - last_log >= PROGRESS_SECONDS:
            out.log(f"stream {stream.label}: {rows} rows read, {rows / (now - started):.0f} rows/s")
            last_log = now
        yield chunk


def _chunks(batches: Iterable[list[Row]], every: int) -> Iterator[list[Row]]:
    count = 0
    for rows in batches:
        start = 0
        while start < len(rows):
            end = min(len(rows), start + every - count % every)
            yield rows[start:end]
            count += end - start
            start = end
