"""Reading one configured stream: full refresh, or incremental by a cursor column.

Incremental reads follow the lessons of Airbyte's own warehouse sources: the upper bound is fixed
(MAX(cursor)) when the stream starts, so rows committed during the read wait for the next sync
instead of racing past a checkpoint; the stored cursor is an inclusive lower bound, so rows that
share the boundary value (including ones added later with that same value) are re-sent rather
than lost, and destinations upsert them; rows with a NULL cursor cannot be placed and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from retl_shared.protocol import Output, record_message, stream_state_message

from source_warehouse_model.backends.base import Backend, Column
from source_warehouse_model.state import CursorState
from source_warehouse_model.streams import StreamDef, column_named, cursor_column, describe
from source_warehouse_model.values import record_builder

FETCH_ROWS = 10_000  # rows per fetch, and per write: bounds memory whatever the stream's size
# What the CDK writes for streams without a cursor: every stream must end with a state.
FULL_REFRESH_STATE = {"__ab_no_cursor_state_message": True}

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class ReadRequest:
    """One stream of the configured catalog, with the choices the user made for it."""

    stream: StreamDef
    incremental: bool
    cursor_field: str | None
    primary_key: tuple[str, ...]
    prior_state: Any


@dataclass(frozen=True)
class _Plan:
    query: str
    params: list[Any]
    cursor: Column | None
    prior: CursorState | None
    upper: Any  # MAX(cursor) when the read started


def read_stream(
    backend: Backend, request: ReadRequest, checkpoint_every: int, out: Output
) -> Iterator[Messages]:
    """Yield the stream's messages in batches; ``out`` builds traces and logs (it is a buffer)."""
    stream = request.stream
    columns = describe(backend, stream)
    out.stream_status(stream.name, stream.namespace, "STARTED")
    plan = _incremental_plan(backend, request, columns, out) if request.incremental else _full_plan(backend, stream, columns)
    if plan is not None:
        estimate = backend.estimate_rows(*_count_query(plan))
        if estimate is not None:
            out.estimate_trace(stream.name, stream.namespace, estimate)
    yield _drain(out)

    last_value, count = None, 0
    if plan is not None:
        build = record_builder(columns)
        cursor_index = columns.index(plan.cursor) if plan.cursor else None
        last_emitted: Any = None
        until_checkpoint = checkpoint_every
        for rows in backend.batches(plan.query, plan.params, FETCH_ROWS):
            if count == 0:
                out.stream_status(stream.name, stream.namespace, "RUNNING")
            start = 0
            while start < len(rows):
                chunk = rows[start : start + until_checkpoint]
                start += len(chunk)
                count += len(chunk)
                until_checkpoint -= len(chunk)
                out.write_many(record_message(stream.name, build(row), stream.namespace) for row in chunk)
                if cursor_index is None:
                    continue
                last_value = chunk[-1][cursor_index]
                if until_checkpoint == 0:
                    until_checkpoint = checkpoint_every
                    # Never repeat the previous state, and leave the value the stream ends on to the
                    # final state, so no two identical states enclose records.
                    if last_value not in (last_emitted, plan.upper):
                        out.write(_state(stream, CursorState(plan.cursor.name, last_value)))  # type: ignore[union-attr]
                        last_emitted = last_value
            yield _drain(out)

    out.write(_state(stream, _final_state(request, plan, last_value)))
    out.log(f"stream {stream.label}: {count} records")
    out.stream_status(stream.name, stream.namespace, "COMPLETE")
    yield _drain(out)


def _full_plan(backend: Backend, stream: StreamDef, columns: list[Column]) -> _Plan:
    return _Plan(f"SELECT {_select_list(backend, columns)} FROM ({stream.sql}) AS m", [], None, None, None)


def _incremental_plan(backend: Backend, request: ReadRequest, columns: list[Column], out: Output) -> _Plan | None:
    """The bounded, ordered query; None when no row has a cursor value."""
    stream, field = request.stream, request.cursor_field
    if field is None:
        raise_config(stream, "incremental sync needs a cursor field")
    cursor = cursor_column(columns, field, stream)
    order = [cursor.name] + [column_named(columns, key, stream, "primary key").name for key in request.primary_key]
    prior = CursorState.from_json(request.prior_state)
    if prior is not None and prior.field != field:
        out.log(f"stream {stream.label}: cursor changed from {prior.field!r} to {field!r}; reading everything", "WARN")
        prior = None

    c, marker = backend.quote(cursor.name), backend.placeholder
    upper, nulls = backend.fetch_one(
        f"SELECT {backend.output_sql(cursor, f'MAX({c})')}, COUNT(*) - COUNT({c}) FROM ({stream.sql}) AS m", []
    )
    if nulls:
        out.log(f"stream {stream.label}: {nulls} rows have a NULL {field!r} and are not read incrementally", "WARN")
    if upper is None:
        return None
    where, params = f"{c} <= {marker}", [upper]
    if prior is not None and prior.value is not None:
        where, params = f"{c} >= {marker} AND {where}", [prior.value, upper]
    query = (
        f"SELECT {_select_list(backend, columns)} FROM ({stream.sql}) AS m WHERE {where}"
        f" ORDER BY {', '.join(backend.quote(name) for name in order)}"
    )
    return _Plan(query, params, cursor, prior, upper)


def raise_config(stream: StreamDef, problem: str) -> Any:
    from source_warehouse_model.config import ConfigError

    raise ConfigError(f"stream {stream.label}: {problem}")
