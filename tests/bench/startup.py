"""How long each connector's process takes to start, as a ratio to the source's, in the same run.

Airbyte and PyAirbyte start a new process for every `spec`, `check` and `write`, so start-up is paid
every time. Two measures per connector, medians of interleaved runs (so a busy moment of the machine
weighs on every connector alike):

- `spec`: the console script printing its specification (imports and the config model only);
- the data path's start-up: a fresh interpreter importing every module a destination's `write` loads
  (the entry module, the client and requests, the sinks, the write loop) against the modules the
  source's `read` of a DuckDB model loads (the entry module, the reader, the DuckDB backend).
Each is reported as its ratio to the source's figure; the aim is 1.5x at most.
"""

from __future__ import annotations

import statistics
import subprocess
import time

from tests.harness import BIN

CONNECTORS = [
    "source-warehouse-model",
    "destination-webhook",
    "destination-hubspot",
    "destination-customerio",
    "destination-clarify",
]
# What each data path imports before it handles its first record.
DATA_PATH = {
    "source-warehouse-model": ["run", "reader", "backends.duckdb"],
    "destination-webhook": ["run", "client", "sink"],
    "destination-hubspot": ["run", "client", "catalog", "sink"],
    "destination-customerio": ["run", "client", "sink"],
    "destination-clarify": ["run", "client", "sink"],
}


def timed(command: list[str]) -> float:
    clock = time.perf_counter()
    subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - clock


def commands() -> dict[str, dict[str, list[str]]]:
    """Per connector: its `spec`, and a fresh interpreter importing its data path."""
    out: dict[str, dict[str, list[str]]] = {}
    for name in CONNECTORS:
        package = name.replace("-", "_")
        modules = ", ".join([*(f"{package}.{module}" for module in DATA_PATH[name]), "retl_shared.writer"])
        out[name] = {
            "spec": [str(BIN / name), "spec"],
            "start": [str(BIN / "python"), "-c", f"import {modules}"],
        }
    return out


def main(quick: bool = False) -> None:
    rounds = 3 if quick else 7
    runs = commands()
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, measured in runs.items():
            for what, command in measured.items():
                times.setdefault((name, what), []).append(timed(command))
    medians = {key: statistics.median(values) for key, values in times.items()}
    source = {what: medians[("source-warehouse-model", what)] for what in ("spec", "start")}
    print(
        f"process start-up, medians of {rounds} interleaved runs; ratio to the source's (aim: 1.5x at most)"
    )
    print(f"{'connector':<24} {'spec s':>7} {'vs source':>9} {'data path s':>11} {'vs source':>9}")
    for name in CONNECTORS:
        spec, start = medians[(name, "spec")], medians[(name, "start")]
        print(
            f"{name:<24} {spec:>7.2f} {spec / source['spec']:>8.2f}x {start:>11.2f}"
            f" {start / source['start']:>8.2f}x",
            flush=True,
        )
    print(
        "data path: a fresh interpreter importing what `write` (a destination) or `read` (the source) loads"
    )
