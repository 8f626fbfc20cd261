"""Reading one configured stream: full refresh, or incremental by a cursor column.

Incremental reads follow the lessons of Airbyte's own warehouse sources: the upper bound
(MAX(cursor)) is fixed when the stream starts, so rows committed during the read wait for the next
sync instead of slipping past a checkpoint; the stored cursor is an inclusive lower bound, so rows
sharing the boundary value (even ones added later with that value) are re-sent, never lost, and
destinations upsert them; rows with a NULL cursor cannot be placed and are skipped (and counted).

A lookback window re-reads rows below the stored cursor (late arrivals: a row committed after the
last sync with an older cursor value). They are read first, by their own query, and never move the
state: it stays the greatest cursor read, so the window never drags the next sync further back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from retl_shared.protocol import stream_state_message
from source_warehouse_model.backends.base import Backend, Column, Kind
from source_warehouse_model.config import ConfigError, Lookback
from source_warehouse_model.diff import read_changes
from source_warehouse_model.messages import MessageBuffer, Messages
from source_warehouse_model.records import FETCH_ROWS, RecordQuery, estimate, record_chunks
from source_warehouse_model.state import FULL_REFRESH_STATE, CursorState, check_bound
from source_warehouse_model.streams import StreamDef, case_matches, column_named, cursor_column, describe

# Cursor kinds a lookback duration, or a lookback number, can be subtracted from.
DURATION_KINDS = frozenset({Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMP_TZ})
NUMBER_KINDS = frozenset({Kind.INTEGER, Kind.BIG_INTEGER, Kind.NUMBER, Kind.DECIMAL})


@dataclass(frozen=True)
class ReadRequest:
    """One stream of the configured catalog, with the sync mode and keys chosen for it."""

    stream: StreamDef
    incremental: bool
    cursor_field: str | None
    primary_key: tuple[str, ...]
    prior_state: Any
    lookback: Lookback | None = None
    lookback_from_model: bool = False  # else it is the config's default, applied only where it fits


def read_stream(
    backend: Backend, request: ReadRequest, checkpoint_every: int, out: MessageBuffer
) -> Iterator[Messages]:
    """Yield the stream's messages, a batch of records (and maybe a state) at a time."""
    stream = request.stream
    columns = describe(backend, stream)
    request = _named_as_columns(request, columns, out)
    out.stream_status(stream.name, stream.namespace, "STARTED")
    if request.incremental and stream.diff:
        yield from read_changes(backend, stream, columns, request.prior_state, checkpoint_every, out)
    elif request.incremental:
        yield from _incremental(backend, request, columns, checkpoint_every, out)
    else:
        yield from _full_refresh(backend, stream, columns, out)
    out.stream_status(stream.name, stream.namespace, "COMPLETE")
    yield out.drain()


def _named_as_columns(request: ReadRequest, columns: list[Column], out: MessageBuffer) -> ReadRequest:
    """The request with its cursor and primary key spelled as the stream's columns, one log line per name
    resolved across case (a model's `updated_at` is Snowflake's UPDATED_AT). A name that matches no
    column, or several, is left as it is, to fail where it is used."""

    def named(name: str, role: str) -> str:
        matches = case_matches(columns, name)
        if len(matches) != 1 or matches[0].name == name:
            return name
        out.log(
            f"{role} column {name!r} resolved to {matches[0].name!r} in stream {request.stream.label}"
            " (only the case differs)"
        )
        return matches[0].name

    cursor = None if request.cursor_field is None else named(request.cursor_field, "cursor")
    keys = tuple(named(key, "primary key") for key in request.primary_key)
    return replace(request, cursor_field=cursor, primary_key=keys)


def _full_refresh(
    backend: Backend, stream: StreamDef, columns: list[Column], out: MessageBuffer
) -> Iterator[Messages]:
    source = f"FROM {stream.subquery}"
    estimate(backend, stream, f"SELECT * {source}", [], out)
    for _chunk in record_chunks(backend, stream, RecordQuery(columns, source), FETCH_ROWS, out):
        yield out.drain()
    out.write(stream_state_message(stream.name, stream.namespace, FULL_REFRESH_STATE))


def _incremental(
    backend: Backend, request: ReadRequest, columns: list[Column], every: int, out: MessageBuffer
) -> Iterator[Messages]:
    stream, field = request.stream, request.cursor_field
    if field is None:
        raise ConfigError(f"stream {stream.label}: incremental sync needs a cursor field")
    cursor = cursor_column(columns, field, stream)
    lookback = usable_lookback(stream, cursor, request.lookback, request.lookback_from_model)
    order = [columns.index(cursor)] + [
        columns.index(column_named(columns, key, stream, "primary key")) for key in request.primary_key
    ]
    state = _prior_state(backend, request, cursor, out)

    c, bound = backend.quote(cursor.name), backend.cursor_param(cursor)
    upper, nulls = backend.fetch_one(
        f"SELECT {backend.output_sql(cursor, f'MAX({c})')}, COUNT(*) - COUNT({c}) FROM {stream.subquery}",
        [],
    )
    if nulls:
        out.log(
            f"stream {stream.label}: {nulls} rows have a NULL {field!r} and are not read incrementally",
            "WARN",
        )
    if upper is None:
        out.estimate_trace(stream.name, stream.namespace, 0)
        out.write(stream_state_message(stream.name, stream.namespace, state.to_json()))
        return
    where, params = f"{c} <= {bound}", [upper]
    sent_late_rows = False
    if state.value is None:
        estimate(backend, stream, f"SELECT * FROM {stream.subquery} WHERE {where}", params, out)
    else:
        since = bound if lookback is None else backend.minus_sql(bound, lookback.amount)
        counted = f"SELECT * FROM {stream.subquery} WHERE {c} >= {since} AND {where}"
        estimate(backend, stream, counted, [state.value, upper], out)
        if lookback is not None:
            # The window's rows below the stored cursor go first, by their own query: the state stays.
            late = f"FROM {stream.subquery} WHERE {c} >= {since} AND {c} < {bound}"
            late_rows = RecordQuery(columns, late, [state.value] * 2, order=order)
            for _chunk in record_chunks(backend, stream, late_rows, FETCH_ROWS, out):
                sent_late_rows = True
                yield out.drain()
        where, params = f"{c} >= {bound} AND {where}", [state.value, upper]
    cursor_index, count, checkpointed = order[0], 0, None
    rows = RecordQuery(
        columns, f"FROM {stream.subquery} WHERE {where}", params, order=order, tracked=[cursor_index]
    )
    for chunk in record_chunks(backend, stream, rows, every, out, not sent_late_rows):
        count += len(chunk)
        state = CursorState(field, chunk.last(cursor_index))
        # Never repeat the previous checkpoint, and leave the value the read ends on (the upper
        # bound) to the final state: two identical states must not enclose records.
        if count % every == 0 and state.value not in (checkpointed, upper):
            out.write(stream_state_message(stream.name, stream.namespace, state.to_json()))
            checkpointed = state.value
        yield out.drain()
    out.write(stream_state_message(stream.name, stream.namespace, state.to_json()))


def usable_lookback(
    stream: StreamDef, cursor: Column, lookback: Lookback | None, from_model: bool
) -> Lookback | None:
    """The lookback window to apply to this cursor.

    A duration fits date and time cursors, a number fits numeric ones. The config's default applies
    only where it fits (a source can mix both kinds of cursor); a model's own window must fit.
    """
    if lookback is None:
        return None
    is_duration = isinstance(lookback.amount, timedelta)
    if cursor.kind in (DURATION_KINDS if is_duration else NUMBER_KINDS):
        return lookback
    if not from_model:
        return None
    wanted = (
        "an ISO 8601 duration such as PT1H"
        if cursor.kind in DURATION_KINDS
        else "a number"
        if cursor.kind in NUMBER_KINDS
        else "no lookback window"
    )
    given = "a duration" if is_duration else "a number"
    raise ConfigError(
        f"stream {stream.label}: lookback_window {lookback.text!r} is {given}, but cursor column"
        f" {cursor.name!r} is {cursor.native_type}, which takes {wanted}"
    )


def _prior_state(backend: Backend, request: ReadRequest, cursor: Column, out: MessageBuffer) -> CursorState:
    """Where the read starts: the state's cursor, checked against the cursor column; none if it changed."""
    stream = request.stream
    prior = CursorState.from_json(request.prior_state, stream.label)
    if prior is None and request.prior_state not in (None, {}, FULL_REFRESH_STATE):
        out.log(f"stream {stream.label}: the state holds no cursor; reading all", "WARN")
    if prior is not None and prior.field != cursor.name:
        out.log(
            f"stream {stream.label}: cursor changed from {prior.field!r} to {cursor.name!r}, reading all",
            "WARN",
        )
        prior = None
    if prior is not None and prior.value is not None:
        check_bound(backend, stream.label, cursor, prior.value, "cursor")
    return prior or CursorState(cursor.name, None)
