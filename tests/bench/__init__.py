"""Benchmarks, run by `make bench` (``python -m tests.bench``), never by `make test`.

Each module here is one benchmark whose ``main(quick: bool)`` prints a small report and may return the
figures it measured for the chart (``tests.bench._report``); modules whose names start with ``_`` are not
benchmarks;
``python -m tests.bench [name ...] [--quick]`` runs all of them, or the named ones.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson


def timed_write(
    destination: type[Any], config: dict[str, Any], catalog: dict[str, Any], lines: bytes, records: int
) -> tuple[float, float]:
    """Run a destination's ``write`` in this process; (wall seconds, CPU seconds).

    Fails loudly unless the final state counts every record and no error was traced.
    """
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        config_path, catalog_path = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        config_path.write_text(json.dumps(config))
        catalog_path.write_text(json.dumps(catalog))
        argv = ["write", "--config", str(config_path), "--catalog", str(catalog_path)]
        clock, cpu = time.perf_counter(), time.process_time()
        code = destination(stdout=out).run(argv, stdin=io.BytesIO(lines))
        seconds, cpu_seconds = time.perf_counter() - clock, time.process_time() - cpu
    messages = [orjson.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    states = [m["state"] for m in messages if m["type"] == "STATE"]
    written = states[-1]["destinationStats"]["recordCount"] if states else 0
    traces = [m["trace"] for m in messages if m["type"] == "TRACE"]
    errors = [trace["error"]["message"] for trace in traces if trace.get("type") == "ERROR"]
    if code != 0 or written != records or errors:
        problems = errors or [trace for trace in traces if trace.get("type") != "ERROR"]
        counted = f"its state counts {written} of {records} records"
        raise RuntimeError(f"write exited {code}, {counted}: {problems}")
    return seconds, cpu_seconds
