"""The write loop against in-process sinks: barrier, order, counts, splitting, retries, dry run, bad lines."""

from __future__ import annotations

import io
import random
import threading
import time
from typing import Any

import orjson
import pytest

from retl_shared.config import NullPolicy, StreamMapping
from retl_shared.errors import ConfigError, OutcomeUnknown, RequestTooLarge, SyncError, TransientError
from retl_shared.mapping import Mapper
from retl_shared.protocol import Output
from retl_shared.sink import ACCEPTED, BatchLimits, ObjectSpec, Outcome, Record, Sink, Target
from retl_shared.writer import Route, WriteLoop

OBJECT = ObjectSpec("things", {"upsert": "append_dedup"})


class RecordingSink(Sink):
    """Accepts records after a random delay; remembers which ids were accepted and when."""

    def __init__(self, limits: BatchLimits, delay: float = 0.0, verdict: Any = None) -> None:
        super().__init__(Target(OBJECT, "upsert", StreamMapping(stream="s"), ["id"]))
        self.limits = limits
        self.delay = delay
        self.verdict = verdict or (lambda record: ACCEPTED)
        self.lock = threading.Lock()
        self.resolved: set[int] = set()
        self.batches: list[list[int]] = []

    def send(self, batch: list[Record]) -> list[Outcome]:
        if self.delay:
            time.sleep(random.uniform(0, self.delay))
        outcomes = [self.verdict(record) for record in batch]
        with self.lock:
            self.batches.append([r.data["id"] for r in batch])
            for record, outcome in zip(batch, outcomes, strict=True):
                if outcome.result.value in ("accepted", "rejected"):
                    self.resolved.add(record.data["id"])
        return outcomes


class SnapshotOutput(Output):
    """Output that records, for each STATE, which ids the sink had resolved when it was written."""

    def __init__(self, sink: RecordingSink | None = None) -> None:
        super().__init__(io.BytesIO())
        self.sink = sink
        self.states: list[tuple[dict[str, Any], set[int]]] = []
        self.messages: list[dict[str, Any]] = []

    def write(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] == "STATE" and self.sink is not None:
            with self.sink.lock:
                self.states.append((message["state"], set(self.sink.resolved)))


def record(stream: str, i: int, **extra: Any) -> bytes:
    return orjson.dumps(
        {"type": "RECORD", "record": {"stream": stream, "data": {"id": i, **extra}, "emitted_at": 0}}
    )


def state(stream: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"n": n}},
            },
        }
    )


def make_loop(
    sink: Sink, output: Output, key: list[str] | None = None, nulls: str = "skip", **kwargs: Any
) -> WriteLoop:
    mapping = StreamMapping(stream="s", nulls=NullPolicy(nulls))
    route = Route((None, "s"), Mapper(mapping, match_key=key or ["id"]), sink)
    kwargs.setdefault("sleep", lambda seconds: None)
    return WriteLoop({(None, "s"): route}, output, **kwargs)


def test_state_never_overtakes_an_unfinished_batch_and_keeps_order() -> None:
    sink = RecordingSink(BatchLimits(max_records=7), delay=0.01)
    output = SnapshotOutput(sink)
    lines, expected, next_id = [], [], 0
    for n in range(25):
        count = random.Random(n).randint(0, 40)
        ids = list(range(next_id, next_id + count))
        next_id += count
        lines += [record("s", i) for i in ids]
        lines.append(state("s", n))
        expected.append((n, count, set(range(next_id))))
    make_loop(sink, output, max_concurrency=8).run(lines)

    assert [s["stream"]["stream_state"]["n"] for s, _ in output.states] == list(range(25))
    for (emitted, resolved_then), (n, count, before) in zip(output.states, expected, strict=True):
        assert before <= resolved_then, f"state {n} left before all its records were resolved"
        assert emitted["destinationStats"] == {"recordCount": float(count), "rejectedRecordCount": 0}


def test_batches_respect_count_and_byte_limits_and_hold_a_key_once() -> None:
    sink = RecordingSink(BatchLimits(max_records=3, max_bytes=60))
    output = SnapshotOutput(sink)
    lines = [record("s", i % 4, v=i) for i in range(8)] + [state("s", 0)]
    make_loop(sink, output).run(lines)
    assert all(len(batch) <= 3 for batch in sink.batches)
    assert all(len(batch) == len(set(batch)) for batch in sink.batches)  # a key once per batch
    assert output.states[0][0]["destinationStats"]["recordCount"] == 8.0


def test_two_versions_of_a_key_in_a_batch_merge_to_the_later_values() -> None:
    received: list[dict[str, Any]] = []

    class Keep(RecordingSink):
        def send(self, batch: list[Record]) -> list[Outcome]:
            received.extend(r.data for r in batch)
            return [ACCEPTED] * len(batch)

    sink = Keep(BatchLimits(max_records=100))
    make_loop(sink, SnapshotOutput(sink)).run([record("s", 1, v="a"), record("s", 2), record("s", 1, v="b")])
    assert received == [{"id": 1, "v": "b"}, {"id": 2}]


def test_whole_batch_failures_are_split_down_to_the_bad_records() -> None:
    bad = {5, 13}

    class Atomic(RecordingSink):
        def send(self, batch: list[Record]) -> list[Outcome]:
            with self.lock:
                self.batches.append([r.data["id"] for r in batch])
            if any(r.data["id"] in bad for r in batch):
                return [Outcome.split("422 Validation Error: email is invalid")] * len(batch)
            return [ACCEPTED] * len(batch)

    sink = Atomic(BatchLimits(max_records=25))
    output = SnapshotOutput(sink)
    make_loop(sink, output, max_rejected_ratio=1.0).run([record("s", i) for i in range(20)] + [state("s", 0)])
    accepted = {i for batch in sink.batches if not bad & set(batch) for i in batch}
    assert accepted == set(range(20)) - bad
    assert output.states[0][0]["destinationStats"] == {"recordCount": 20.0, "rejectedRecordCount": 2}


def test_retryable_outcomes_are_retried_then_accepted() -> None:
    attempts: dict[int, int] = {}

    def flaky(record: Record) -> Outcome:
        attempts[record.data["id"]] = attempts.get(record.data["id"], 0) + 1
        return Outcome.retry("423 Locked", retry_after=2.0) if attempts[record.data["id"]] < 3 else ACCEPTED

    sleeps: list[float] = []
    sink = RecordingSink(BatchLimits(max_records=10), verdict=flaky)
    output = SnapshotOutput(sink)
    make_loop(sink, output, sleep=sleeps.append).run([record("s", 1), record("s", 2), state("s", 0)])
    assert attempts == {1: 3, 2: 3}
    assert sleeps == [2.0, 2.0]  # Retry-After given by the outcome wins over backoff
    assert len(output.states) == 1


def test_exhausted_retries_end_with_transient_error_and_no_later_state() -> None:
    def verdict(record: Record) -> Outcome:
        return Outcome.retry("503 Service Unavailable") if record.data["id"] >= 10 else ACCEPTED

    sink = RecordingSink(BatchLimits(max_records=5), verdict=verdict)
    output = SnapshotOutput(sink)
    lines = [record("s", i) for i in range(5)] + [state("s", 0)]
    lines += [record("s", i) for i in range(10, 13)] + [state("s", 1)]
    lines += [record("s", i) for i in range(20, 23)] + [state("s", 2)]
    with pytest.raises(TransientError, match="still failed after 3 attempts: 503"):
        make_loop(sink, output, max_attempts=3).run(lines)
    assert [s["stream"]["stream_state"]["n"] for s, _ in output.states] == [0]


def test_a_bad_line_ends_the_sync_after_emitting_the_states_before_it() -> None:
    sink = RecordingSink(BatchLimits(max_records=100), delay=0.01)
    output = SnapshotOutput(sink)
    lines = [record("s", 1), state("s", 0), record("s", 2), state("s", 1), b"{not json", record("s", 3)]
    with pytest.raises(SyncError, match="line 5 is not a valid Airbyte message") as raised:
        make_loop(sink, output).run(lines)
    assert raised.value.failure_type == "system_error"
    assert [s["stream"]["stream_state"]["n"] for s, _ in output.states] == [0, 1]
    assert sink.resolved == {1, 2}


def test_record_for_unknown_stream_is_a_bad_line() -> None:
    sink = RecordingSink(BatchLimits(max_records=100))
    with pytest.raises(SyncError, match="line 1 .* stream 'other' is not in the configured catalog"):
        make_loop(sink, SnapshotOutput(sink)).run([record("other", 1)])


def test_mapping_rejections_are_counted_in_the_right_state() -> None:
    sink = RecordingSink(BatchLimits(max_records=100))
    output = SnapshotOutput(sink)
    no_key = orjson.dumps(
        {"type": "RECORD", "record": {"stream": "s", "data": {"name": "x"}, "emitted_at": 0}}
    )
    make_loop(sink, output).run([record("s", 1), no_key, state("s", 0), record("s", 2), state("s", 1)])
    stats = [s["destinationStats"] for s, _ in output.states]
    assert stats == [
        {"recordCount": 2.0, "rejectedRecordCount": 1},
        {"recordCount": 1.0, "rejectedRecordCount": 0},
    ]


def test_oversized_records_are_rejected_with_a_reason() -> None:
    sink = RecordingSink(BatchLimits(max_records=10, max_record_bytes=50))
    output = SnapshotOutput(sink)
    make_loop(sink, output).run([record("s", 1, blob="x" * 100), record("s", 2), state("s", 0)])
    assert sink.resolved == {2}
    assert output.states[0][0]["destinationStats"]["rejectedRecordCount"] == 1


def test_rejected_share_over_the_threshold_withholds_the_state_and_fails_the_sync() -> None:
    sink = RecordingSink(
        BatchLimits(max_records=10), verdict=lambda r: Outcome.rejected("bad email", "email")
    )
    output = SnapshotOutput(sink)
    with pytest.raises(
        ConfigError, match=r"3 of 3 records of stream 's' \(100.0%\) were rejected.*email: bad email"
    ):
        make_loop(sink, output, max_rejected_ratio=0.5).run(
            [record("s", i) for i in range(3)] + [state("s", 0)]
        )
    assert output.states == []  # nothing a broken mapping rejected is confirmed


def test_dry_run_sends_nothing_and_withholds_states() -> None:
    sink = RecordingSink(BatchLimits(max_records=10))
    output = SnapshotOutput(sink)
    make_loop(sink, output, dry_run=True).run([record("s", 1), record("s", 2), state("s", 0)])
    assert sink.batches == []
    assert output.states == []


def test_global_states_count_every_stream() -> None:
    sink = RecordingSink(BatchLimits(max_records=10))
    output = SnapshotOutput(sink)
    mapping = StreamMapping(stream="s")
    routes = {
        (None, name): Route((None, name), Mapper(mapping, match_key=["id"]), sink) for name in ("a", "b")
    }
    global_state = orjson.dumps(
        {"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {}}}}
    )
    WriteLoop(routes, output).run([record("a", 1), record("b", 2), record("b", 3), global_state])
    assert output.states[0][0]["destinationStats"]["recordCount"] == 3.0
    assert output.states[0][0]["global"] == {"shared_state": {}}


class Keeping(RecordingSink):
    """Remembers every batch's records as sent."""

    def __init__(self, limits: BatchLimits) -> None:
        super().__init__(limits)
        self.sent: list[list[dict[str, Any]]] = []

    def send(self, batch: list[Record]) -> list[Outcome]:
        with self.lock:
            self.sent.append([dict(r.data) for r in batch])
        return [ACCEPTED] * len(batch)


@pytest.mark.parametrize(
    ("nulls", "merged"),
    [
        ("skip", {"id": 1, "plan": "pro", "seats": 3, "tier": "gold"}),  # a null leaves the earlier value
        ("clear", {"id": 1, "plan": None, "seats": 3, "tier": "gold"}),  # a null clears it
    ],
)
def test_versions_in_a_batch_merge_field_wise_as_sending_both_in_order_would(
    nulls: str, merged: dict[str, Any]
) -> None:
    sink = Keeping(BatchLimits(max_records=10))
    output = SnapshotOutput(sink)
    lines = [record("s", 1, plan="pro", seats=3), record("s", 1, plan=None, tier="gold"), state("s", 0)]
    loop = make_loop(sink, output, nulls=nulls)
    loop.run(lines)
    assert sink.sent == [[merged]]
    stats = loop.routes[(None, "s")].stats
    assert (stats.read, stats.accepted, stats.merged) == (2, 1, 1)
    assert output.states[0][0]["destinationStats"] == {"recordCount": 2.0, "rejectedRecordCount": 0}


def test_a_batch_waits_for_an_earlier_one_holding_the_same_key() -> None:
    """The second batch holds key 1 too: it starts only when the first has finished, retries included."""
    first_started, release = threading.Event(), threading.Event()
    order: list[str] = []

    class Slow(RecordingSink):
        attempts = 0

        def send(self, batch: list[Record]) -> list[Outcome]:
            ids = [r.data["id"] for r in batch]
            if ids == [1, 2]:
                first_started.set()
                release.wait(5)
                self.attempts += 1
                if self.attempts < 3:  # retried twice (Retry-After): still nobody may overtake it
                    return [Outcome.retry("429", retry_after=0)] * len(batch)
            with self.lock:
                order.append(f"{ids}:{batch[0].data.get('v')}")
            return [ACCEPTED] * len(batch)

    sink = Slow(BatchLimits(max_records=2))
    output = SnapshotOutput(sink)
    lines = [record("s", 1, v="old"), record("s", 2, v="x"), record("s", 3, v="y"), record("s", 1, v="new")]
    loop = make_loop(sink, output, max_concurrency=8)
    runner = threading.Thread(target=loop.run, args=([*lines, state("s", 0)],))
    runner.start()
    assert first_started.wait(5)
    time.sleep(0.2)  # the second batch had every chance to start on one of the 7 idle workers
    assert order == []
    release.set()
    runner.join(10)
    assert order == ["[1, 2]:old", "[3, 1]:y"]


def test_events_of_one_key_keep_full_concurrency() -> None:
    """Occurrences are not entities: two batches with the same key are in flight together."""
    together = threading.Barrier(2, timeout=5)

    class Events(RecordingSink):
        deduplicate = False

        def send(self, batch: list[Record]) -> list[Outcome]:
            together.wait()  # breaks (and raises) unless both batches are in flight at once
            return [ACCEPTED] * len(batch)

    sink = Events(BatchLimits(max_records=1))
    output = SnapshotOutput(sink)
    make_loop(sink, output, max_concurrency=2).run([record("s", 1), record("s", 1), state("s", 0)])
    assert output.states[0][0]["destinationStats"] == {"recordCount": 2.0, "rejectedRecordCount": 0}


def test_a_request_too_large_is_split_until_the_one_record_is_rejected_alone() -> None:
    class Sized(RecordingSink):
        def send(self, batch: list[Record]) -> list[Outcome]:
            with self.lock:
                self.batches.append([r.data["id"] for r in batch])
            if any(r.data["id"] == 6 for r in batch):
                raise RequestTooLarge("the API refused the request as too large (HTTP 413)")
            return [ACCEPTED] * len(batch)

    sink = Sized(BatchLimits(max_records=8))
    output = SnapshotOutput(sink)
    make_loop(sink, output).run([record("s", i) for i in range(8)] + [state("s", 0)])
    assert sink.batches[0] == list(range(8)) and [6] in sink.batches
    assert sorted(i for batch in sink.batches if 6 not in batch for i in batch) == [0, 1, 2, 3, 4, 5, 7]
    assert output.states[0][0]["destinationStats"] == {"recordCount": 8.0, "rejectedRecordCount": 1}


def test_an_ambiguous_failure_of_a_non_idempotent_send_rejects_its_records_as_outcome_unknown() -> None:
    class Creates(RecordingSink):
        idempotent = False

        def send(self, batch: list[Record]) -> list[Outcome]:
            with self.lock:
                self.batches.append([r.data["id"] for r in batch])
            if batch[0].data["id"] == 0:
                raise OutcomeUnknown("ConnectionError calling POST /records")
            return [ACCEPTED] * len(batch)

    sink = Creates(BatchLimits(max_records=2))
    output = SnapshotOutput(sink)
    loop = make_loop(sink, output, max_rejected_ratio=1.0)
    loop.run([record("s", i) for i in range(4)] + [state("s", 0)])
    assert sink.batches == [[0, 1], [2, 3]]  # never sent again
    stats = loop.routes[(None, "s")].stats
    assert (stats.accepted, stats.rejected) == (2, 2)
    assert list(stats.reasons) == ["outcome unknown: sent, no answer (ConnectionError calling POST /records)"]


def test_the_rejected_share_is_judged_per_stream_once_100_records_were_read() -> None:
    """A broken stream's first state (150 records) is withheld; a healthy stream's states still leave."""

    class Picky(RecordingSink):
        def send(self, batch: list[Record]) -> list[Outcome]:
            return [
                Outcome.rejected("no such property", "x") if r.stream[1] == "bad" else ACCEPTED for r in batch
            ]

    sink = Picky(BatchLimits(max_records=50))
    output = SnapshotOutput()
    routes = {
        (None, name): Route((None, name), Mapper(StreamMapping(stream=name), match_key=["id"]), sink)
        for name in ("good", "bad")
    }
    lines = [record("good", i) for i in range(120)] + [state("good", 0)]
    lines += [record("bad", i) for i in range(150)] + [state("bad", 0)]
    lines += [record("good", i) for i in range(120, 130)] + [state("good", 1)]
    loop = WriteLoop(routes, output, max_rejected_ratio=0.1, sleep=lambda s: None)
    with pytest.raises(ConfigError, match=r"150 of 150 records of stream 'bad' .*150 × x: no such property"):
        loop.run(lines)
    emitted = [
        (m["state"]["stream"]["stream_descriptor"]["name"]) for m in output.messages if m["type"] == "STATE"
    ]
    assert "good" in emitted and "bad" not in emitted  # nothing of "bad" is confirmed


def test_a_small_streams_states_wait_for_its_end_and_leave_when_the_sync_fails_for_another_reason() -> None:
    def verdict(record: Record) -> Outcome:
        return Outcome.retry("503") if record.data["id"] >= 10 else ACCEPTED

    sink = RecordingSink(BatchLimits(max_records=5), verdict=verdict)
    output = SnapshotOutput(sink)
    lines = [record("s", i) for i in range(3)] + [state("s", 0)] + [record("s", 10), state("s", 1)]
    with pytest.raises(TransientError):
        make_loop(sink, output, max_attempts=2).run(lines)
    assert [s["stream"]["stream_state"]["n"] for s, _ in output.states] == [0]


def test_a_record_whose_data_is_not_an_object_is_a_bad_line() -> None:
    sink = RecordingSink(BatchLimits(max_records=5))
    output = SnapshotOutput(sink)
    bad = orjson.dumps({"type": "RECORD", "record": {"stream": "s", "data": [1, 2]}})
    with pytest.raises(SyncError, match="line 3 is not a valid Airbyte message: a RECORD needs"):
        make_loop(sink, output).run([record("s", 1), state("s", 0), bad])
    assert [s["stream"]["stream_state"]["n"] for s, _ in output.states] == [0]


def test_skipped_and_noted_outcomes_are_counted_by_reason_in_the_summary() -> None:
    def verdict(record: Record) -> Outcome:
        i = record.data["id"]
        if i % 3 == 0:
            return Outcome.skipped("older than max_event_age P3D: 'purchase'")
        return Outcome.noted("renamed 'signup' to 'signup_backfill'") if i % 3 == 1 else ACCEPTED

    sink = RecordingSink(BatchLimits(max_records=4), verdict=verdict)
    output = SnapshotOutput(sink)
    make_loop(sink, output).run([record("s", i) for i in range(9)] + [state("s", 0)])
    [summary] = [
        orjson.loads(m["trace"]["analytics"]["value"]) for m in output.messages if m["type"] == "TRACE"
    ]
    assert (summary["written"], summary["skipped"], summary["rejected"]) == (6, 3, 0)
    assert summary["skips"] == [["older than max_event_age P3D: 'purchase'", 3]]
    assert summary["notes"] == [["renamed 'signup' to 'signup_backfill'", 3]]
    assert output.states[0][0]["destinationStats"] == {"recordCount": 9.0, "rejectedRecordCount": 0}
