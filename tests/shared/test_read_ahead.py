"""How far the write loop reads ahead of the API (``ReadAhead``): bounded in batches and bytes, and once
the bound is reached, reading resumes only when half of it is free."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from retl_shared.sink import BatchLimits, Outcome, Record
from retl_shared.writer import READ_AHEAD_BATCHES_PER_WORKER, ReadAhead
from tests.shared.test_writer import RecordingSink, SnapshotOutput, make_loop, record, state


def admitting(read_ahead: ReadAhead, size: int) -> threading.Event:
    """Admit a batch on another thread; the event is set once it got through."""
    through = threading.Event()

    def admit() -> None:
        read_ahead.admit(size)
        through.set()

    threading.Thread(target=admit, daemon=True).start()
    return through


def test_the_floor_is_admitted_whatever_its_size() -> None:
    read_ahead = ReadAhead(floor=2, max_batches=8, max_bytes=10)
    assert admitting(read_ahead, 1_000).wait(2)
    assert admitting(read_ahead, 1_000).wait(2)
    third = admitting(read_ahead, 1)
    assert not third.wait(0.2)  # past the floor, the bytes count
    read_ahead.release(1_000)  # below the floor again
    assert third.wait(2)
    assert (read_ahead.batches, read_ahead.bytes) == (2, 1_001)


def test_once_the_bound_is_reached_reading_resumes_when_half_of_it_is_free() -> None:
    read_ahead = ReadAhead(floor=2, max_batches=8, max_bytes=10**9)
    for _ in range(8):
        read_ahead.admit(10)
    ninth = admitting(read_ahead, 10)
    assert not ninth.wait(0.2)
    for _ in range(3):
        read_ahead.release(10)
    assert not ninth.wait(0.2)  # 5 of 8 still out: a slot free, but not half of them
    read_ahead.release(10)
    assert ninth.wait(2)
    assert read_ahead.batches == 5


def test_past_the_floor_the_bytes_bound_holds_the_reader_until_half_of_them_are_free() -> None:
    read_ahead = ReadAhead(floor=1, max_batches=100, max_bytes=1_000)
    for _ in range(3):
        read_ahead.admit(300)
    fourth = admitting(read_ahead, 300)  # 1,200 bytes would be out
    assert not fourth.wait(0.2)
    read_ahead.release(300)
    assert not fourth.wait(0.2)  # 600 out: more than half of 1,000
    read_ahead.release(300)
    assert fourth.wait(2)


def test_the_loop_reads_ahead_of_a_stalled_api_only_as_far_as_the_bound() -> None:
    """One worker stuck on the first batch: the reader fills the bound (far past the two batches of the
    floor) and stops there; everything is written once the API answers."""
    stalled = threading.Event()

    class Stalled(RecordingSink):
        def send(self, batch: list[Record]) -> list[Outcome]:
            stalled.wait(10)
            return super().send(batch)

    consumed = 0

    def lines(count: int) -> Iterator[bytes]:
        nonlocal consumed
        for i in range(count):
            consumed += 1
            yield record("s", i)
        yield state("s", count)

    sink = Stalled(BatchLimits(max_records=1))
    output = SnapshotOutput(sink)
    loop = make_loop(sink, output, max_concurrency=1)
    runner = threading.Thread(target=loop.run, args=(lines(100),))
    runner.start()
    bound = READ_AHEAD_BATCHES_PER_WORKER
    try:
        deadline = time.monotonic() + 5
        while consumed <= bound + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # had it not stopped, it would have read on
        # The bound's batches of one record each, the record whose batch waits for room, and the record
        # that closed that batch (a batch closes when the next record does not fit in it).
        assert consumed == bound + 2
    finally:
        stalled.set()
        runner.join(10)
    assert not runner.is_alive()
    assert sorted(i for batch in sink.batches for i in batch) == list(range(100))
    assert output.states[-1][0]["destinationStats"] == {"recordCount": 100.0, "rejectedRecordCount": 0}
