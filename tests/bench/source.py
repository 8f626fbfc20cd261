"""How fast, and in how much memory, the source's console script reads a large DuckDB model.

The source runs exactly as Airbyte runs it (the ``source-warehouse-model read`` console script, in
its own process, its stdout read through a pipe), beside two references run the same way on the same
model. The floor: a script that fetches the rows from DuckDB and writes them as RECORD lines with
orjson, the simplest Python path there is; the aim is at least 0.9x its rate, the connector's own
work (types, schemas, states, traces) included. The anchor: DuckDB writing RECORD lines itself
(``COPY ... TO '/dev/stdout' (FORMAT JSON)``), no Python per row at all, which the source approaches
by having DuckDB write each record's JSON. Each figure is a ratio to these, measured in the same run.

Peak RSS at two sizes shows whether memory stays flat as the model grows, as it should: the reader
fetches and writes a fixed number of rows at a time. DuckDB itself holds more of a larger file (the
floor shows it too), so the source's own share is its peak RSS over the floor's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb

from tests.bench._report import Figure

BENCH_DIR = Path(__file__).parents[2] / ".bench"
SOURCE_SCRIPT = Path(sys.executable).parent / "source-warehouse-model"

# Eight columns of mixed types; range() generates millions of rows in a second or two.
MODEL_SQL = """
CREATE TABLE customers AS
SELECT range AS id,
       'customer' || range || '@example.com' AS email,
       'Customer ' || range AS name,
       CAST((range % 1000000) / 100 AS DECIMAL(12, 2)) AS lifetime_value,
       CAST(range % 1000 AS DOUBLE) / 7 AS score,
       range % 3 = 0 AS is_active,
       TIMESTAMP '2024-01-01' + to_seconds(range) AS updated_at,
       DATE '2020-01-01' + CAST(range % 3650 AS INTEGER) AS signup_date
FROM range({rows})
"""

# The floor: fetch in batches, build the same RECORD envelope, write with orjson. Decimals are the
# only values orjson cannot write itself; like the source, it writes their exact digits.
FLOOR_SCRIPT = """
import sys, time, duckdb, orjson
connection = duckdb.connect(sys.argv[1], read_only=True)
cursor = connection.execute("SELECT * FROM customers")
names = [column[0] for column in cursor.description]
out = sys.stdout.buffer
while rows := cursor.fetchmany(10_000):
    emitted_at = int(time.time() * 1000)
    out.write(b"".join(
        orjson.dumps(
            {"type": "RECORD", "record": {"stream": "customers", "data": dict(zip(names, row)),
             "emitted_at": emitted_at, "namespace": "main"}},
            default=lambda value: orjson.Fragment(str(value)),
            option=orjson.OPT_APPEND_NEWLINE,
        )
        for row in rows
    ))
"""

# The anchor: DuckDB writes the RECORD lines itself, envelope and all, the row as the record's data.
# Its progress bar, drawn on stdout once a COPY runs for two seconds, would land among the lines.
ANCHOR_SCRIPT = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
connection.execute("SET enable_progress_bar = false")
connection.execute(
    "COPY (SELECT 'RECORD' AS type, {'stream': 'customers', 'data': c, 'emitted_at': epoch_ms(now()),"
    " 'namespace': 'main'} AS record FROM customers AS c) TO '/dev/stdout' (FORMAT JSON)"
)
"""

# Each measured command runs under a fresh, small interpreter, whose RUSAGE_CHILDREN then holds that
# command's peak RSS alone. Measured from this process it would not: a child's ru_maxrss starts at its
# parent's RSS when spawned, and this one holds DuckDB and the models it built.
RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""

RECORD_MARKER = b'{"type":"RECORD"'


@dataclass(frozen=True)
class Run:
    """One measured child process."""

    rows: int
    seconds: float
    peak_rss_mb: float
    output_mb: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def model_database(rows: int) -> Path:
    """The model with ``rows`` rows, built once into .bench/ and reused by later runs."""
    path = BENCH_DIR / f"source-{rows}.duckdb"
    if not path.exists():
        BENCH_DIR.mkdir(exist_ok=True)
        building = path.with_suffix(".building")
        building.unlink(missing_ok=True)
        with duckdb.connect(str(building)) as connection:
            connection.execute(MODEL_SQL.format(rows=rows))
        building.rename(path)  # a build cut short never passes for a finished one
    return path


def source_command(database: Path) -> list[str]:
    """``source-warehouse-model read`` of the model's one stream, full refresh."""
    config = {"warehouse": {"type": "duckdb", "path": str(database)}, "schemas": ["main"]}
    stream = {"name": "customers", "namespace": "main", "json_schema": {}, "supported_sync_modes": []}
    configured = {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
    config_path, catalog_path = database.with_suffix(".config.json"), database.with_suffix(".catalog.json")
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps({"streams": [configured]}))
    return [str(SOURCE_SCRIPT), "read", "--config", str(config_path), "--catalog", str(catalog_path)]


def floor_command(database: Path) -> list[str]:
    return [sys.executable, "-c", FLOOR_SCRIPT, str(database)]


def anchor_command(database: Path) -> list[str]:
    return [sys.executable, "-c", ANCHOR_SCRIPT, str(database)]


def measure(command: list[str], rows: int) -> Run:
    """Run the command, count the RECORD lines it writes, and take its peak RSS."""
    rss_file = BENCH_DIR / "peak-rss.txt"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", RSS_WRAPPER, str(rss_file), *command], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    records, output_bytes = count_records(process.stdout)
    process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0 or records != rows:
        raise RuntimeError(f"{command[0]} exited {process.returncode} after {records} of {rows} records")
    return Run(rows, seconds, int(rss_file.read_text()) / 1024, output_bytes / 1e6)  # KiB on Linux


def count_records(stream: IO[bytes]) -> tuple[int, int]:
    """RECORD messages and bytes in the stream; a marker split across two reads still counts once."""
    records = total = 0
    tail = b""
    while chunk := stream.read(1 << 20):
        total += len(chunk)
        data = tail + chunk
        records += data.count(RECORD_MARKER)
        tail = data[-(len(RECORD_MARKER) - 1) :]
    return records, total


PATHS = ("floor", "source", "anchor")


def main(quick: bool = False) -> list[Figure]:
    small, large = (100_000, 500_000) if quick else (1_000_000, 5_000_000)
    print(f"models of {small:,} and {large:,} rows x 8 columns, full refresh; building into {BENCH_DIR}/")
    databases = {rows: model_database(rows) for rows in (small, large)}
    commands = {"floor": floor_command, "source": source_command, "anchor": anchor_command}

    results: dict[tuple[str, int], Run] = {}
    print(f"{'path':<8} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS':>9} {'output':>9}")
    for rows, database in databases.items():
        for name in PATHS:
            run = results[name, rows] = measure(commands[name](database), rows)
            print(
                f"{name:<8} {rows:>10,} {run.seconds:>8.2f} {run.rate:>10,.0f}"
                f" {run.peak_rss_mb:>7.0f}MB {run.output_mb:>7.0f}MB",
                flush=True,
            )

    print()
    rates = {key: run.rate for key, run in results.items()}
    for rows in (small, large):
        print(_versus(f"at {rows:,} rows", {name: rates[name, rows] for name in PATHS}))
    # The difference between the two sizes cancels each process's fixed start-up cost.
    steady = {
        name: (large - small) / (results[name, large].seconds - results[name, small].seconds)
        for name in PATHS
    }
    print(_versus("per-row, between sizes (start-up excluded)", steady))
    startup = measure([str(SOURCE_SCRIPT), "spec"], 0)
    print(f"source start-up alone (spec): {startup.seconds:.2f}s, peak RSS {startup.peak_rss_mb:.0f}MB")
    # DuckDB's own memory grows with the file it reads (the floor shows it too), so what the source
    # adds over the floor is its own footprint, which must not grow with the model.
    rss = {key: run.peak_rss_mb for key, run in results.items()}
    own = {rows: rss["source", rows] - rss["floor", rows] for rows in (small, large)}
    # A footprint that grew with the model would grow about as the rows do (5x); a few MB is noise.
    tolerance = max(10.0, 0.25 * own[small])
    verdict = "flat" if own[large] - own[small] <= tolerance else "GROWS with the model"
    print(
        f"peak RSS at {small:,} -> {large:,} rows: source {rss['source', small]:.0f}MB ->"
        f" {rss['source', large]:.0f}MB ({rss['source', large] / rss['source', small]:.2f}x), floor"
        f" {rss['floor', small]:.0f}MB -> {rss['floor', large]:.0f}MB"
        f" ({rss['floor', large] / rss['floor', small]:.2f}x); source over floor"
        f" {own[small]:.0f}MB -> {own[large]:.0f}MB ({verdict})"
    )
    panel = f"source read, {large:,} rows x 8 columns"
    return [
        Figure(
            panel,
            "source vs fetch + orjson",
            rates["source", large],
            rates["floor", large],
            "floor",
            "rows/s",
        ),
        Figure(
            panel, "source vs DuckDB COPY", rates["source", large], rates["anchor", large], "anchor", "rows/s"
        ),
    ]


def _versus(label: str, rates: dict[str, float]) -> str:
    """The source's rate as same-run ratios to the floor (aim: at least 0.9) and to the anchor."""
    floor, anchor = rates["source"] / rates["floor"], rates["source"] / rates["anchor"]
    verdict = "meets" if floor >= 0.9 else "BELOW"
    return (
        f"{label}: source {rates['source']:,.0f} rows/s = {floor:.2f}x the floor's {rates['floor']:,.0f}"
        f" ({verdict} the 0.9x aim), {anchor:.2f}x the anchor's {rates['anchor']:,.0f} (DuckDB's own COPY)"
    )
