"""The write loop: stdin messages → mapped, deduplicated batches → sinks, with a state barrier.

Records are mapped on the reading thread and collected per stream into batches; full batches go
to a thread pool (bounded: at most ``max_concurrency`` in flight and as many queued). Each STATE
closes a *window*: the open batches are sent, and the state waits in a queue until every batch of
its window and all earlier ones has finished. States leave in arrival order, unchanged except for
``destinationStats``. A batch that fails for good stays unfinished forever, so no later state can
pass it: the sync ends with the failure's trace and the last state that is really safe.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from retl_shared.errors import ConfigError, SyncError, TransientError
from retl_shared.mapping import Mapper, MappingError
from retl_shared.protocol import BadLine, Output, read_messages, state_stream_key
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Result, Sink

log = logging.getLogger("retl.writer")

StreamKey = tuple[str | None, str]
REJECTIONS_LOGGED_PER_STREAM = 100


def stream_label(stream: StreamKey) -> str:
    return f"{stream[0]}.{stream[1]}" if stream[0] else stream[1]


@dataclass
class StreamStats:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    deduplicated: int = 0  # superseded by a later record with the same match key in the same batch
    actions: Counter[str] = field(default_factory=Counter)  # dry run: what would happen
    reasons: Counter[str] = field(default_factory=Counter)


class Route:
    """One configured stream: its mapper, its sink and its open batch."""

    def __init__(self, stream: StreamKey, mapper: Mapper, sink: Sink, batch_size: int | None = None) -> None:
        self.stream = stream
        self.mapper = mapper
        self.sink = sink
        limits = sink.limits
        max_records = min(batch_size, limits.max_records) if batch_size else limits.max_records
        self.limits = BatchLimits(max_records, limits.max_bytes, limits.max_record_bytes)
        self.stats = StreamStats()
        self.batch: list[Record] = []
        self.batch_bytes = 0
        self.positions: dict[tuple[Any, ...], int] = {}  # normalised match key → index in batch

    def add(self, record: Record) -> list[Record] | None:
        """Add a record; return the batch that had to be closed to make room for it, if any."""
        key = (
            self.sink.normalize_key(record.key) if record.key is not None and self.sink.deduplicate else None
        )
        if key is not None:
            position = self.positions.get(key)
            if position is not None:  # last wins: replace the earlier record in place
                self.batch_bytes += record.size - self.batch[position].size
                self.batch[position] = record
                self.stats.deduplicated += 1
                return None
        closed = None
        if self.batch and (
            len(self.batch) >= self.limits.max_records
            or (self.limits.max_bytes and self.batch_bytes + record.size + 1 > self.limits.max_bytes)
        ):
            closed = self.take()
        if key is not None:
            self.positions[key] = len(self.batch)
        self.batch.append(record)
        self.batch_bytes += record.size + 1
        return closed

    def take(self) -> list[Record]:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        self.positions = {}
        return batch


@dataclass
class PendingState:
    message: dict[str, Any]
    window: int
    streams: list[StreamKey] | None  # None: a GLOBAL/LEGACY state, about every stream
    record_count: int
    first_window: int  # rejections are summed over windows first_window..window


class WriteLoop:
    def __init__(
        self,
        routes: dict[StreamKey, Route],
        output: Output,
        *,
        max_concurrency: int = 4,
        dry_run: bool = False,
        max_rejected_ratio: float = 1.0,
        max_attempts: int = 5,
        retry_backoff: float = 1.0,
        progress_interval: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.routes = routes
        self.output = output
        self.dry_run = dry_run
        self.max_rejected_ratio = max_rejected_ratio
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.progress_interval = progress_interval
        self.sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="sink")
        self._slot_count = 2 * max_concurrency  # in flight + queued
        self._slots = threading.BoundedSemaphore(self._slot_count)
        self._lock = threading.Lock()
        self._window = 0
        self._inflight: Counter[int] = Counter()  # window → unfinished batches
        self._pending: deque[PendingState] = deque()
        self._reads_since_state: Counter[StreamKey] = Counter()
        self._last_state_window: dict[StreamKey | None, int] = {}
        self._rejected_by_window: dict[int, Counter[StreamKey]] = {}
        self._failure: BaseException | None = None
        self._states_emitted = 0
        self._states_withheld = 0
        self._started = time.monotonic()

    # --- reading -------------------------------------------------------------------------------------

    def run(self, lines: Iterable[bytes]) -> None:
        """Consume the messages; raise SyncError when the sync must fail (after emitting safe states)."""
        stop_progress = threading.Event()
        progress = threading.Thread(target=self._progress_loop, args=(stop_progress,), daemon=True)
        progress.start()
        try:
            for route in self.routes.values():
                route.sink.prepare()
            try:
                for number, message in read_messages(lines):
                    if self._failure is not None:
                        break
                    kind = message["type"]
                    if kind == "RECORD":
                        self._on_record(number, message.get("record") or {})
                    elif kind == "STATE":
                        self._on_state(message.get("state") or {})
            except BadLine as bad:
                self._drain()
                raise SyncError(
                    f"Stopped at {bad}. Everything before it was written and its state emitted.",
                ) from None
            self._drain()
        finally:
            stop_progress.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._report()

    def _on_record(self, number: int, record: dict[str, Any]) -> None:
        stream = (record.get("namespace"), record.get("stream", ""))
        route = self.routes.get(stream) or self.routes.get((None, stream[1]))
        if route is None:
            raise BadLine(number, f"stream {stream_label(stream)!r} is not in the configured catalog")
        route.stats.read += 1
        self._reads_since_state[route.stream] += 1
        try:
            data, key = route.mapper.map(record.get("data") or {})
        except MappingError as exc:
            self._reject_now(route, exc.field, exc.reason, None)
            return
        size = route.sink.record_size(data)
        limit = route.limits.max_record_bytes
        if limit and size > limit:
            self._reject_now(route, None, f"record is {size} bytes; the API accepts at most {limit}", key)
            return
        closed = route.add(Record(route.stream, data, key, size, self._window))
        if closed:
            self._submit(route, closed)

    def _on_state(self, state: dict[str, Any]) -> None:
        for route in self.routes.values():
            if route.batch:
                self._submit(route, route.take())
        stream = state_stream_key(state)
        with self._lock:
            if stream is None:
                record_count = sum(self._reads_since_state.values())
                self._reads_since_state.clear()
                streams = None
            else:
                stream = self._canonical(stream)
                record_count = self._reads_since_state.pop(stream, 0)
                streams = [stream]
            first = self._last_state_window.get(stream, -1) + 1
            self._last_state_window[stream] = self._window
            self._pending.append(PendingState(state, self._window, streams, record_count, first))
            self._window += 1
            self._release_states()

    def _canonical(self, stream: StreamKey) -> StreamKey:
        route = self.routes.get(stream) or self.routes.get((None, stream[1]))
        return route.stream if route else stream

    # --- sending ---------------------------------------------------------------------------------------

    def _submit(self, route: Route, batch: list[Record]) -> None:
        self._slots.acquire()
        window = batch[0].window
        with self._lock:
            self._inflight[window] += 1
        future = self._pool.submit(self._deliver, route, batch)
        future.add_done_callback(lambda done: self._finished(route, window, done))

    def _deliver(self, route: Route, batch: list[Record]) -> list[tuple[Record, Outcome, str]]:
        """Send until every record is accepted or rejected; split batches that fail as a whole."""
        if self.dry_run:
            actions = route.sink.preview(batch)
            return [(r, ACCEPTED, action) for r, action in zip(batch, actions, strict=True)]
        done: list[tuple[Record, Outcome, str]] = []
        queue: deque[tuple[list[Record], int]] = deque([(batch, 0)])
        while queue:
            records, attempt = queue.popleft()
            outcomes = route.sink.send(records)
            if len(outcomes) != len(records):
                raise SyncError(
                    f"{type(route.sink).__name__} returned {len(outcomes)} outcomes for {len(records)}"
                )
            retry: list[Record] = []
            split: list[tuple[Record, Outcome]] = []
            for record, outcome in zip(records, outcomes, strict=True):
                if outcome.result is Result.retry:
                    retry.append(record)
                elif outcome.result is Result.split_batch:
                    split.append((record, outcome))
                else:
                    done.append((record, outcome, route.sink.operation))
            if len(split) == 1:
                record, outcome = split[0]
                done.append((record, Outcome.rejected(outcome.reason, outcome.field), route.sink.operation))
            elif split:
                half = len(split) // 2
                queue.appendleft(([r for r, _ in split[half:]], attempt))
                queue.appendleft(([r for r, _ in split[:half]], attempt))
            if retry:
                reason = next(o for o in outcomes if o.result is Result.retry)
                if attempt + 1 >= self.max_attempts:
                    raise TransientError(
                        f"{len(retry)} {stream_label(route.stream)} records still failed after "
                        f"{self.max_attempts} attempts: {reason.reason}"
                    )
                wait = reason.retry_after
                if wait is None:
                    wait = random.uniform(0, self.retry_backoff * 2**attempt)
                self.sleep(wait)
                queue.append((retry, attempt + 1))
        return done

    def _finished(self, route: Route, window: int, future: Future[list[tuple[Record, Outcome, str]]]) -> None:
        try:
            with self._lock:
                try:
                    results = future.result()
                except BaseException as exc:  # the window stays unfinished: no later state may pass
                    if self._failure is None:
                        self._failure = exc
                    return
                for record, outcome, action in results:
                    if outcome.result is Result.rejected:
                        self._count_rejection(route, record.window, outcome.field, outcome.reason, record.key)
                    else:
                        route.stats.accepted += 1
                        if self.dry_run:
                            route.stats.actions[action] += 1
                self._inflight[window] -= 1
                if not self._inflight[window]:
                    del self._inflight[window]
                self._release_states()
        finally:
            self._slots.release()

    # --- rejections and states --------------------------------------------------------------------

    def _reject_now(self, route: Route, field: str | None, reason: str, key: tuple[Any, ...] | None) -> None:
        with self._lock:
            self._count_rejection(route, self._window, field, reason, key)

    def _count_rejection(
        self, route: Route, window: int, field: str | None, reason: str, key: tuple[Any, ...] | None
    ) -> None:
        """Count and log a rejection (caller holds the lock). Logs name the key and field, never values."""
        stats = route.stats
        stats.rejected += 1
        stats.reasons[reason if field is None else f"{field}: {reason}"] += 1
        self._rejected_by_window.setdefault(window, Counter())[route.stream] += 1
        if stats.rejected <= REJECTIONS_LOGGED_PER_STREAM:
            where = f" field {field!r}" if field else ""
            log.warning(
                "rejected %s record %s%s: %s%s",
                stream_label(route.stream),
                _describe_key(route.mapper.match_key, key),
                where,
                reason,
                " (further rejections of this stream are only counted)"
                if stats.rejected == REJECTIONS_LOGGED_PER_STREAM
                else "",
            )

    def _release_states(self) -> None:
        """Emit queued states whose window and all earlier windows are finished (caller holds the lock)."""
        while self._pending:
            head = self._pending[0]
            if self._inflight and min(self._inflight) <= head.window:
                return
            self._pending.popleft()
            rejected = 0
            for window in range(head.first_window, head.window + 1):
                counts = self._rejected_by_window.get(window)
                if not counts:
                    continue
                for stream in head.streams if head.streams is not None else list(counts):
                    rejected += counts.pop(stream, 0)
                if not counts:
                    del self._rejected_by_window[window]
            if self.dry_run:
                self._states_withheld += 1
                continue
            head.message["destinationStats"] = {
                "recordCount": float(head.record_count),
                "rejectedRecordCount": rejected,
            }
            self.output.write({"type": "STATE", "state": head.message})
            self._states_emitted += 1

    def _drain(self) -> None:
        """Send every open batch, wait for all of them, and raise the first failure."""
        if self._failure is None:
            for route in self.routes.values():
                if route.batch:
                    self._submit(route, route.take())
        for _ in range(self._slot_count):
            self._slots.acquire()  # every slot back: nothing left in flight
        for _ in range(self._slot_count):
            self._slots.release()
        if self._failure is not None:
            failure = self._failure
            if isinstance(failure, SyncError):
                raise failure
            raise SyncError(
                f"Unexpected error while sending: {type(failure).__name__}: {failure}"
            ) from failure

    # --- reporting -------------------------------------------------------------------------------------

    def _progress_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.progress_interval):
            log.info("progress: %s", self._totals_line())

    def _totals_line(self) -> str:
        read = sum(r.stats.read for r in self.routes.values())
        accepted = sum(r.stats.accepted + r.stats.deduplicated for r in self.routes.values())
        rejected = sum(r.stats.rejected for r in self.routes.values())
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return (
            f"read {read}, written {accepted}, rejected {rejected}, "
            f"states emitted {self._states_emitted}, {read / elapsed:.0f} records/s"
        )

    def _report(self) -> None:
        verb = "would write" if self.dry_run else "written"
        for route in self.routes.values():
            s = route.stats
            if not s.read:
                continue
            line = (
                f"{stream_label(route.stream)} → {route.sink.object.name}.{route.sink.operation}: "
                f"read {s.read}, {verb} {s.accepted}, deduplicated {s.deduplicated}, rejected {s.rejected}"
            )
            if self.dry_run and s.actions:
                line += " (" + ", ".join(f"{action} {n}" for action, n in sorted(s.actions.items())) + ")"
            log.info(line)
            for reason, count in s.reasons.most_common(10):
                log.info("  rejected %d × %s", count, reason)
        if self.dry_run:
            log.info("dry run: nothing was written; %d state(s) withheld", self._states_withheld)
        log.info("done: %s", self._totals_line())
        read = sum(r.stats.read for r in self.routes.values())
        rejected = sum(r.stats.rejected for r in self.routes.values())
        if read and rejected / read > self.max_rejected_ratio:
            worst = Counter[str]()
            for route in self.routes.values():
                for reason, count in route.stats.reasons.items():
                    worst[f"{stream_label(route.stream)}: {reason}"] += count
            reasons = "; ".join(f"{n} × {reason}" for reason, n in worst.most_common(3))
            raise ConfigError(
                f"{rejected} of {read} records ({rejected / read:.1%}) were rejected, more than "
                f"max_rejected_ratio {self.max_rejected_ratio:.1%}. Most common: {reasons}. "
                "Fix the mapping or the data, or raise max_rejected_ratio."
            )


def _describe_key(names: list[str], key: tuple[Any, ...] | None) -> str:
    if key is None:
        return "(no match key)"
    return ", ".join(f"{name}={value!r}" for name, value in zip(names, key, strict=False))
