"""The write loop: stdin messages → mapped, merged batches → sinks, in per-key order, with a state barrier.

Records are mapped on the reading thread and collected per stream into batches; full batches go
to a thread pool of ``max_concurrency`` workers. Reading runs ahead of the API by a bounded amount
(``ReadAhead``), and once the bound is reached it resumes in bulk, so mapping runs while requests
are in flight rather than in the moments their answers come back.

Per-key order: every record of an entity (object, key fields, normalised key) carries that
*identity*. Two versions in one batch merge field-wise (later non-null values win; a null clears
under ``nulls: clear``): exactly what sending both in order would leave. Across batches, a batch
waits until every earlier unfinished batch sharing an identity with it has finished, retries,
Retry-After pauses and splits included (they all happen inside one batch's delivery). So two
requests holding the same entity are never in flight at once, a retried record is never overtaken
by a later one of its key, and batches without shared keys keep the full concurrency. Occurrence
streams (events) have no identities and are never held.

Each STATE closes a *window*: the open batches are sent, and the state waits in a queue until every
batch of its window and all earlier ones has finished. Before it leaves, the rejected share of its
stream is checked (once 100 of the stream's records were read, or at the end for a smaller stream):
past ``max_rejected_ratio`` the state is withheld and the sync fails, so nothing a broken mapping
rejected is confirmed. States leave in arrival order per stream, unchanged except for
``destinationStats``. A batch that fails for good stays unfinished forever, so no later state can
pass it: the sync ends with the failure's trace and the last state that is really safe, and no
further request is sent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retl_shared.config import CHANGE_COLUMN, CHANGE_COLUMNS
from retl_shared.errors import ConfigError, OutcomeUnknown, RequestTooLarge, SyncError, TransientError
from retl_shared.mapping import Mapper, MappingError
from retl_shared.protocol import WRITE_SUMMARY, BadLine, Output, read_messages, state_stream_key
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Result, Sink

if TYPE_CHECKING:
    from retl_shared.rejected import RejectedStore

log = logging.getLogger("retl.writer")

StreamKey = tuple[str | None, str]
REJECTIONS_LOGGED_PER_STREAM = 100
# The rejected share is judged once a stream has this many records (or at its end): a handful of
# records says nothing about the mapping, and one bad row must not fail a small sync on its own.
RATIO_SAMPLE = 100
# How far reading may run ahead of the API, in batches handed over and not finished (queued, waiting
# for an earlier batch of their key, or in flight): always twice the concurrency, and up to this many
# times the concurrency while those batches' records total at most READ_AHEAD_BYTES (encoded).
READ_AHEAD_BATCHES_PER_WORKER = 16
READ_AHEAD_BYTES = 8 * 1024 * 1024


def stream_label(stream: StreamKey) -> str:
    return f"{stream[0]}.{stream[1]}" if stream[0] else stream[1]


@dataclass
class StreamStats:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    merged: int = 0  # merged into a later record of the same key in the same batch, sent as part of it
    skipped: int = 0  # deliberately not sent; the reasons are counted too
    skips: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # written records whose outcome carried a note
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
        # Entities are the object's records compared by its key fields, whichever stream writes them.
        self.scope = (sink.object.name, tuple(mapper.match_key))
        self.primary_key = sink.target.primary_key  # source columns that name a row, from the catalog
        self.stats = StreamStats()
        self.batch: list[Record] = []
        self.batch_bytes = 0
        self.positions: dict[tuple[Any, ...], int] = {}  # identity → index in batch

    def identity(self, key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        """The entity a record writes; None for occurrences and keyless records. Raises TypeError for
        a key that holds a list or an object the sink cannot compare."""
        if key is None or not self.sink.deduplicate:
            return None
        identity = (self.scope, self.sink.normalize_key(key))
        hash(identity)
        return identity

    def add(self, record: Record) -> list[Record] | None:
        """Add a record; return the batch that had to be closed to make room for it, if any."""
        identity = record.identity
        if identity is not None:
            position = self.positions.get(identity)
            if position is not None:
                merged = self._merge(self.batch[position], record)
                if merged is not None:
                    self.batch_bytes += merged.size - self.batch[position].size
                    self.batch[position] = merged
                    self.stats.merged += 1
                    return None
                taken = self.take()  # the merge does not fit: this version goes after the batch
                self._append(record)
                return taken
        closed = None
        if self.batch and (
            len(self.batch) >= self.limits.max_records
            or (self.limits.max_bytes and self.batch_bytes + record.size + 1 > self.limits.max_bytes)
        ):
            closed = self.take()
        self._append(record)
        return closed

    def _merge(self, earlier: Record, later: Record) -> Record | None:
        """Field-wise: the later record's fields win, fields it lacks (nulls skipped) keep the earlier
        value; a deletion, or a write after one, replaces what came before. None when the merged record
        would not fit the limits."""
        if earlier.data.keys() <= later.data.keys() or earlier.deleted or later.deleted:
            data, size = later.data, later.size
        else:
            data = {**earlier.data, **later.data}
            size = self.sink.record_size(data)
        limits = self.limits
        if limits.max_record_bytes and size > limits.max_record_bytes:
            return None
        if limits.max_bytes and self.batch_bytes + size - earlier.size > limits.max_bytes:
            return None
        return Record(
            later.stream,
            data,
            later.key,
            size,
            later.window,
            later.identity,
            later.line,
            later.deleted,
            later.source,
        )

    def _append(self, record: Record) -> None:
        if record.identity is not None:
            self.positions[record.identity] = len(self.batch)
        self.batch.append(record)
        self.batch_bytes += record.size + 1

    def take(self) -> list[Record]:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        self.positions = {}
        return batch


@dataclass(eq=False)
class _Batch:
    """A batch on its way: it starts once no earlier unfinished batch holds one of its identities."""

    route: Route
    records: list[Record]
    window: int
    identities: set[tuple[Any, ...]]
    size: int  # the records' encoded bytes, as counted by ReadAhead
    blockers: int = 0  # earlier unfinished batches sharing an identity
    dependents: list[_Batch] = field(default_factory=list)


class ReadAhead:
    """The bound on batches handed over and not finished, counted in batches and in encoded bytes.

    ``floor`` batches are always allowed, whatever their size; beyond that, up to ``max_batches`` while
    their bytes stay within ``max_bytes``. Once the bound is reached, the reader waits until half of it
    is free again instead of taking each slot as it frees: the mapping of the next records then runs in
    one go while requests are in flight. Taken a batch at a time, it would run exactly when an answer
    comes back, and hold up (one GIL) the workers handling the other answers of that moment.
    """

    def __init__(self, floor: int, max_batches: int, max_bytes: int) -> None:
        self.floor = floor
        self.max_batches = max(floor, max_batches)
        self.max_bytes = max_bytes
        self.batches = 0
        self.bytes = 0
        self._changed = threading.Condition()

    def admit(self, size: int) -> None:
        """Count a batch of ``size`` bytes as handed over, once the bound allows it."""
        with self._changed:
            if self._full(size):
                self._changed.wait_for(self._half_free)
            self.batches += 1
            self.bytes += size

    def release(self, size: int) -> None:
        """A batch handed over is finished (or dropped)."""
        with self._changed:
            self.batches -= 1
            self.bytes -= size
            if self._half_free():  # no other moment can let the reader go on
                self._changed.notify_all()

    def wait_until_empty(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.batches == 0)

    def _full(self, size: int) -> bool:
        if self.batches >= self.max_batches:
            return True
        return self.batches >= self.floor and self.bytes + size > self.max_bytes

    def _half_free(self) -> bool:
        if self.batches > self.max_batches // 2:
            return False
        return self.batches < self.floor or self.bytes <= self.max_bytes // 2


@dataclass
class PendingState:
    message: dict[str, Any]
    window: int
    stream: StreamKey | None  # None: a GLOBAL/LEGACY state, about every stream
    record_count: int
    first_window: int  # rejections are summed over windows first_window..window
    rejected: int = 0


@dataclass
class _Tally:
    """Records before the settled states of one stream (or of all, for GLOBAL states), and rejections."""

    read: int = 0
    rejected: int = 0
    deferred: list[PendingState] = field(default_factory=list)  # safe, but too few records to judge
    failed: bool = False  # past the ratio: no later state of it leaves either


class _Abandoned(Exception):
    """A batch not sent because the sync already failed; it stays unfinished."""


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
        rejected_store: RejectedStore | None = None,
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
        self._read_ahead = ReadAhead(
            2 * max_concurrency, READ_AHEAD_BATCHES_PER_WORKER * max_concurrency, READ_AHEAD_BYTES
        )
        self._lock = threading.Lock()
        self._window = 0
        self._inflight: Counter[int] = Counter()  # window → unfinished batches
        self._holders: dict[tuple[Any, ...], _Batch] = {}  # identity → last unfinished batch holding it
        self._waiting: set[_Batch] = set()
        self._pending: deque[PendingState] = deque()
        self._reads_since_state: Counter[StreamKey] = Counter()
        self._last_state_window: dict[StreamKey | None, int] = {}
        self._rejected_by_window: dict[int, Counter[StreamKey]] = {}
        self._tallies: dict[StreamKey | None, _Tally] = {}
        # Streams by name: a record or state without a namespace (PyAirbyte replays its cache that way)
        # is about the one configured stream of its name, whatever that stream's namespace.
        self._by_name: dict[str, list[Route]] = {}
        for route in routes.values():
            self._by_name.setdefault(route.stream[1], []).append(route)
        self._keyed = dict(routes) | {
            (None, name): named[0]
            for name, named in self._by_name.items()
            if len(named) == 1 and (None, name) not in routes
        }
        # Streams writing the same entities (object and key fields): an entity's record in one of them
        # sends the other's open batch holding that entity first, so batches go out in read order.
        scopes = Counter(route.scope for route in routes.values())
        self._shared_scopes = {scope for scope, count in scopes.items() if count > 1}
        self._open_holders: dict[tuple[Any, ...], Route] = {}
        self._failure: BaseException | None = None
        # Where every rejection is kept (when configured); the record being read, for those before sending.
        self._store = rejected_store
        self._reading: dict[str, Any] | None = None
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
                        self._reading = message.get("record")
                        self._on_record(number, self._reading)
                    elif kind == "STATE":
                        self._on_state(number, message.get("state"))
            except BadLine as bad:
                self._finish_input()
                raise SyncError(
                    f"Stopped at {bad}. Everything before it was written and its state emitted.",
                ) from None
            self._finish_input()
        finally:
            stop_progress.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._report()
        self._check_trailing_records()

    def _finish_input(self) -> None:
        """Send what is open, wait for everything, judge the states held back for too few records (this is
        their stream's last state in this sync, whether it succeeds or not); raise the sync's failure."""
        self._drain()
        with self._lock:
            for stream, tally in self._tallies.items():
                if tally.deferred:
                    self._judge(stream, tally)
            self._rejections_stored()  # those after the last state too: what is reported is stored
        self._raise_failure()

    def _on_record(self, number: int, record: Any) -> None:
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            raise BadLine(number, 'a RECORD needs "record": {"stream": …, "data": {…}}, data an object')
        stream = (record.get("namespace"), record.get("stream", ""))
        route = self._route(number, stream)
        if route is None:
            raise BadLine(number, f"stream {stream_label(stream)!r} is not in the configured catalog")
        route.stats.read += 1
        self._reads_since_state[route.stream] += 1
        data = record["data"]
        skip, deleted, clear = route.mapper.treatment(data)
        if skip is not None:
            self._skip_now(route, skip)
            return
        if not route.sink.keeps_change_columns and CHANGE_COLUMN in data:
            data = {column: value for column, value in data.items() if column not in CHANGE_COLUMNS}
        try:
            data, key = route.mapper.map(data, clear)
        except MappingError as exc:
            self._reject_now(route, exc.field, exc.reason, None)
            return
        try:
            identity = route.identity(key)
        except TypeError:
            field = route.mapper.match_key[0] if route.mapper.match_key else None
            self._reject_now(route, field, "the match key holds a list or an object, not one value", None)
            return
        try:
            size = route.sink.record_size(data)
        except MappingError as exc:
            self._reject_now(route, exc.field, exc.reason, key)
            return
        limit = route.limits.max_record_bytes
        if limit and size > limit:
            self._reject_now(route, None, f"record is {size} bytes; the API accepts at most {limit}", key)
            return
        if identity is not None and route.scope in self._shared_scopes:
            holder = self._open_holders.get(identity)
            if holder is not None and holder is not route and identity in holder.positions:
                self._submit(holder, holder.take())
            self._open_holders[identity] = route
        closed = route.add(
            Record(route.stream, data, key, size, self._window, identity, number, deleted, record["data"])
        )
        if closed:
            self._submit(route, closed)

    def _on_state(self, number: int, state: Any) -> None:
        if not isinstance(state, dict):
            raise BadLine(number, 'a STATE needs "state": {...} as an object')
        for route in self.routes.values():
            if route.batch:
                self._submit(route, route.take())
        self._open_holders.clear()
        stream = state_stream_key(state)
        with self._lock:
            if stream is None:
                record_count = sum(self._reads_since_state.values())
                self._reads_since_state.clear()
            else:
                stream = self._canonical(number, stream)
                record_count = self._reads_since_state.pop(stream, 0)
            first = self._last_state_window.get(stream, -1) + 1
            self._last_state_window[stream] = self._window
            self._pending.append(PendingState(state, self._window, stream, record_count, first))
            self._window += 1
            self._release_states()

    def _route(self, number: int, stream: StreamKey) -> Route | None:
        """The configured stream a message is about: its own, the stream of that name without a
        namespace, or, for a message without a namespace, the only stream of that name."""
        route = self._keyed.get(stream) or self._keyed.get((None, stream[1]))
        if route is None and stream[0] is None and stream[1] in self._by_name:
            namespaces = ", ".join(sorted(str(r.stream[0]) for r in self._by_name[stream[1]]))
            raise BadLine(
                number,
                f"stream {stream[1]!r} has no namespace, and the configured catalog has a stream of that "
                f"name in each of the namespaces {namespaces}: send the namespace with each message",
            )
        return route

    def _canonical(self, number: int, stream: StreamKey) -> StreamKey:
        route = self._route(number, stream)
        return route.stream if route else stream

    # --- sending ---------------------------------------------------------------------------------------

    def _submit(self, route: Route, records: list[Record]) -> None:
        size = sum(record.size for record in records)
        self._read_ahead.admit(size)
        identities = {r.identity for r in records if r.identity is not None}
        batch = _Batch(route, records, records[0].window, identities, size)
        with self._lock:
            self._inflight[batch.window] += 1
            if self._failure is not None:  # never sent: its window stays unfinished
                self._read_ahead.release(size)
                return
            for holder in {self._holders[i] for i in identities if i in self._holders}:
                holder.dependents.append(batch)
                batch.blockers += 1
            for identity in identities:
                self._holders[identity] = batch
            if batch.blockers:
                self._waiting.add(batch)
            else:
                self._pool.submit(self._run_batch, batch)

    def _run_batch(self, batch: _Batch) -> None:
        try:
            results = self._deliver(batch.route, batch.records)
        except BaseException as exc:
            self._finished(batch, None, exc)
        else:
            self._finished(batch, results, None)

    def _deliver(self, route: Route, batch: list[Record]) -> list[tuple[Record, Outcome, str]]:
        """Send until every record is accepted or rejected; split batches that fail as a whole."""
        if self.dry_run:
            actions = route.sink.preview(batch)
            return [(r, ACCEPTED, action) for r, action in zip(batch, actions, strict=True)]
        done: list[tuple[Record, Outcome, str]] = []
        queue: deque[tuple[list[Record], int]] = deque([(batch, 0)])
        while queue:
            if self._failure is not None:
                raise _Abandoned()
            records, attempt = queue.popleft()
            try:
                outcomes = route.sink.send(records)
            except RequestTooLarge as exc:
                outcomes = [Outcome.split(exc.reason)] * len(records)
            except OutcomeUnknown as exc:
                outcomes = [Outcome.rejected(exc.reason)] * len(records)
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

    def _finished(
        self,
        batch: _Batch,
        results: list[tuple[Record, Outcome, str]] | None,
        error: BaseException | None,
    ) -> None:
        try:
            with self._lock:
                if results is None:  # the batch stays unfinished: no later state may pass it
                    self._fail(error or SyncError("a batch ended without results"))
                    return
                route = batch.route
                for record, outcome, action in results:
                    if outcome.result is Result.rejected:
                        self._count_rejection(
                            route, record.window, outcome.field, outcome.reason, record.key, record.source
                        )
                    elif outcome.result is Result.skipped:
                        route.stats.skipped += 1
                        route.stats.skips[outcome.reason] += 1
                    else:
                        route.stats.accepted += 1
                        if outcome.reason:
                            route.stats.notes[outcome.reason] += 1
                        if self.dry_run:
                            route.stats.actions[action] += 1
                self._inflight[batch.window] -= 1
                if not self._inflight[batch.window]:
                    del self._inflight[batch.window]
                for identity in batch.identities:
                    if self._holders.get(identity) is batch:
                        del self._holders[identity]
                for dependent in batch.dependents:
                    dependent.blockers -= 1
                    if not dependent.blockers and dependent in self._waiting:
                        self._waiting.discard(dependent)
                        self._pool.submit(self._run_batch, dependent)
                self._release_states()
        finally:
            self._read_ahead.release(batch.size)

    def _fail(self, failure: BaseException) -> None:
        """Record the sync's failure (the first wins) and drop the batches still waiting (caller holds the
        lock): they are never sent and stay unfinished, so no later state passes them."""
        if self._failure is None:
            self._failure = failure
        for batch in self._waiting:
            self._read_ahead.release(batch.size)
        self._waiting.clear()

    # --- rejections and states --------------------------------------------------------------------

    def _skip_now(self, route: Route, reason: str) -> None:
        with self._lock:
            route.stats.skipped += 1
            route.stats.skips[reason] += 1

    def _reject_now(self, route: Route, field: str | None, reason: str, key: tuple[Any, ...] | None) -> None:
        """Reject the record being read, before it is sent."""
        data = self._reading.get("data") if self._reading is not None else None
        with self._lock:
            self._count_rejection(route, self._window, field, reason, key, data)

    def _count_rejection(
        self,
        route: Route,
        window: int,
        field: str | None,
        reason: str,
        key: tuple[Any, ...] | None,
        data: dict[str, Any] | None,
    ) -> None:
        """Count, log and store a rejection (caller holds the lock). Logs name the match key, primary key
        and field, never other values; the store keeps the record as read (masked)."""
        primary_key = (
            {column: data.get(column) for column in route.primary_key}
            if route.primary_key and isinstance(data, dict)
            else None
        )
        if self._store is not None:
            try:
                self._store.add(
                    route.stream,
                    match_key=None if key is None else dict(zip(route.mapper.match_key, key, strict=False)),
                    primary_key=primary_key,
                    field=field,
                    reason=reason,
                    record=data,
                )
            except SyncError as exc:  # not stored, so not done: no state may pass it
                self._fail(exc)
        stats = route.stats
        stats.rejected += 1
        stats.reasons[reason if field is None else f"{field}: {reason}"] += 1
        self._rejected_by_window.setdefault(window, Counter())[route.stream] += 1
        if stats.rejected <= REJECTIONS_LOGGED_PER_STREAM:
            where = f" field {field!r}" if field else ""
            log.warning(
                "rejected %s record %s%s: %s%s",
                stream_label(route.stream),
                _describe_key(route.mapper.match_key, key, primary_key),
                where,
                reason,
                " (further rejections of this stream are only counted)"
                if stats.rejected == REJECTIONS_LOGGED_PER_STREAM
                else "",
            )

    def _release_states(self) -> None:
        """Settle queued states whose window and all earlier windows are finished (caller holds the lock)."""
        while self._pending:
            head = self._pending[0]
            if self._inflight and min(self._inflight) <= head.window:
                return
            self._pending.popleft()
            for window in range(head.first_window, head.window + 1):
                counts = self._rejected_by_window.get(window)
                if not counts:
                    continue
                for stream in [head.stream] if head.stream is not None else list(counts):
                    head.rejected += counts.pop(stream, 0)
                if not counts:
                    del self._rejected_by_window[window]
            tally = self._tallies.setdefault(head.stream, _Tally())
            tally.read += head.record_count
            tally.rejected += head.rejected
            tally.deferred.append(head)
            if tally.read >= RATIO_SAMPLE:
                self._judge(head.stream, tally)

    def _judge(self, stream: StreamKey | None, tally: _Tally) -> None:
        """Emit the stream's settled states, unless its rejected share is past the ratio: then withhold
        them and fail the sync, so nothing a broken mapping rejected is confirmed (caller holds the lock)."""
        if tally.failed or (tally.read and tally.rejected / tally.read > self.max_rejected_ratio):
            self._states_withheld += len(tally.deferred)
            tally.deferred.clear()
            if not tally.failed:
                tally.failed = True
                self._fail(self._ratio_error(stream, tally))
            return
        if tally.deferred and not self.dry_run and not self._rejections_stored():
            self._states_withheld += len(tally.deferred)
            tally.deferred.clear()
            return
        for state in tally.deferred:
            if self.dry_run:
                self._states_withheld += 1
                continue
            state.message["destinationStats"] = {
                "recordCount": float(state.record_count),
                "rejectedRecordCount": state.rejected,
            }
            self.output.write({"type": "STATE", "state": state.message})
            self._states_emitted += 1
        tally.deferred.clear()

    def _rejections_stored(self) -> bool:
        """Write what the store holds before a state confirms it (caller holds the lock): a rejection that
        could not be stored is not done, so no state passes it and the sync fails."""
        if self._store is None:
            return True
        try:
            self._store.flush()
        except SyncError as exc:
            self._fail(exc)
            return False
        return True

    def _ratio_error(self, stream: StreamKey | None, tally: _Tally) -> ConfigError:
        routes = [r for r in self.routes.values() if stream is None or r.stream == stream]
        worst = Counter[str]()
        for route in routes:
            for reason, count in route.stats.reasons.items():
                worst[f"{stream_label(route.stream)}: {reason}" if stream is None else reason] += count
        reasons = "; ".join(f"{n} × {reason}" for reason, n in worst.most_common(3))
        share = tally.rejected / tally.read
        summary = (
            f"{tally.rejected} of {tally.read} records of {_stream_name(stream)} ({share:.1%}) were "
            f"rejected, more than max_rejected_ratio {self.max_rejected_ratio:.1%}. Most common: {reasons}."
        )
        if worst and "outcome unknown" in worst.most_common(1)[0][0]:
            return ConfigError(
                f"{summary} The API did not answer for them, so they may have been written: the state was "
                "withheld, and the next sync sends them again. Check the API's health, and make the writes "
                "idempotent (see the destination's README) so that a resent record cannot be written twice."
            )
        return ConfigError(
            f"{summary} The state was withheld: nothing is confirmed, so once the mapping or the data is "
            "fixed the next sync sends these records again. Fix the mapping or the data, or raise "
            "max_rejected_ratio."
        )

    def _drain(self) -> None:
        """Send every open batch and wait for all of them (and for those waiting on them)."""
        if self._failure is None:
            for route in self.routes.values():
                if route.batch:
                    self._submit(route, route.take())
        self._read_ahead.wait_until_empty()  # nothing left in flight or waiting

    def _raise_failure(self) -> None:
        failure = self._failure
        if failure is None:
            return
        if isinstance(failure, SyncError):
            raise failure
        raise SyncError(f"Unexpected error while sending: {type(failure).__name__}: {failure}") from failure

    # --- reporting -------------------------------------------------------------------------------------

    def _progress_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.progress_interval):
            log.info("progress: %s", self._totals_line())

    def _totals_line(self) -> str:
        stats = [r.stats for r in self.routes.values()]
        read = sum(s.read for s in stats)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return (
            f"read {read}, written {sum(s.accepted for s in stats)}, merged {sum(s.merged for s in stats)}, "
            f"rejected {sum(s.rejected for s in stats)}, skipped {sum(s.skipped for s in stats)}, "
            f"states emitted {self._states_emitted}, "
            f"{read / elapsed:.0f} records/s"
        )

    def _report(self) -> None:
        verb = "would write" if self.dry_run else "written"
        for route in self.routes.values():
            s = route.stats
            if not s.read:
                continue
            line = (
                f"{stream_label(route.stream)} → {route.sink.object.name}.{route.sink.operation}: "
                f"read {s.read}, {verb} {s.accepted}, merged {s.merged}, rejected {s.rejected}, "
                f"skipped {s.skipped}"
            )
            if self.dry_run and s.actions:
                line += " (" + ", ".join(f"{action} {n}" for action, n in sorted(s.actions.items())) + ")"
            log.info(line)
            for reason, count in s.reasons.most_common(10):
                log.info("  rejected %d × %s", count, reason)
            for reason, count in s.skips.most_common(10):
                log.info("  skipped %d × %s", count, reason)
            for note, count in s.notes.most_common(10):
                log.info("  written %d × %s", count, note)
            summary = {
                "stream": route.stream[1],
                "namespace": route.stream[0],
                "read": s.read,
                "written": 0 if self.dry_run else s.accepted,
                "merged": s.merged,
                "rejected": s.rejected,
                "skipped": s.skipped,
                "reasons": s.reasons.most_common(5),
                "skips": s.skips.most_common(5),
                "notes": s.notes.most_common(5),
                "would": dict(s.actions) if self.dry_run else {},
            }
            self.output.analytics_trace(WRITE_SUMMARY, summary)
        if self._store is not None:
            self._store.report()
        if self.dry_run:
            log.info("dry run: nothing was written; %d state(s) withheld", self._states_withheld)
        log.info("done: %s", self._totals_line())

    def _check_trailing_records(self) -> None:
        """Records after a stream's last state are judged too (no state confirms them, but they count)."""
        for route in self.routes.values():
            s = route.stats
            if s.read and s.rejected / s.read > self.max_rejected_ratio:
                raise self._ratio_error(route.stream, _Tally(s.read, s.rejected))


def _stream_name(stream: StreamKey | None) -> str:
    return "all streams" if stream is None else f"stream {stream_label(stream)!r}"


def _describe_key(names: list[str], key: tuple[Any, ...] | None, primary_key: dict[str, Any] | None) -> str:
    """The match key, and the primary key (the catalog's) that traces the row when it says more."""
    match = None if key is None else dict(zip(names, key, strict=False))
    described = "(no match key)" if match is None else _pairs(match)
    if primary_key and primary_key != match:
        described += f" (primary key {_pairs(primary_key)})"
    return described


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())
