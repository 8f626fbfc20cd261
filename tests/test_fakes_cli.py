"""`python -m tests.fakes.<vendor>`: each fake started from the command line, seeded, answering its API and
showing what it holds."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes import clarify, customerio, hubspot, webhook

ROOT = Path(__file__).resolve().parent.parent
CONTENTS = "/_fake/contents"


class Fake:
    """A fake running as `python -m tests.fakes.<vendor>`; its stdout stays open for further lines."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None
        self.stdout = process.stdout
        self.banner = self.stdout.readline().strip()
        assert " on http://127.0.0.1:" in self.banner, self.banner + self._stderr()
        self.url = self.banner.split(" on ", 1)[1].split(" ", 1)[0]

    def contents(self) -> dict[str, Any]:
        answer = requests.get(self.url + CONTENTS, timeout=5)
        assert answer.status_code == 200
        return dict(answer.json())

    def _stderr(self) -> str:
        self.process.kill()
        return self.process.communicate(timeout=5)[1]


def start(vendor: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", f"tests.fakes.{vendor}", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def run_fake(tmp_path: Path) -> Iterator[Callable[..., Fake]]:
    """`run_fake(vendor, seed, *args)`: the fake on a free port, seeded; stopped (SIGTERM, exit 0) after."""
    fakes: list[Fake] = []

    def run(vendor: str, seed: dict[str, Any], *args: str) -> Fake:
        seed_file = tmp_path / f"{vendor}-seed.json"
        seed_file.write_text(json.dumps(seed))
        fake = Fake(start(vendor, "--port", "0", "--seed", str(seed_file), *args))
        fakes.append(fake)
        return fake

    yield run
    for fake in fakes:
        fake.process.send_signal(signal.SIGTERM)
        fake.process.communicate(timeout=10)
        assert fake.process.returncode == 0


def test_webhook_receiver_holds_seeded_records_and_prints_what_arrives(run_fake: Callable[..., Fake]) -> None:
    fake = run_fake("webhook", {"records": [{"email": "seeded@example.com"}]})
    assert "seeded from" in fake.banner and "kill " in fake.banner

    assert requests.post(f"{fake.url}/hooks/x", json={"a": [1, 2]}, timeout=5).ok

    assert fake.stdout.readline().strip() == 'POST /hooks/x {"a":[1,2]}'
    assert fake.contents() == {"records": [{"email": "seeded@example.com"}, {"a": [1, 2]}]}


def test_hubspot_fake_serves_seeded_properties_and_contacts(run_fake: Callable[..., Fake]) -> None:
    seed = {
        "properties": {"contacts": [{"name": "tier", "type": "enumeration", "options": ["a", "b"]}]},
        "records": {"contacts": [{"id": "2001", "properties": {"email": "Ada@Example.com", "tier": "a"}}]},
    }
    fake = run_fake("hubspot", seed, "--token", "pat-cli")

    answer = requests.get(
        f"{fake.url}/crm/v3/objects/contacts/2001",
        params={"properties": "email,tier"},
        headers={"Authorization": "Bearer pat-cli"},
        timeout=5,
    )

    assert answer.status_code == 200
    properties = answer.json()["properties"]
    assert (properties["email"], properties["tier"]) == ("ada@example.com", "a")
    (contact,) = fake.contents()["records"]["contacts"]
    assert contact["id"] == "2001" and contact["properties"]["tier"] == "a"


def test_customerio_fake_updates_a_seeded_person_instead_of_adding_one(run_fake: Callable[..., Fake]) -> None:
    fake = run_fake(
        "customerio", {"people": [{"id": "u1", "email": "ada@example.com", "attributes": {"plan": "pro"}}]}
    )
    basic = base64.b64encode(b"site-good:key-good").decode()
    entry = {
        "type": "person",
        "action": "identify",
        "identifiers": {"email": "ada@example.com"},
        "attributes": {"tier": "gold"},
    }

    answer = requests.post(
        f"{fake.url}/api/v2/entity", json=entry, headers={"Authorization": f"Basic {basic}"}, timeout=5
    )

    assert answer.status_code == 200
    (person,) = fake.contents()["people"]
    assert (person["id"], person["attributes"]) == ("u1", {"plan": "pro", "tier": "gold"})


def test_clarify_fake_serves_seeded_records(run_fake: Callable[..., Fake]) -> None:
    seed = {"records": {"person": [{"name": "Ada Lovelace", "email_addresses": ["ada@example.com"]}]}}
    fake = run_fake("clarify", seed, "--api-key", "key-cli", "--workspace", "lab")

    answer = requests.get(
        f"{fake.url}/v1/workspaces/lab/objects/person/records/per_000001",
        headers={"Authorization": "api-key key-cli"},
        timeout=5,
    )

    assert answer.status_code == 200
    assert answer.json()["data"]["attributes"]["name"] == "Ada Lovelace"
    (person,) = fake.contents()["records"]["person"]
    assert person["email_addresses"] == ["ada@example.com"]


MAINS = {
    "webhook": webhook.main,
    "hubspot": hubspot.main,
    "customerio": customerio.main,
    "clarify": clarify.main,
}


@pytest.mark.parametrize("vendor", MAINS)
def test_a_busy_port_is_named_and_exits_2(vendor: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            MAINS[vendor](["--port", str(port)])
    assert exit_.value.code == 2
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_a_seed_that_does_not_fit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"records": {"planet": [{"name": "Mars"}]}}))
    with pytest.raises(SystemExit) as exit_:
        clarify.main(["--port", "0", "--seed", str(seed)])
    assert exit_.value.code == 2
    assert f"cannot load the seed {seed}: no object 'planet'" in capsys.readouterr().err


@pytest.mark.parametrize("vendor", MAINS)
def test_help_names_the_default_port_and_no_local_paths(
    vendor: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        MAINS[vendor](["--help"])
    help_text = capsys.readouterr().out
    assert f"python -m tests.fakes.{vendor}" in help_text and "--seed FILE" in help_text
    assert "default 810" in help_text
    assert "/work/" not in help_text and str(ROOT) not in help_text
