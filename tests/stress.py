"""Stress runs for every destination: repeated keys across batches, many workers, faults (some after the
API applied the write), kill -9 and resume; the caller asserts the exact final data in its fake.

A workload is a stream of records whose keys repeat within and across batches and windows, with
fields that are sometimes null, a STATE after every window (its stream state names the window), and
the fold that sending every record one by one, in order, would leave in the API (nulls skipped).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.fakes.server import FakeServer
from tests.harness import BIN, record_line, state_line

# The faults of the first wave's stress runs: 10 % 429s, 5 % 5xx, 2 % resets, half of the 5xx and
# resets after the API applied the request (its answer is lost).
CHAOS = {"rate_limited": 0.10, "server_error": 0.05, "reset": 0.02, "after_apply": 0.5}


@dataclass
class Workload:
    stream: str
    windows: list[list[bytes]]  # each window's record lines; a state line follows each window
    expected: dict[Any, dict[str, Any]]  # key → every field's last non-null value

    def lines(self, after_window: int = -1) -> list[bytes]:
        """The messages from the window after ``after_window`` on (a resumed sync), states included."""
        out: list[bytes] = []
        for index, window in enumerate(self.windows):
            if index > after_window:
                out += [*window, state_line(self.stream, {"window": index})]
        return out


def workload(
    stream: str,
    keys: list[Any],
    make: Callable[[random.Random, Any, int], dict[str, Any]],
    records: int,
    per_window: int,
    seed: int = 7,
) -> Workload:
    """``make(rng, key, seq)`` gives a record's data for a key (its key column included)."""
    rng = random.Random(seed)
    expected: dict[Any, dict[str, Any]] = {}
    windows: list[list[bytes]] = []
    for seq in range(records):
        if seq % per_window == 0:
            windows.append([])
        key = rng.choice(keys)
        data = make(rng, key, seq)
        expected[key] = {**expected.get(key, {}), **{k: v for k, v in data.items() if v is not None}}
        windows[-1].append(record_line(stream, data))
    return Workload(stream, windows, expected)


def sometimes_null(rng: random.Random, value: Any, share: float = 0.2) -> Any:
    return None if rng.random() < share else value


def write_killed(
    destination: str,
    tmp_path: Path,
    config: dict[str, Any],
    catalog: dict[str, Any],
    lines: list[bytes],
    fake: FakeServer,
    after_requests: int,
) -> list[dict[str, Any]]:
    """Run ``destination write`` (the console script) and kill -9 it once ``fake`` has answered
    ``after_requests`` requests; return the states it emitted before it died."""
    config_path, catalog_path = tmp_path / "kill-config.json", tmp_path / "kill-catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog))
    command = [str(BIN / destination), "write", "--config", str(config_path), "--catalog", str(catalog_path)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    out: list[bytes] = []

    def feed() -> None:
        assert process.stdin is not None
        try:
            for line in lines:
                process.stdin.write(line + b"\n")
            process.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    def read() -> None:
        assert process.stdout is not None
        out.extend(process.stdout)

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=read, daemon=True)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(fake.requests) < after_requests and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for thread in threads:
        thread.join(5)
    assert process.returncode == -signal.SIGKILL, "the destination finished before it could be killed"
    messages = [orjson.loads(line) for line in out if line.strip()]
    return [m["state"] for m in messages if m["type"] == "STATE"]


def last_window(states: list[dict[str, Any]]) -> int:
    """The window of the last confirmed state (-1: none), where the platform resumes."""
    return max((s["stream"]["stream_state"]["window"] for s in states), default=-1)
