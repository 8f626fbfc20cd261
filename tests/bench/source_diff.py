"""What change detection by diff costs, against a full read of the same model, in the same run.

The source bench's 8-column model is copied, synced once with ``change_detection: diff`` (every row
added: the baseline), then changed by 1 % of its row count – 0.5 % updated, 0.25 % deleted, 0.25 %
inserted – and synced again from the first sync's state: that second sync snapshots and fingerprints
every row, diffs the snapshots and reads and sends only the 1 %. A third sync finds nothing to send
(the diff's fixed cost), and a full refresh reads the whole changed model. Each runs as Airbyte runs
it, the console script in its own process; peak RSS shows memory staying flat.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import duckdb

from tests.bench.source import (
    BENCH_DIR,
    RECORD_MARKER,
    RSS_WRAPPER,
    SOURCE_SCRIPT,
    Run,
    model_database,
    source_command,
)

STATE_MARKER = b'{"type":"STATE"'


def changes_sql(rows: int) -> list[str]:
    """1 % of ``rows`` changed, by disjoint keys: 0.5 % updated, 0.25 % deleted, 0.25 % inserted."""
    return [
        "UPDATE customers SET score = score + 1 WHERE id % 200 = 7",
        "DELETE FROM customers WHERE id % 400 = 11",
        f"INSERT INTO customers SELECT * REPLACE (id + {rows} AS id) FROM customers WHERE id % 400 = 13",
    ]


def diff_command(database: Path, state: dict[str, Any] | None) -> list[str]:
    """``source-warehouse-model read`` of the model declared with change_detection diff, incremental."""
    config = {
        "warehouse": {"type": "duckdb", "path": str(database)},
        "models": [
            {"name": "customers", "relation": "customers", "primary_key": ["id"], "change_detection": "diff"}
        ],
    }
    stream = {"name": "customers", "json_schema": {}, "supported_sync_modes": ["incremental"]}
    configured = {"stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}
    paths = {name: database.with_suffix(f".diff-{name}.json") for name in ("config", "catalog", "state")}
    paths["config"].write_text(json.dumps(config))
    paths["catalog"].write_text(json.dumps({"streams": [configured]}))
    command = [
        str(SOURCE_SCRIPT),
        "read",
        "--config",
        str(paths["config"]),
        "--catalog",
        str(paths["catalog"]),
    ]
    if state is not None:
        paths["state"].write_text(json.dumps([state]))
        command += ["--state", str(paths["state"])]
    return command


def measure(command: list[str], records: int) -> tuple[Run, dict[str, Any] | None]:
    """Run the command, check it wrote ``records`` RECORD lines; its Run and the last STATE it wrote."""
    rss_file = BENCH_DIR / "peak-rss.txt"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", RSS_WRAPPER, str(rss_file), *command], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    written, output_bytes, state = read_output(process.stdout)
    process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0 or written != records:
        raise RuntimeError(f"{command[0]} exited {process.returncode} after {written} of {records} records")
    run = Run(records, seconds, int(rss_file.read_text()) / 1024, output_bytes / 1e6)  # KiB on Linux
    return run, json.loads(state)["state"] if state else None


def read_output(stream: IO[bytes]) -> tuple[int, int, bytes]:
    """RECORD lines, bytes, and the last STATE line; counted on whole lines, read a megabyte at a time."""
    records = total = 0
    pending, state = b"", b""
    while chunk := stream.read(1 << 20):
        total += len(chunk)
        data = pending + chunk
        end = data.rfind(b"\n") + 1
        lines, pending = data[:end], data[end:]
        records += lines.count(RECORD_MARKER)
        found = lines.rfind(STATE_MARKER)
        if found >= 0:
            state = lines[found : lines.index(b"\n", found)]
    return records, total, state


def main(quick: bool = False) -> None:
    rows = 100_000 if quick else 1_000_000
    changed = rows // 100
    database = BENCH_DIR / f"diff-{rows}.duckdb"
    shutil.copyfile(model_database(rows), database)  # the source bench's model, changed below
    database.with_suffix(".retl.duckdb").unlink(missing_ok=True)
    print(f"a model of {rows:,} rows x 8 columns, then {changed:,} of them changed; in {BENCH_DIR}/")

    print(f"{'sync':<28} {'records':>10} {'seconds':>8} {'peak RSS':>9}")
    runs: dict[str, Run] = {}

    def report(name: str, run: Run) -> None:
        runs[name] = run
        print(f"{name:<28} {run.rows:>10,} {run.seconds:>8.2f} {run.peak_rss_mb:>7.0f}MB", flush=True)

    first, state = measure(diff_command(database, None), rows)
    report("diff, first (all added)", first)
    with duckdb.connect(str(database)) as connection:
        for statement in changes_sql(rows):
            connection.execute(statement)
    diff, state = measure(diff_command(database, state), changed)
    report("diff, 1 % changed", diff)
    unchanged, _ = measure(diff_command(database, state), 0)
    report("diff, nothing changed", unchanged)
    full, _ = measure(source_command(database), rows)
    report("full refresh read", full)

    print()
    ratio = diff.seconds / full.seconds
    print(
        f"diff of 1 % vs full read of {rows:,} rows: {diff.seconds:.2f}s vs {full.seconds:.2f}s ="
        f" {ratio:.2f}x the time; nothing changed: {unchanged.seconds / full.seconds:.2f}x"
    )
    print(
        f"peak RSS: diff {diff.peak_rss_mb:.0f}MB, full read {full.peak_rss_mb:.0f}MB, first diff sync"
        f" {first.peak_rss_mb:.0f}MB"
    )
