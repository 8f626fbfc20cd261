"""`retl run` against fake connectors: piping, confirmed-state bookkeeping, failures and the summary."""

from __future__ import annotations

import io
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retl_shared.cli import main
from retl_shared.runner import Console, StateFile, SyncOptions, format_summary, run_sync

FAKES = Path(__file__).parent / "fake_connectors"


def summary_rows(text: str) -> dict[str, dict[str, str]]:
    """The summary table as stream → column → cell."""
    lines = text.splitlines()
    header = lines[0].split()
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        if len(cells) == len(header):
            rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


def stream_state(name: str, cursor: int, **extra: Any) -> dict[str, Any]:
    descriptor = {"stream_descriptor": {"name": name}, "stream_state": {"cursor": cursor}}
    return {"type": "STREAM", "stream": descriptor, **extra}


@dataclass
class Outcome:
    code: int
    out: str
    err: str


class Sync:
    """One working directory with configs, a catalog and a state file, run through `retl run`."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.dir = tmp_path
        self.capsys = capsys
        self.state_file = tmp_path / "state.json"
        self.output = tmp_path / "received.jsonl"
        catalog = {"streams": [self._configured(name) for name in ("users", "orders")]}
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    @staticmethod
    def _configured(name: str) -> dict[str, Any]:
        stream = {"name": name, "json_schema": {}, "supported_sync_modes": ["incremental"]}
        return {"stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}

    def options(self, source: dict[str, Any], destination: dict[str, Any]) -> SyncOptions:
        """Write both configs; the options name the fake connectors run by this Python."""
        (self.dir / "source.json").write_text(json.dumps(source))
        (self.dir / "destination.json").write_text(json.dumps({"output": str(self.output), **destination}))
        return SyncOptions(
            source=[sys.executable, str(FAKES / "source.py")],
            source_config=self.dir / "source.json",
            destination=[sys.executable, str(FAKES / "destination.py")],
            destination_config=self.dir / "destination.json",
            catalog=self.dir / "catalog.json",
            state_file=self.state_file,
        )

    def args(self, source: dict[str, Any], destination: dict[str, Any]) -> list[str]:
        options = self.options(source, destination)
        return [
            "run",
            f"--source={shlex.join(options.source)}",
            f"--source-config={options.source_config}",
            f"--destination={shlex.join(options.destination)}",
            f"--destination-config={options.destination_config}",
            f"--catalog={options.catalog}",
            f"--state-file={options.state_file}",
        ]

    def run(self, source: dict[str, Any], destination: dict[str, Any] | None = None, *flags: str) -> Outcome:
        code = main([*self.args(source, destination or {}), *flags])
        captured = self.capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    def saved(self) -> list[dict[str, Any]]:
        return json.loads(self.state_file.read_text())

    def cursors(self) -> dict[str, int]:
        return {
            s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["cursor"]
            for s in self.saved()
        }

    def received(self) -> list[tuple[str, int]]:
        lines = self.output.read_text().splitlines() if self.output.exists() else []
        return [(r["stream"], r["data"]["id"]) for r in (json.loads(line)["record"] for line in lines)]


@pytest.fixture
def sync(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Sync:
    return Sync(tmp_path, capsys)


TWO_STREAMS = {"streams": {"users": 5, "orders": 3}, "state_every": 2}


def test_pipes_records_and_saves_confirmed_states(sync: Sync) -> None:
    outcome = sync.run(TWO_STREAMS, {"stats": True})

    assert outcome.code == 0, outcome.err
    assert sync.received() == [("users", i) for i in range(5)] + [("orders", i) for i in range(3)]
    assert sync.saved() == [
        stream_state("users", 5, destinationStats={"recordCount": 1, "rejectedRecordCount": 0}),
        stream_state("orders", 3, destinationStats={"recordCount": 1, "rejectedRecordCount": 0}),
    ]
    assert "source WARN: source warning" in outcome.err
    assert "INFO" not in outcome.err


def test_verbose_shows_info_logs_and_stray_lines(sync: Sync) -> None:
    outcome = sync.run({**TWO_STREAMS, "stray": True}, {"stray_output": True}, "-v")

    assert outcome.code == 0, outcome.err
    assert "source INFO: starting from {}" in outcome.err
    assert "destination INFO: destination info" in outcome.err
    assert "source: not a protocol message" in outcome.err
    assert "destination: stray destination output" in outcome.err


def test_next_run_passes_state_and_resumes(sync: Sync) -> None:
    argv_file = sync.dir / "argv.json"
    assert sync.run({**TWO_STREAMS, "argv_file": str(argv_file)}).code == 0
    assert "--state" not in json.loads(argv_file.read_text())
    sync.output.unlink()

    outcome = sync.run({"streams": {"users": 7, "orders": 3}, "argv_file": str(argv_file)})

    assert outcome.code == 0, outcome.err
    assert json.loads(argv_file.read_text())[-2:] == ["--state", str(sync.state_file)]
    assert sync.received() == [("users", 5), ("users", 6)]
    assert sync.cursors() == {"users": 7, "orders": 3}


def test_keeps_states_of_streams_not_in_this_run(sync: Sync) -> None:
    sync.state_file.write_text(json.dumps([stream_state("users", 4), stream_state("archived", 9)]))

    assert sync.run({"streams": {"users": 6}}).code == 0

    assert sync.cursors() == {"users": 6, "archived": 9}
    assert sync.received() == [("users", 4), ("users", 5)]


def test_global_state_replaces_all_and_stream_state_replaces_global(tmp_path: Path) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.save(stream_state("users", 1))
    state_file.save(stream_state("orders", 2))
    state_file.save(stream_state("users", 3))
    assert json.loads(state_file.path.read_text()) == [stream_state("users", 3), stream_state("orders", 2)]

    global_state = {"type": "GLOBAL", "global": {"shared_state": {"lsn": 7}, "stream_states": []}}
    state_file.save(global_state)
    assert json.loads(state_file.path.read_text()) == [global_state]

    state_file.save(stream_state("users", 4))
    assert json.loads(state_file.path.read_text()) == [stream_state("users", 4)]
    assert not (tmp_path / "state.json.tmp").exists()


def test_state_the_destination_did_not_echo_is_not_saved(sync: Sync) -> None:
    # states: users@2, users@4, users@5 (dropped), orders@2, orders@3
    outcome = sync.run(TWO_STREAMS, {"drop_states": [3]})

    assert outcome.code == 0, outcome.err
    assert sync.cursors() == {"users": 4, "orders": 3}
    assert summary_rows(outcome.out)["users"]["confirmed"] == "4"  # no destinationStats: records before it


def test_out_of_order_echo_does_not_move_state_back(sync: Sync) -> None:
    # the destination echoes users@5 before users@4: users@4 is stale and ignored
    outcome = sync.run(TWO_STREAMS, {"hold_states": [2]})

    assert outcome.code == 0, outcome.err
    assert sync.cursors() == {"users": 5, "orders": 3}
    assert "ignored a state it was not sent or that is older than one it confirmed (users)" in outcome.err


def test_destination_failure_keeps_what_it_confirmed(sync: Sync) -> None:
    outcome = sync.run(TWO_STREAMS, {"fail_after": 3})

    assert outcome.code == 1
    assert "destination ERROR (config_error): invalid API key" in outcome.err
    assert "retl: destination failed (exit 1): config_error: invalid API key" in outcome.err
    assert sync.cursors() == {"users": 2}


def test_destination_exiting_early_stops_a_fast_source(sync: Sync) -> None:
    started = time.monotonic()
    outcome = sync.run({"streams": {"users": 2_000_000}}, {"fail_after": 10})

    assert outcome.code == 1
    assert time.monotonic() - started < 5
    assert "retl: source was stopped because the destination exited early" in outcome.err
    assert not sync.state_file.exists()


def test_destination_exiting_early_stops_a_waiting_source(sync: Sync) -> None:
    started = time.monotonic()
    outcome = sync.run({"streams": {"users": 5}, "sleep_after": 2}, {"fail_after": 1})

    assert outcome.code == 1
    assert time.monotonic() - started < 5
    assert "retl: destination failed (exit 1): config_error: invalid API key" in outcome.err
    assert "source killed by SIGTERM" in outcome.out


def test_source_trace_error_fails_the_run_after_the_destination_commits(sync: Sync) -> None:
    outcome = sync.run({**TWO_STREAMS, "fail_after": 3})

    assert outcome.code == 1
    assert "source ERROR (system_error): warehouse unreachable" in outcome.err
    assert "retl: source failed (exit 1): system_error: warehouse unreachable" in outcome.err
    assert "source exit 1 | destination exit 0" in outcome.out
    assert sync.received() == [("users", 0), ("users", 1), ("users", 2)]
    assert sync.cursors() == {"users": 2}


def test_summary_counts_read_confirmed_and_rejected(sync: Sync) -> None:
    result = run_sync(sync.options(TWO_STREAMS, {"stats": True, "reject_ids": [1, 3]}), io.StringIO())

    assert result.ok
    counts = {key[1]: (c.read, c.confirmed, c.rejected) for key, c in result.streams.items() if key}
    assert counts == {"users": (5, 5, 2), "orders": (3, 3, 1)}
    table = format_summary(result).splitlines()
    assert table[:4] == [
        "stream  read  written  merged  rejected  skipped  confirmed",
        "users      5        3       0         2        0          5",
        "orders     3        2       0         1        0          3",
        "total      8        5       0         3        0          8",
    ]
    assert table[4].startswith("source exit 0 | destination exit 0 | elapsed 0:00:0")


def test_the_destinations_summary_and_the_sources_estimates_reach_the_table_and_progress(sync: Sync) -> None:
    summary = {"stream": "users", "read": 5, "written": 2, "merged": 1, "rejected": 2, "skipped": 0,
               "reasons": [["email: not an email", 2]], "notes": [["renamed 'a' to 'a_backfill'", 1]],
               "would": {}}  # fmt: skip
    result = run_sync(
        sync.options(
            {**TWO_STREAMS, "estimates": True}, {"stats": True, "reject_ids": [1, 3], "summary": summary}
        ),
        io.StringIO(),
    )
    table = format_summary(result)
    assert summary_rows(table)["users"] == {
        "read": "5", "written": "2", "merged": "1", "rejected": "2", "skipped": "0", "confirmed": "5"
    }  # fmt: skip
    assert "users: rejected 2 × email: not an email" in table
    assert "users: written 1 × renamed 'a' to 'a_backfill'" in table
    assert result.streams[(None, "users")].estimate == 5


def test_progress_shows_the_share_of_the_estimate_and_an_eta() -> None:
    from retl_shared.runner import StreamCounts, _share

    streams = [((None, "users"), StreamCounts(read=250, estimate=1000)), ((None, "orders"), StreamCounts())]
    assert _share(streams, 250, 50.0) == " of ~1,000 (25%), ETA 0:00:15"
    assert _share([((None, "users"), StreamCounts(read=10))], 10, 5.0) == ""  # no estimate: no share


def test_plain_progress_lines_and_live_status_line() -> None:
    plain = io.StringIO()
    Console(plain, live=False).status("read 10")
    assert plain.getvalue() == "read 10\n"

    live = io.StringIO()
    console = Console(live, live=True)
    console.status("read 10")
    console.line("source WARN: slow")
    console.clear()
    assert live.getvalue() == "\r\x1b[Kread 10\r\x1b[Ksource WARN: slow\nread 10\r\x1b[K"


def test_unstartable_command_and_bad_state_file(sync: Sync) -> None:
    args = sync.args(TWO_STREAMS, {})
    assert main([*args, "--source=/nonexistent/source-command"]) == 2
    assert "cannot start the source (/nonexistent/source-command)" in sync.capsys.readouterr().err

    sync.state_file.write_text("{not json")
    assert main(args) == 2
    assert "cannot read state file" in sync.capsys.readouterr().err
