"""The README's by-hand commands, run verbatim: every ```sh block preceded by `<!-- by-hand -->`, in order,
from the repository root, against the fakes on the README's ports. Also: the README's Airbyte commands
name files, variables and connections that exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes import clarify, customerio, hubspot, webhook
from tests.fakes.cli import INSPECT_PATH

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
MARK = "<!-- by-hand -->"
PORTS = {
    "webhook": webhook.DEFAULT_PORT,
    "hubspot": hubspot.DEFAULT_PORT,
    "customerio": customerio.DEFAULT_PORT,
    "clarify": clarify.DEFAULT_PORT,
}
CONNECTIONS = ROOT / "docs" / "examples" / "connections.yaml"


def by_hand_blocks() -> list[str]:
    text = README.read_text()
    blocks = re.findall(re.escape(MARK) + r"\n```sh\n(.*?)\n```", text, flags=re.DOTALL)
    assert len(blocks) == text.count(MARK), f"every {MARK} must directly precede a ```sh block"
    return blocks


def started_fakes(block: str) -> list[str]:
    return re.findall(r"python -m tests\.fakes\.(\w+)\b[^\n]*&\s*$", block, flags=re.MULTILINE)


def uv_binary() -> str:
    """The real uv: the one running this test (`uv run` sets UV), on PATH, or the Makefile's .tools/."""
    candidates = [os.environ.get("UV"), shutil.which("uv"), str(ROOT / ".tools" / "bin" / "uv")]
    found = next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)
    if found is None:
        pytest.fail("no uv to run the README's `uv run` commands with: set UV or put uv on PATH")
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the fakes bind
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, vendor: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"the README's {vendor} fake did not listen on {port}; output:\n{log.read_text()[-3000:]}")


def contents(vendor: str) -> dict[str, Any]:
    answer = requests.get(f"http://127.0.0.1:{PORTS[vendor]}{INSPECT_PATH}", timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


@dataclass
class ReadmeRun:
    log: Path  # every block and its output
    catalog_before: bytes  # examples/catalog.json before the blocks rewrote it


@pytest.fixture
def readme_run(tmp_path: Path) -> Iterator[ReadmeRun]:
    """Runs the blocks, then stops what they started in the background and removes what they wrote
    (examples/catalog.json gets its committed content back)."""
    blocks = by_hand_blocks()
    fakes = [vendor for block in blocks for vendor in started_fakes(block)]
    busy = [f"{PORTS[vendor]} ({vendor})" for vendor in fakes if not port_is_free(PORTS[vendor])]
    if busy:
        pytest.fail(
            f"the README's fakes need ports {', '.join(busy)}, which are in use: stop what listens there "
            "(another run of this test, or a fake started by hand) and run again"
        )
    uv = uv_binary()
    env = {
        **os.environ,
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "UV_FROZEN": "1",
        "UV_OFFLINE": "1",
    }
    committed_catalog = (EXAMPLES / "catalog.json").read_bytes()
    log = tmp_path / "readme.log"
    groups: list[int] = []
    try:
        with log.open("w") as out:
            for block in blocks:
                out.write(f"$ {block}\n")
                out.flush()
                shell = subprocess.Popen(
                    ["bash", "-euo", "pipefail", "-c", block],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its background jobs stay in this group, stopped below
                )
                groups.append(shell.pid)
                code = shell.wait(timeout=180)
                if code != 0:
                    pytest.fail(
                        f"README block failed (exit {code}):\n{block}\noutput:\n{log.read_text()[-4000:]}"
                    )
                for vendor in started_fakes(block):
                    wait_for_port(PORTS[vendor], vendor, log)
        yield ReadmeRun(log, committed_catalog)
    finally:
        for group in groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for group in groups:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(group):
                time.sleep(0.1)
            if _alive(group):
                os.killpg(group, signal.SIGKILL)
        (EXAMPLES / "catalog.json").write_bytes(committed_catalog)
        for written in [
            *EXAMPLES.glob("*.duckdb"),
            *EXAMPLES.glob("*.duckdb.wal"),
            *EXAMPLES.glob("*.state.json"),
        ]:
            written.unlink()


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_the_readme_by_hand_commands_sync_the_examples_to_every_fake(readme_run: ReadmeRun) -> None:
    assert (EXAMPLES / "catalog.json").read_bytes() == readme_run.catalog_before, (
        "examples/catalog.json is not what the README's `retl catalog` command makes of discover"
    )
    received = contents("webhook")["records"]
    # The pipe and the first `retl run` send the five contacts each; after examples/changes.sql the second
    # run sends the two changed rows and, the cursor being inclusive, the last row of the run before.
    assert len(received) == 5 + 5 + 3, readme_run.log.read_text()[-3000:]
    assert {r["email"] for r in received[:10]} == {
        "ada@example.com",
        "grace@example.com",
        "alan@example.com",
        "edsger@example.com",
        "barbara@example.com",
    }
    last = {r["email"]: r for r in received[10:]}
    assert set(last) == {"barbara@example.com", "alan@example.com", "grace@example.com"}
    assert last["alan@example.com"]["full_name"] == "Alan Mathison-Turing"
    assert (last["grace@example.com"]["total_orders"], last["grace@example.com"]["lifetime_value"]) == (
        2,
        "645.99",
    )
    state = json.loads((EXAMPLES / "webhook.state.json").read_text())
    assert "2026-11-20T12:05:00" in json.dumps(state)

    contacts = {c["id"]: c["properties"] for c in contents("hubspot")["records"]["contacts"]}
    assert sorted(contacts) == ["1001", "1002", "1003", "1004", "1005"]  # updated, none created
    assert (contacts["1002"]["total_orders"], contacts["1002"]["customer_tier"]) == ("2", "silver")
    assert (contacts["1001"]["lifetime_value"], contacts["1001"]["customer_tier"]) == ("1100.5", "gold")

    people = {p["email"]: p for p in contents("customerio")["people"]}
    assert len(people) == 5
    assert people["ada@example.com"]["attributes"]["plan"] == "enterprise"  # the seeded person, added to
    assert people["alan@example.com"]["attributes"]["lastname"] == "Mathison-Turing"

    persons = contents("clarify")["records"]["person"]
    assert len(persons) == 5  # the seeded Ada was matched by email, not created again
    ada = next(p for p in persons if p["email_addresses"] == ["ada@example.com"])
    assert (ada["id"], ada["stage"], ada["lifetime_value"]) == ("per_000001", "Customer", 1100.5)


def test_the_readme_airbyte_commands_name_what_exists() -> None:
    readme = README.read_text()
    connections = CONNECTIONS.read_text()
    for path in re.findall(r"retl airbyte apply (\S+)", readme):
        assert (ROOT / path).is_file(), path
    named = set(re.findall(r"^\s+- name: (\S+)", connections.split("connections:", 1)[1], flags=re.MULTILINE))
    for connection in re.findall(r"retl airbyte sync (\S+)", readme):
        assert connection in named, f"{connection} is not a connection of {CONNECTIONS.name}: {named}"
    exported = set(
        re.findall(r"\b([A-Z][A-Z0-9_]+)=", " ".join(re.findall(r"^export .*$", readme, re.MULTILINE)))
    )
    settings = "\n".join(line.split("#", 1)[0] for line in connections.splitlines())  # not the comments
    referenced = set(re.findall(r"\$\{(\w+)\}", settings))
    assert referenced and referenced <= exported, f"not exported in the README: {referenced - exported}"


def test_the_example_configs_point_at_the_fakes_default_ports() -> None:
    for vendor, port in PORTS.items():
        config = json.loads((EXAMPLES / f"{vendor}.json").read_text())
        url = config.get("url") or config["api_base_url"]
        assert url.startswith(f"http://127.0.0.1:{port}"), (vendor, url)
