"""The image tests' report: image sizes and what `airbyte-cdk image test` ran, at the end of the run.

Does nothing unless the image tests ran (RETL_IMAGE_TESTS=1, see test_images.py), so `make test`,
which collects this folder, is not slowed down and needs no podman.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest

from tests.images.podman import CONNECTORS, image, images_dir, inspect

SESSION_START: list[float] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    SESSION_START.append(time.time())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("RETL_IMAGE_TESTS") != "1":
        return
    write = terminalreporter.write_line
    terminalreporter.section("connector images")
    for connector in CONNECTORS:
        try:
            size = inspect(image(connector))["Size"]
        except Exception:  # not built: the tests say so
            continue
        write(f"{image(connector):50} {size / 1e6:6.0f} MB")

    # This run's results only.
    candidates = [images_dir() / "test" / f"cdk-{c}" / "results.json" for c in CONNECTORS]
    results = [p for p in candidates if p.exists() and p.stat().st_mtime >= SESSION_START[0]]
    if not results:
        return
    terminalreporter.section("airbyte-cdk image test")
    for path in results:
        report = json.loads(path.read_text())
        counts = Counter(r["outcome"] for r in report["results"])
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        write(f"{report['connector']}: exit {report['exit']} in {report['seconds']:.0f} s: {summary}")
        for result in report["results"]:
            message = f" ({result['message']})" if result["outcome"] != "passed" and result["message"] else ""
            write(f"    {result['outcome']:7} {result['test']}{message}")
