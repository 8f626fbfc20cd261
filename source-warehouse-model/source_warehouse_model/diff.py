"""Change detection by diff, for models without a trustworthy cursor.

Each sync snapshots the model into the bookkeeping schema – its primary key and a fingerprint of
each row, one table per sync (a "generation") – and joins that snapshot with the baseline, the
generation the last confirmed state names. Keys only in the new snapshot are added rows, keys only
in the baseline deleted ones, keys in both with different fingerprints updated ones; the model is
read only for the added and updated keys. Everything runs in the warehouse: Python sees the changed
rows, a fetch batch at a time, and nothing else.

The changes are sent in primary key order (deletions interleaved), so a checkpoint's last key is
an exact resume point. The state names the generation it sent; until the destination confirms a
state naming the new generation, the next sync still diffs against the old one and so sends the
same changes again. Generations no incoming state refers to are dropped when the next sync starts.

Added and updated rows are read from the model after the snapshot: a row that changes in between is
sent with its newer values, and sent again by the next sync (its fingerprint differs from the
snapshot's). Destinations upsert by key, so that costs a repeat, never a loss.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retl_shared.protocol import stream_state_message
from source_warehouse_model.backends.base import Backend, Column, Kind
from source_warehouse_model.config import ConfigError
from source_warehouse_model.messages import MessageBuffer, Messages
from source_warehouse_model.records import RecordQuery, record_chunks
from source_warehouse_model.state import DiffState, check_bound
from source_warehouse_model.streams import CHANGE_COLUMN, DELETED_AT_COLUMN, StreamDef, key_columns

FINGERPRINT = "_retl_fingerprint"
CHANGE_COUNTS = "retl_change_counts"  # the ANALYTICS trace that carries a diff stream's counts
CHANGES = ("added", "updated", "deleted")
# The two columns a diff adds to the model's, read as text.
_CHANGE_COLUMNS = [
    Column(CHANGE_COLUMN, "VARCHAR", Kind.STRING),
    Column(DELETED_AT_COLUMN, "VARCHAR", Kind.STRING),
]


class Snapshots:
    """A stream's snapshot generations: one table per generation in the bookkeeping schema.

    Tables are named ``RETL_SNAPSHOT_<NAME>_<hash of the name>_<generation>``; a generation is the
    microsecond (since 1970, UTC) its sync started, which also dates the deletions it finds.
    """

    def __init__(self, backend: Backend, stream: StreamDef) -> None:
        self._backend = backend
        slug = re.sub(r"[^A-Z0-9]+", "_", stream.name.upper()).strip("_")[:40]
        digest = hashlib.sha256(stream.name.encode()).hexdigest()[:8].upper()
        self._prefix = "_".join(part for part in ("RETL_SNAPSHOT", slug, digest) if part) + "_"

    def table(self, generation: int) -> str:
        return f"{self._backend.bookkeeping_schema()}.{self._backend.quote(f'{self._prefix}{generation}')}"

    def generations(self) -> set[int]:
        prefix = self._prefix
        return {
            int(name[len(prefix) :])
            for name in self._backend.bookkeeping_tables()
            if name.startswith(prefix) and name[len(prefix) :].isdigit()
        }

    def next_generation(self, existing: set[int]) -> int:
        return max(time.time_ns() // 1000, max(existing, default=0) + 1)

    def drop(self, generation: int) -> None:
        self._backend.execute(f"DROP TABLE IF EXISTS {self.table(generation)}")

    def columns(self, generation: int) -> list[Column]:
        return self._backend.describe(f"SELECT * FROM {self.table(generation)}")


@dataclass(frozen=True)
class Plan:
    """What this sync sends: the changes of ``generation`` against ``baseline`` after ``resume_after``."""

    generation: int
    baseline: int | None
    resume_after: tuple[Any, ...] | None = None


def read_changes(
    backend: Backend,
    stream: StreamDef,
    columns: list[Column],
    prior_state: Any,
    every: int,
    out: MessageBuffer,
) -> Iterator[Messages]:
    """Yield the stream's changes since the confirmed snapshot, checkpointing every ``every`` records."""
    keys = key_columns(columns, stream)
    snapshots = Snapshots(backend, stream)
    with backend.writing_bookkeeping():
        plan = _plan(backend, stream, columns, keys, snapshots, prior_state, out)
    diff = _Diff(backend, stream, keys, snapshots, plan)
    added, updated, deleted, unmodified = backend.fetch_one(diff.counts_sql(), [])
    if plan.resume_after is None:
        out.estimate_trace(stream.name, stream.namespace, added + updated + deleted)
    yield out.drain()

    emitted: Counter[str] = Counter()
    key_index = [columns.index(key) for key in keys]
    change_index = len(columns)
    for chunk in record_chunks(backend, stream, diff.changes(columns), every, out):
        emitted.update(chunk.counts(change_index))
        if sum(emitted.values()) % every == 0:
            last_key = tuple(chunk.last(index) for index in key_index)
            resume_after = tuple(zip((key.name for key in keys), last_key, strict=True))
            checkpoint = DiffState(plan.generation, plan.baseline, resume_after)
            out.write(stream_state_message(stream.name, stream.namespace, checkpoint.to_json()))
        yield out.drain()

    counts = {change: emitted[change] for change in CHANGES} | {"unmodified": unmodified}
    against = f"snapshot {plan.baseline}" if plan.baseline is not None else "no earlier snapshot"
    resumed = "" if plan.resume_after is None else "; resumed: what the earlier attempt sent is not counted"
    out.log(
        f"stream {stream.label}: {', '.join(f'{count} {change}' for change, count in counts.items())}"
        f" (snapshot {plan.generation} against {against}{resumed})"
    )
    out.analytics_trace(CHANGE_COUNTS, {"stream": stream.name, "namespace": stream.namespace, **counts})
    out.write(stream_state_message(stream.name, stream.namespace, DiffState(plan.generation).to_json()))


def _plan(
    backend: Backend,
    stream: StreamDef,
    columns: list[Column],
    keys: list[Column],
    snapshots: Snapshots,
    prior_state: Any,
    out: MessageBuffer,
) -> Plan:
    """Pick the baseline (and resume point), drop unreferenced generations, snapshot the model if needed."""
    state = DiffState.from_json(prior_state, stream.label)
    if state is None and prior_state not in (None, {}):
        out.log(f"stream {stream.label}: the state is not a diff state; every row is sent as added", "WARN")
    existing = snapshots.generations()
    if state is not None:
        missing = sorted(state.referenced - existing)
        if missing:
            raise ConfigError(
                f"stream {stream.label}: the state names snapshot {missing[0]}, which is not in the"
                f" bookkeeping schema {backend.bookkeeping_schema()} (dropped, or another bookkeeping"
                " location); clear the stream's state (reset it) to send every row of the model again"
            )
        if not _same_key(snapshots.columns(state.generation), keys, state):
            out.log(
                f"stream {stream.label}: the primary key changed since the last sync; every row is sent"
                " as added",
                "WARN",
            )
            state = None
    referenced = state.referenced if state is not None else set()
    for generation in sorted(existing - referenced):
        snapshots.drop(generation)
    if state is not None and state.resume_after is not None:
        for key, (_, value) in zip(keys, state.resume_after, strict=True):
            check_bound(backend, stream.label, key, value, "resume point")
        values = tuple(value for _, value in state.resume_after)
        after = ", ".join(f"{name}={value}" for name, value in state.resume_after)
        out.log(f"stream {stream.label}: resuming snapshot {state.generation} after {after}")
        return Plan(state.generation, state.baseline, values)
    generation = snapshots.next_generation(existing)
    _snapshot(backend, stream, columns, keys, snapshots, generation, out)
    return Plan(generation, state.generation if state is not None else None)


def _same_key(snapshot: list[Column], keys: list[Column], state: DiffState) -> bool:
    """Whether a snapshot (and a checkpoint's resume point) were made with the model's primary key."""
    expected = [(key.name, key.kind) for key in keys]
    if [(column.name, column.kind) for column in snapshot[:-1]] != expected:
        return False
    if [column.name for column in snapshot[-1:]] != [FINGERPRINT]:
        return False
    return state.resume_after is None or [name for name, _ in state.resume_after] == [
        key.name for key in keys
    ]


def _snapshot(
    backend: Backend,
    stream: StreamDef,
    columns: list[Column],
    keys: list[Column],
    snapshots: Snapshots,
    generation: int,
    out: MessageBuffer,
) -> None:
    """Write the model's keys and fingerprints as a new generation.

    Rows without a key are left out (and counted in a warning); a key on several rows is refused.
    """
    q = backend.quote
    table = snapshots.table(generation)
    # Sorted by name, so that reordering the model's columns does not change every fingerprint.
    fingerprint = backend.fingerprint_sql([f"m.{q(column.name)}" for column in sorted(columns, key=_name)])
    key_list = ", ".join(q(key.name) for key in keys)
    query = f"SELECT {', '.join(f'm.{q(key.name)}' for key in keys)}, {fingerprint} AS {q(FINGERPRINT)}"
    backend.execute(backend.create_table_sql(table, f"{query} FROM {stream.subquery}"))
    no_key = " OR ".join(f"{q(key.name)} IS NULL" for key in keys)
    (nulls,) = backend.fetch_one(f"SELECT COUNT(*) FROM {table} WHERE {no_key}", [])
    if nulls:
        backend.execute(f"DELETE FROM {table} WHERE {no_key}")
        out.log(f"stream {stream.label}: {nulls} rows have a NULL primary key and are not synced", "WARN")
    duplicates = f"SELECT {key_list} FROM {table} GROUP BY {key_list} HAVING COUNT(*) > 1"
    (repeated,) = backend.fetch_one(f"SELECT COUNT(*) FROM ({duplicates}) AS d", [])
    if repeated:
        example = backend.fetch_one(f"{duplicates} ORDER BY {key_list} LIMIT 1", [])
        snapshots.drop(generation)
        shown = ", ".join(f"{key.name}={value}" for key, value in zip(keys, example, strict=True))
        raise ConfigError(
            f"stream {stream.label}: the primary key ({', '.join(key.name for key in keys)}) is not unique:"
            f" {repeated} key values appear on more than one row, e.g. {shown}; fix the model or its"
            " primary_key"
        )


def _name(column: Column) -> str:
    return column.name


class _Diff:
    """The SQL that compares a generation with its baseline."""

    def __init__(
        self, backend: Backend, stream: StreamDef, keys: list[Column], snapshots: Snapshots, plan: Plan
    ) -> None:
        self._backend, self._stream, self._keys, self._plan = backend, stream, keys, plan
        self._new = snapshots.table(plan.generation)
        self._old = (
            snapshots.table(plan.baseline)
            if plan.baseline is not None
            else f"(SELECT * FROM {self._new} WHERE 1 = 0)"
        )
        q = backend.quote
        self._first_key = q(keys[0].name)
        self._join = " AND ".join(f"n.{q(key.name)} = o.{q(key.name)}" for key in keys)

    def counts_sql(self) -> str:
        """Added, updated, deleted and unmodified rows of the whole generation."""
        k, fp = self._first_key, self._backend.quote(FINGERPRINT)
        return (
            f"SELECT COUNT(CASE WHEN o.{k} IS NULL THEN 1 END),"
            f" COUNT(CASE WHEN n.{fp} <> o.{fp} THEN 1 END),"
            f" COUNT(CASE WHEN n.{k} IS NULL THEN 1 END),"
            f" COUNT(CASE WHEN n.{fp} = o.{fp} THEN 1 END)"
            f" FROM {self._new} AS n FULL OUTER JOIN {self._old} AS o ON {self._join}"
        )

    def changes(self, columns: list[Column]) -> RecordQuery:
        """The changed rows after the resume point, in key order: the model's columns, then the change;
        the keys and the change are tracked."""
        q, k = self._backend.quote, self._first_key
        fp = q(FINGERPRINT)
        after, params = self._after()
        new = f"(SELECT * FROM {self._new} AS s WHERE {after})" if after else self._new
        old = f"(SELECT * FROM {self._old} AS s WHERE {after})" if after else self._old
        keys = {key.name for key in self._keys}
        sources = [
            f"COALESCE(n.{q(column.name)}, o.{q(column.name)})"
            if column.name in keys
            else f"m.{q(column.name)}"
            for column in columns
        ]
        deleted_at = _deleted_at(self._plan.generation)
        sources += [
            f"CASE WHEN o.{k} IS NULL THEN 'added' WHEN n.{k} IS NULL THEN 'deleted' ELSE 'updated' END",
            f"CASE WHEN n.{k} IS NULL THEN '{deleted_at}' END",
        ]
        model_join = " AND ".join(f"m.{q(key.name)} = n.{q(key.name)}" for key in self._keys)
        order = ", ".join(f"COALESCE(n.{q(key.name)}, o.{q(key.name)})" for key in self._keys)
        query = (
            f"FROM {new} AS n FULL OUTER JOIN {old} AS o ON {self._join}"
            f" LEFT JOIN {self._stream.subquery} ON {model_join}"
            f" WHERE (o.{k} IS NULL OR n.{k} IS NULL OR n.{fp} <> o.{fp})"
            # A key the snapshot has but the model lost since: its deletion is the next sync's to send.
            f" AND (n.{k} IS NULL OR m.{k} IS NOT NULL)"
            f" ORDER BY {order}"
        )
        tracked = [columns.index(key) for key in self._keys] + [len(columns)]
        params = params * 2 if after else []
        return RecordQuery(columns + _CHANGE_COLUMNS, query, params, sources=sources, tracked=tracked)

    def _after(self) -> tuple[str, list[Any]]:
        """``(k1, k2, ...) > (v1, v2, ...)`` for the snapshot alias ``s``, spelt out for any warehouse."""
        values = self._plan.resume_after
        if values is None:
            return "", []
        q, param = self._backend.quote, self._backend.cursor_param
        terms: list[str] = []
        params: list[Any] = []
        for index, key in enumerate(self._keys):
            equal = [f"s.{q(prior.name)} = {param(prior)}" for prior in self._keys[:index]]
            terms.append("(" + " AND ".join([*equal, f"s.{q(key.name)} > {param(key)}"]) + ")")
            params += values[: index + 1]
        return " OR ".join(terms), params


def _deleted_at(generation: int) -> str:
    """When the generation's sync started, which is when it detected its deletions (ISO 8601, UTC)."""
    seconds, microseconds = divmod(generation, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=microseconds).isoformat()
