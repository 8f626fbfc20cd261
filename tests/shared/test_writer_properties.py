"""Property tests of the write loop: per-key last-write-wins and the state barrier, whatever the sink does.

A sink that delays, reorders, retries, loses answers after applying, splits and fails at random
writes into an in-memory store; streams repeat keys across and within batches. At every emitted
STATE the store must hold, for every key, the last version read before that state or a later one,
and at the end of a successful run exactly the field-wise fold of every record read. Two requests
holding the same key must never be in flight at once.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retl_shared.config import FieldType, NullPolicy, StreamMapping
from retl_shared.errors import SyncError, TransientError
from retl_shared.mapping import Mapper
from retl_shared.protocol import Output
from retl_shared.sink import ACCEPTED, BatchLimits, ObjectSpec, Outcome, Record, Sink, Target
from retl_shared.writer import Route, WriteLoop

OBJECT = ObjectSpec("things", {"upsert": "append_dedup"}, field_types={"n": FieldType.integer})
KEYS = ["k0", "k1", "k2", "k3", "k4", "poison"]  # the API refuses every record of "poison"
STREAMS = ["s", "t"]  # both write the same object by the same key: one entity space


@dataclass
class Behaviour:
    seed: int
    retry: float  # every record answered "retry" (nothing applied)
    lost: float  # applied, then answered "retry": a lost response
    split: float  # the whole batch refused without naming records
    fail: float  # the sync fails here (nothing applied)


class ChaosSink(Sink):
    """Applies accepted records to a shared store as ``{**stored, **data}`` (an upsert that leaves
    fields it is not sent alone); misbehaves at random, seeded."""

    def __init__(self, store: Store, behaviour: Behaviour, limits: BatchLimits) -> None:
        super().__init__(Target(OBJECT, "upsert", StreamMapping(stream="s"), ["id"]))
        self.store = store
        self.behaviour = behaviour
        self.limits = limits

    def send(self, batch: list[Record]) -> list[Outcome]:
        store, chance = self.store, self.behaviour
        keys = [r.data["id"] for r in batch]
        with store.lock:
            roll = store.rng.random()
            pause = store.rng.uniform(0, 0.002)
            store.in_flight.update(keys)
            store.overlaps += sum(1 for k in set(keys) if store.in_flight[k] > 1)
        try:
            time.sleep(pause)
            if roll < chance.fail:
                raise TransientError("the API went away")
            roll -= chance.fail
            if roll < chance.split and len(batch) > 1:
                return [Outcome.split("refused as a whole")] * len(batch)
            roll -= chance.split
            if roll < chance.retry:
                return [Outcome.retry("try later", retry_after=0)] * len(batch)
            roll -= chance.retry
            outcomes = []
            with store.lock:
                for record in batch:
                    if record.data["id"] == "poison":
                        outcomes.append(Outcome.rejected("refused"))
                        continue
                    store.data[record.data["id"]] = {**store.data.get(record.data["id"], {}), **record.data}
                    outcomes.append(ACCEPTED)
            if roll < chance.lost:
                return [Outcome.retry("connection reset", retry_after=0)] * len(batch)
            return outcomes
        finally:
            with store.lock:
                store.in_flight.subtract(keys)


@dataclass
class Store:
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_flight: Counter[str] = field(default_factory=Counter)
    overlaps: int = 0


class StoreSnapshots(Output):
    """Takes a copy of the store whenever a STATE is written."""

    def __init__(self, store: Store) -> None:
        super().__init__(io.BytesIO())
        self.store = store
        self.states: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = []

    def write(self, message: dict[str, Any]) -> None:
        if message["type"] == "STATE":
            with self.store.lock:
                self.states.append((message["state"], {k: dict(v) for k, v in self.store.data.items()}))


@st.composite
def syncs(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Ops: ("r", stream, key, a, b, bad) for a record, ("s", stream) for a state; states last for both."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 90))):
        if draw(st.integers(0, 9)) == 0:
            ops.append(("s", draw(st.sampled_from(STREAMS))))
        else:
            ops.append(
                (
                    "r",
                    draw(st.sampled_from(STREAMS)),
                    draw(st.sampled_from(KEYS)),
                    draw(st.one_of(st.none(), st.integers(0, 9))),
                    draw(st.one_of(st.none(), st.integers(0, 9))),
                    draw(st.integers(0, 11)) == 0,  # a value the mapping cannot coerce: rejected alone
                )
            )
    ops += [("s", stream) for stream in STREAMS]
    return ops


def lines_for(ops: list[tuple[Any, ...]]) -> list[bytes]:
    lines = []
    for seq, op in enumerate(ops):
        if op[0] == "r":
            _, stream, key, a, b, bad = op
            data = {"id": key, "seq": seq, "a": a, "b": b, "n": "x" if bad else seq}
            lines.append(orjson.dumps({"type": "RECORD", "record": {"stream": stream, "data": data}}))
        else:
            descriptor = {"stream_descriptor": {"name": op[1]}, "stream_state": {"seq": seq}}
            lines.append(orjson.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}}))
    return lines


def fold(ops: list[tuple[Any, ...]], until: int, clear: bool) -> dict[str, dict[str, Any]]:
    """What sending every record before position ``until`` one by one, in order, leaves in the API."""
    expected: dict[str, dict[str, Any]] = {}
    for seq, op in enumerate(ops[:until]):
        if op[0] != "r" or op[5] or op[2] == "poison":
            continue
        _, _, key, a, b, _ = op
        data = {"id": key, "seq": seq, "a": a, "b": b, "n": seq}
        if not clear:
            data = {k: v for k, v in data.items() if v is not None}
        expected[key] = {**expected.get(key, {}), **data}
    return expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=syncs(),
    seed=st.integers(0, 2**32),
    concurrency=st.integers(1, 8),
    batch=st.integers(1, 6),
    clear=st.booleans(),
    retry=st.sampled_from([0.0, 0.1, 0.3]),
    lost=st.sampled_from([0.0, 0.1, 0.3]),
    split=st.sampled_from([0.0, 0.1, 0.3]),
    fail=st.sampled_from([0.0, 0.0, 0.02]),
)
def test_every_state_and_the_end_hold_the_last_version_of_every_key(
    ops: list[tuple[Any, ...]],
    seed: int,
    concurrency: int,
    batch: int,
    clear: bool,
    retry: float,
    lost: float,
    split: float,
    fail: float,
) -> None:
    store = Store(random.Random(seed))
    sink_behaviour = Behaviour(seed, retry, lost, split, fail)
    routes = {}
    for stream in STREAMS:
        mapping = StreamMapping(stream=stream, nulls=NullPolicy.clear if clear else NullPolicy.skip)
        sink = ChaosSink(store, sink_behaviour, BatchLimits(max_records=batch))
        routes[(None, stream)] = Route((None, stream), Mapper(mapping, OBJECT.field_types, ["id"]), sink)
    output = StoreSnapshots(store)
    loop = WriteLoop(
        routes,
        output,
        max_concurrency=concurrency,
        max_attempts=50,
        sleep=lambda s: None,
        max_rejected_ratio=1.0,
    )
    failed = False
    try:
        loop.run(lines_for(ops))
    except SyncError:
        failed = True

    assert store.overlaps == 0, "two requests held the same key at once"
    previous: dict[str, int] = {}
    for state, snapshot in output.states:
        until = state["stream"]["stream_state"]["seq"]
        stream = state["stream"]["stream_descriptor"]["name"]
        since = previous.get(stream, -1)
        records = sum(1 for op in ops[since + 1 : until] if op[0] == "r" and op[1] == stream)
        assert state["destinationStats"]["recordCount"] == records
        previous[stream] = until
        for key, version in fold(ops, until, clear).items():
            assert key in snapshot, f"{key} missing at the state after position {until}"
            assert snapshot[key]["seq"] >= version["seq"], f"{key} older than read at position {until}"
    if not failed:
        assert store.data == fold(ops, len(ops), clear)
        last = {
            s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["seq"]
            for s, _ in output.states
        }
        assert last == {"s": len(ops) - 2, "t": len(ops) - 1}  # each stream's states in order, its last last
