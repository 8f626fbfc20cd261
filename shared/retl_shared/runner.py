"""Pipe a source into a destination the way Airbyte's platform does, keeping only confirmed state.

Only RECORD and STATE messages reach the destination, as the raw bytes the source printed: each line
is parsed once, to learn its type and stream. A state is saved only when the destination echoes it,
because the echo is its promise that every record before it is durably written.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from retl_shared.protocol import CHANGE_COUNTS, WRITE_SUMMARY, state_stream_key

StreamKey = tuple[str | None, str]  # (namespace, name)
StateKey = StreamKey | None  # None: a GLOBAL or LEGACY state, which covers every stream

_CHUNK = 1 << 16  # a pipe's capacity: forward whatever the source wrote, up to this much, in one write
_SHOWN_LOG_LEVELS = {"FATAL", "ERROR", "WARN"}  # the rest only with --verbose
_STOP_GRACE_SECONDS = 10


class RunError(Exception):
    """The run could not start: a bad catalog or state file, or a command that cannot be executed."""


@dataclass(frozen=True)
class SyncOptions:
    source: list[str]
    source_config: Path
    destination: list[str]
    destination_config: Path
    catalog: Path
    state_file: Path
    verbose: bool = False
    live: bool = False  # a refreshing progress line (a terminal), else a plain line every 10 s


@dataclass
class StreamCounts:
    read: int = 0
    confirmed: int = 0  # records before the states the destination echoed (and the state file keeps)
    rejected: int = 0  # of those, rejected
    estimate: int | None = None  # rows the source expects to read (its ESTIMATE trace)
    # From the destination's summary at the end of its write (an ANALYTICS trace), when it sends one:
    written: int | None = None
    merged: int = 0
    skipped: int = 0
    reasons: list[tuple[int, str]] = field(default_factory=list)  # the commonest rejections
    skips: list[tuple[int, str]] = field(default_factory=list)  # the commonest reasons to skip
    notes: list[tuple[int, str]] = field(default_factory=list)  # written, with a note (e.g. renamed)
    would: dict[str, int] = field(default_factory=dict)  # dry run: what would happen
    changes: dict[str, int] = field(default_factory=dict)  # diff streams: added, updated, deleted, unmodified


@dataclass
class SideResult:
    """How one connector ended and the TRACE errors it emitted."""

    name: str
    exit_code: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False  # the source, terminated by us because the destination was gone

    def failure(self) -> str | None:
        if self.exit_code == 0:
            return None
        if self.stopped:
            return f"{self.name} was stopped because the destination exited early"
        text = f"{self.name} failed ({_describe_exit(self.exit_code)})"
        if self.errors:
            error = self.errors[0]
            text += f": {error.get('failure_type', 'error')}: {error.get('message', '')}"
        return text


@dataclass
class SyncResult:
    streams: dict[StateKey, StreamCounts]
    source: SideResult
    destination: SideResult
    elapsed: float
    destination_exited_early: bool = False

    @property
    def ok(self) -> bool:
        both_succeeded = self.source.exit_code == 0 and self.destination.exit_code == 0
        return both_succeeded and not self.destination_exited_early

    def failures(self) -> list[str]:
        found = [side.failure() for side in (self.destination, self.source)]
        if self.destination_exited_early and self.destination.exit_code == 0:
            found.insert(0, "destination exited before reading every record")
        return [text for text in found if text]


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


class StateFile:
    """The destination-confirmed state: latest per stream, rewritten atomically on each confirmation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._states: dict[StateKey, dict[str, Any]] = {state_stream_key(s): s for s in self._load()}

    def _load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            states = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise RunError(f"cannot read state file {self.path}: {exc}") from None
        if not isinstance(states, list) or not all(isinstance(s, dict) for s in states):
            raise RunError(f"state file {self.path} is not a JSON list of state messages")
        return states

    def save(self, state: dict[str, Any]) -> None:
        """Merge one confirmed state (STREAM per stream; GLOBAL or LEGACY replace all) and write the file."""
        key = state_stream_key(state)
        if key is None:
            self._states.clear()
        else:
            self._states.pop(None, None)
        self._states[key] = state
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as file:
            file.write(orjson.dumps(list(self._states.values()), option=orjson.OPT_INDENT_2))
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self.path)


class Console:
    """stderr shared by the pipe threads; on a terminal the progress line stays below other output."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self._stream = stream
        self._live = live
        self._status = ""
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            if self._status:
                self._stream.write("\r\x1b[K")
            self._stream.write(text + "\n")
            self._stream.write(self._status)
            self._stream.flush()

    def status(self, text: str) -> None:
        if not self._live:
            self.line(text)
            return
        with self._lock:
            self._status = text[: shutil.get_terminal_size().columns - 1]
            self._stream.write("\r\x1b[K" + self._status)
            self._stream.flush()

    def clear(self) -> None:
        with self._lock:
            if self._status:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
            self._status = ""


def run_sync(options: SyncOptions, stderr: TextIO) -> SyncResult:
    """Run one sync; raises RunError when it cannot start."""
    return _Sync(options, Console(stderr, options.live)).run()


class _Sync:
    def __init__(self, options: SyncOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.state_file = StateFile(options.state_file)
        self.counts: dict[StateKey, StreamCounts] = {key: StreamCounts() for key in _catalog_streams(options)}
        # states sent to the destination and not yet confirmed, with the records read before each
        self.pending: dict[StateKey, list[tuple[dict[str, Any], int]]] = {}
        self.read_at_last_state: dict[StateKey, int] = {}
        self.lock = threading.Lock()
        self.source = SideResult("source")
        self.destination = SideResult("destination")
        self.source_done = threading.Event()
        self.destination_exited_early = False
        self.crash: BaseException | None = None

    def run(self) -> SyncResult:
        started = time.monotonic()
        self.destination_process = _start(
            "destination",
            [*self.options.destination, "write", *self._config_args(self.options.destination_config)],
            stdin=subprocess.PIPE,
        )
        try:
            self.source_process = _start("source", self._source_command(), stdin=subprocess.DEVNULL)
        except RunError:
            self.destination_process.kill()
            self.destination_process.wait()
            raise
        pipes = [
            self._thread(self._pump_source),
            self._thread(self._read_destination),
            self._thread(self._show_stderr, self.source, self.source_process),
            self._thread(self._show_stderr, self.destination, self.destination_process),
        ]
        finished = threading.Event()
        progress = self._thread(self._show_progress, started, finished)
        try:
            for thread in pipes:
                thread.join()
            self.source.exit_code = self.source_process.wait()
            self.destination.exit_code = self.destination_process.wait()
        finally:
            self._kill_all()
            finished.set()
            progress.join()
            self.console.clear()
        if self.crash is not None:
            raise self.crash
        return SyncResult(
            self.counts,
            self.source,
            self.destination,
            time.monotonic() - started,
            self.destination_exited_early,
        )

    def _source_command(self) -> list[str]:
        command = [*self.options.source, "read", *self._config_args(self.options.source_config)]
        if self.options.state_file.exists():
            command += ["--state", str(self.options.state_file)]
        return command

    def _config_args(self, config: Path) -> list[str]:
        return ["--config", str(config), "--catalog", str(self.options.catalog)]

    def _thread(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        """Start a daemon thread; if it crashes, stop both connectors so that no pipe blocks forever."""

        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:
                self.crash = self.crash or exc
                self._kill_all()

        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()
        return thread

    def _kill_all(self) -> None:
        for process in (self.source_process, self.destination_process):
            if process.poll() is None:
                process.kill()

    def _pump_source(self) -> None:
        """Forward each chunk of RECORD and STATE lines in one write, so the destination keeps pace."""
        assert self.source_process.stdout and self.destination_process.stdin
        destination = self.destination_process.stdin
        try:
            for lines in _line_chunks(self.source_process.stdout):
                forward: list[bytes] = []
                for line in lines:
                    message = _parse(line)
                    if message is None:
                        self._show_stray(self.source, line)
                    elif message["type"] == "RECORD":
                        self._count_record(message.get("record") or {})
                        forward.append(line)
                    elif message["type"] == "STATE":
                        self._send_state(message.get("state") or {})
                        forward.append(line)
                    else:
                        self._show(self.source, message)
                if forward:
                    destination.write(b"\n".join(forward) + b"\n")
                    destination.flush()
        except BrokenPipeError:
            self._destination_gone()
        finally:
            self.source_done.set()  # before closing stdin: the destination cannot finish earlier
            try:
                destination.close()
            except BrokenPipeError:
                self._destination_gone()

    def _count_record(self, record: dict[str, Any]) -> None:
        key = (record.get("namespace"), record.get("stream", ""))
        with self.lock:
            self._counts(key).read += 1

    def _send_state(self, state: dict[str, Any]) -> None:
        """Remember a state and how many records preceded it, to match the destination's echo later."""
        key = state_stream_key(state)
        with self.lock:
            read = sum(c.read for c in self.counts.values()) if key is None else self._counts(key).read
            records = read - self.read_at_last_state.get(key, 0)
            self.read_at_last_state[key] = read
            self.pending.setdefault(key, []).append((state, records))

    def _counts(self, key: StateKey) -> StreamCounts:
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = StreamCounts()
        return counts

    def _read_destination(self) -> None:
        assert self.destination_process.stdout
        for line in self.destination_process.stdout:
            message = _parse(line)
            if message is None:
                self._show_stray(self.destination, line)
            elif message["type"] == "STATE":
                self._confirm(message.get("state") or {})
            else:
                self._show(self.destination, message)
        self.destination_process.wait()
        if not self.source_done.is_set():
            self._destination_gone()

    def _confirm(self, state: dict[str, Any]) -> None:
        """Save a state the destination echoed, if it is one it was sent and not confirmed yet."""
        key = state_stream_key(state)
        sent = {name: value for name, value in state.items() if name != "destinationStats"}
        with self.lock:
            queue = self.pending.get(key, [])
            index = next((i for i, (pending, _) in enumerate(queue) if pending == sent), None)
            if index is not None:
                stats = state.get("destinationStats") or {}
                counts = self._counts(key)
                # an echo also confirms every earlier state of the stream the destination skipped
                counts.confirmed += int(stats.get("recordCount", sum(n for _, n in queue[: index + 1])))
                counts.rejected += int(stats.get("rejectedRecordCount", 0))
                del queue[: index + 1]
        if index is None:
            self.console.line(
                f"destination WARN: ignored a state it was not sent or that is older than one it confirmed"
                f" ({_stream_name(key)})"
            )
            return
        self.state_file.save(state)

    def _destination_gone(self) -> None:
        """The destination stopped reading: stop the source, which would otherwise block or run on."""
        self.destination_exited_early = True
        process = self.source_process
        if process.poll() is None:
            self.source.stopped = True
            process.terminate()
            try:
                process.wait(_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()

    def _show(self, side: SideResult, message: dict[str, Any]) -> None:
        """Print LOG messages (WARN and up unless verbose) and TRACE errors; keep the counts the ESTIMATE
        and ANALYTICS traces carry; other messages are dropped."""
        trace = message.get("trace") if message["type"] == "TRACE" else None
        if isinstance(trace, dict) and trace.get("type") in ("ESTIMATE", "ANALYTICS"):
            self._take_counts(trace)
            return
        if message["type"] == "LOG":
            log = message.get("log") or {}
            level = str(log.get("level", "INFO")).upper()
            if self.options.verbose or level in _SHOWN_LOG_LEVELS:
                self.console.line(f"{side.name} {level}: {log.get('message', '')}")
        elif message["type"] == "TRACE" and (message.get("trace") or {}).get("type") == "ERROR":
            error = message["trace"].get("error") or {}
            side.errors.append(error)
            self.console.line(
                f"{side.name} ERROR ({error.get('failure_type', 'unknown')}): {error.get('message', '')}"
            )
            if self.options.verbose and error.get("internal_message"):
                self.console.line(f"  {error['internal_message']}")

    def _take_counts(self, trace: dict[str, Any]) -> None:
        if trace["type"] == "ESTIMATE":
            estimate = trace.get("estimate") or {}
            if isinstance(estimate.get("row_estimate"), int) and isinstance(estimate.get("name"), str):
                with self.lock:
                    self._counts((estimate.get("namespace"), estimate["name"])).estimate = estimate[
                        "row_estimate"
                    ]
            return
        analytics = trace.get("analytics") or {}
        try:
            value = orjson.loads(analytics.get("value") or "null")
        except orjson.JSONDecodeError:
            return
        if not isinstance(value, dict) or not isinstance(value.get("stream"), str):
            return
        with self.lock:
            counts = self._counts((value.get("namespace"), value["stream"]))
            if analytics.get("type") == WRITE_SUMMARY:
                counts.written = int(value.get("written", 0))
                counts.merged = int(value.get("merged", 0))
                counts.skipped = int(value.get("skipped", 0))
                counts.reasons = [(int(n), str(reason)) for reason, n in value.get("reasons") or []]
                counts.skips = [(int(n), str(reason)) for reason, n in value.get("skips") or []]
                counts.notes = [(int(n), str(note)) for note, n in value.get("notes") or []]
                counts.would = {str(k): int(v) for k, v in (value.get("would") or {}).items()}
            elif analytics.get("type") == CHANGE_COUNTS:
                counts.changes = {
                    k: int(value.get(k, 0)) for k in ("added", "updated", "deleted", "unmodified")
                }

    def _show_stray(self, side: SideResult, line: bytes) -> None:
        """A stdout line that is not a protocol message: the platform logs it at INFO, so only with -v."""
        if self.options.verbose and line.strip():
            self.console.line(f"{side.name}: {line.decode(errors='replace').rstrip()}")

    def _show_stderr(self, side: SideResult, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr
        for line in process.stderr:
            self.console.line(f"{side.name}: {line.decode(errors='replace').rstrip()}")

    def _show_progress(self, started: float, finished: threading.Event) -> None:
        interval = 0.5 if self.options.live else 10.0
        last_time, last_read = started, 0
        while not finished.wait(interval):
            with self.lock:
                streams = [(key, replace(c)) for key, c in self.counts.items()]
            read = sum(c.read for _, c in streams)
            now = time.monotonic()
            rate = (read - last_read) / (now - last_time)
            last_time, last_read = now, read
            confirmed = sum(c.confirmed for _, c in streams)
            rejected = sum(c.rejected for _, c in streams)
            text = (
                f"read {read:,}{_share(streams, read, rate)} | written {confirmed - rejected:,}"
                f" | rejected {rejected:,} | {rate:,.0f}/s | {_clock(now - started)}"
            )
            named = [(key, c) for key, c in streams if key is not None]
            if 1 < len(named) <= 3:
                text += (
                    "  [" + ", ".join(f"{_stream_name(k)} {c.read:,}/{c.confirmed:,}" for k, c in named) + "]"
                )
            self.console.status(text)


def _start(name: str, command: list[str], stdin: int) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise RunError(f"cannot start the {name} ({command[0]}): {exc}") from None


def _catalog_streams(options: SyncOptions) -> list[StreamKey]:
    """The configured streams, so that the summary lists them in order even when they had no records."""
    try:
        catalog = orjson.loads(options.catalog.read_bytes())
        return [(s["stream"].get("namespace"), s["stream"]["name"]) for s in catalog["streams"]]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise RunError(f"cannot read configured catalog {options.catalog}: {exc!r}") from None


def _line_chunks(stream: IO[bytes]) -> Iterator[list[bytes]]:
    """The complete lines of each chunk as it arrives, without waiting for a buffer to fill."""
    partial: list[bytes] = []
    while chunk := stream.read1(_CHUNK):  # type: ignore[attr-defined]  # Popen pipes are BufferedReaders
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            partial.append(chunk)
            continue
        if partial:
            lines[0] = b"".join([*partial, lines[0]])
            partial = []
        tail = lines.pop()
        if tail:
            partial.append(tail)
        yield lines
    if partial:
        yield [b"".join(partial)]


def _parse(line: bytes) -> dict[str, Any] | None:
    """A protocol message, or None for anything else: like the platform, the runner tolerates stray lines."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None


def _stream_name(key: StateKey) -> str:
    if key is None:
        return "(global state)"
    namespace, name = key
    return f"{namespace}.{name}" if namespace else name


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _share(streams: list[tuple[StateKey, StreamCounts]], read: int, rate: float) -> str:
    """ " of ~N (P %), ETA" from the source's estimates, once every stream read so far has one."""
    estimates = [c.estimate for key, c in streams if key is not None and (c.read or c.estimate is not None)]
    if not estimates or None in estimates:
        return ""
    expected = max(sum(e for e in estimates if e is not None), read)
    text = f" of ~{expected:,} ({read / expected:.0%})" if expected else ""
    if rate > 0 and expected > read:
        text += f", ETA {_clock((expected - read) / rate)}"
    return text


SUMMARY_COLUMNS = ("read", "written", "merged", "rejected", "skipped", "confirmed")


def format_summary(result: SyncResult) -> str:
    """A per-stream table (read, written, merged, rejected, skipped, and the records the saved state
    confirms), the commonest rejections, a dry run's preview, then exit codes and elapsed time."""
    rows = [["stream", *SUMMARY_COLUMNS]]
    totals = dict.fromkeys(SUMMARY_COLUMNS, 0)
    notes: list[str] = []
    for key, c in result.streams.items():
        written = c.written if c.written is not None else c.confirmed - c.rejected
        rejected = max(c.rejected, sum(n for n, _ in c.reasons))
        values = {"read": c.read, "written": written, "merged": c.merged, "rejected": rejected}
        values |= {"skipped": c.skipped, "confirmed": c.confirmed}
        for column, value in values.items():
            totals[column] += value
        cells = [f"{values[column]:,}" for column in SUMMARY_COLUMNS]
        if key is None:  # a GLOBAL state's counts cover every stream
            cells[0] = ""
        rows.append([_stream_name(key), *cells])
        name = _stream_name(key)
        if c.changes:
            notes.append(f"{name}: " + ", ".join(f"{kind} {n:,}" for kind, n in c.changes.items()))
        if c.would:
            notes.append(
                f"{name}: dry run, would " + ", ".join(f"{what} {n:,}" for what, n in c.would.items())
            )
        notes += [f"{name}: rejected {n:,} × {reason}" for n, reason in c.reasons]
        notes += [f"{name}: skipped {n:,} × {reason}" for n, reason in c.skips]
        notes += [f"{name}: written {n:,} × {note}" for n, note in c.notes]
    rows.append(["total", *(f"{totals[column]:,}" for column in SUMMARY_COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        numbers = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        lines.append("  ".join([row[0].ljust(widths[0]), *numbers]))
    lines += notes
    lines.append(
        f"source {_describe_exit(result.source.exit_code)} | destination"
        f" {_describe_exit(result.destination.exit_code)} | elapsed {_clock(result.elapsed)}"
    )
    return "\n".join(lines)
