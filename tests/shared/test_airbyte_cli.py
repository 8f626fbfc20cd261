"""`retl airbyte` end to end against the fake Airbyte API (tests/fakes/airbyte.py), in-process.

Every test runs `retl_shared.cli.main([...])` with the connection settings in AIRBYTE_* variables,
and the fake checks request bodies against the OpenAPI descriptions when they are present: the
`fake` fixture fails a test that sent a body breaking them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from retl_shared.airbyte.client import _Rest
from retl_shared.cli import main
from tests.fakes.airbyte import BEARER_TOKEN, CLIENT_ID, CLIENT_SECRET, PREFIX, WORKSPACE_ID, AirbyteFake

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "connections.yaml"
SNOWFLAKE_PRIVATE_KEY = (  # a PEM key, as `export SNOWFLAKE_PRIVATE_KEY="$(cat rsa_key.p8)"` passes it
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFNTBfBgkqhkiG9w0BBQ0wUjAxBgkq\nhkiG9w0BBQwwJAQQ\n"
    "-----END ENCRYPTED PRIVATE KEY-----"
)
SNOWFLAKE_PRIVATE_KEY_PASSPHRASE = "sf-pp-Qx7!r2#Lm9"
HUBSPOT_TOKEN = "pat-eu1-0f9e8d7c-6b5a-4321-9abc-def012345678"
CONNECTION = "warehouse-to-hubspot"
FAST = ("--poll-interval", "0.01")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def fake() -> Iterator[AirbyteFake]:
    with AirbyteFake() as server:
        yield server
        assert server.schema_violations == []


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fake: AirbyteFake) -> pytest.MonkeyPatch:
    monkeypatch.delenv("AIRBYTE_TOKEN", raising=False)
    monkeypatch.setenv("AIRBYTE_API_URL", fake.api_url)
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AIRBYTE_WORKSPACE_ID", WORKSPACE_ID)
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY", SNOWFLAKE_PRIVATE_KEY)
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", SNOWFLAKE_PRIVATE_KEY_PASSPHRASE)
    monkeypatch.setenv("HUBSPOT_TOKEN", HUBSPOT_TOKEN)
    return monkeypatch


@pytest.fixture
def retl(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RetlRunner:
    return RetlRunner(capsys)


class RetlRunner:
    """Runs `retl airbyte ARGS` and keeps every output, for the no-secrets-printed checks."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.transcript: list[str] = []

    def __call__(self, *argv: str) -> Run:
        code = main(["airbyte", *argv])
        captured = self.capsys.readouterr()
        self.transcript += [captured.out, captured.err]
        return Run(code, captured.out, captured.err)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "connections.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


@pytest.fixture
def applied(retl: RetlRunner, fake: AirbyteFake, config_file: Path) -> AirbyteFake:
    """A workspace with our definitions registered and the example file applied."""
    assert retl("register").code == 0
    assert retl("apply", str(config_file)).code == 0
    fake.clear_requests()
    return fake


def actions(out: str) -> list[str]:
    """The action of every resource line of a plan, in order."""
    return re.findall(r"^  (create|update|unchanged) ", out, re.MULTILINE)


def custom_definitions(fake: AirbyteFake) -> dict[str, str]:
    """Our definitions' name -> tag (the fake also holds registry ones from airbyte/)."""
    return {
        d["name"]: d["dockerImageTag"]
        for kind in ("sources", "destinations")
        for d in fake.definitions[kind].values()
        if d["dockerRepository"].startswith("retl/")
    }


# --- register ------------------------------------------------------------------------------------------


def test_register_creates_the_five_definitions_and_a_second_run_changes_nothing(
    retl: RetlRunner, fake: AirbyteFake
) -> None:
    first = retl("register")
    assert first.code == 0, first.err
    assert actions(first.out) == ["create"] * 5
    assert custom_definitions(fake) == {
        "Warehouse Model": "0.1.0",
        "Webhook (reverse ETL)": "0.1.0",
        "HubSpot (reverse ETL)": "0.1.0",
        "Customer.io (reverse ETL)": "0.1.0",
        "Clarify (reverse ETL)": "0.1.0",
    }
    created = [r for r in fake.writes() if r.method == "POST"]
    assert sorted(r.path.rsplit("/", 1)[1] for r in created) == ["destinations"] * 4 + ["sources"]
    assert {r.json()["dockerRepository"] for r in created} >= {"retl/source-warehouse-model"}
    assert all(r.json()["documentationUrl"].startswith("https://") for r in created)

    fake.clear_requests()
    second = retl("register")
    assert second.code == 0
    assert actions(second.out) == ["unchanged"] * 5
    assert fake.writes() == []


def test_register_a_new_tag_updates_and_only_limits_it(retl: RetlRunner, fake: AirbyteFake) -> None:
    assert retl("register").code == 0
    fake.clear_requests()

    bumped = retl("register", "--tag", "0.2.0")
    assert bumped.code == 0
    assert actions(bumped.out) == ["update"] * 5
    assert "retl/destination-hubspot:0.1.0 -> 0.2.0" in bumped.out
    assert {r.method for r in fake.writes()} == {"PUT"}
    assert set(custom_definitions(fake).values()) == {"0.2.0"}

    fake.clear_requests()
    one = retl("register", "--only", "destination-hubspot", "--tag", "0.3.0")
    assert one.code == 0
    assert len(fake.writes()) == 1
    assert fake.writes()[0].json() == {"name": "HubSpot (reverse ETL)", "dockerImageTag": "0.3.0"}
    assert custom_definitions(fake)["HubSpot (reverse ETL)"] == "0.3.0"
    assert custom_definitions(fake)["Webhook (reverse ETL)"] == "0.2.0"

    fake.clear_requests()
    dry = retl("register", "--tag", "0.4.0", "--dry-run")
    assert dry.code == 0
    assert actions(dry.out) == ["update"] * 5 and "Dry run: nothing changed." in dry.out
    assert fake.writes() == []


def test_register_refuses_a_name_taken_by_another_repository(retl: RetlRunner, fake: AirbyteFake) -> None:
    fake.add_definition(WORKSPACE_ID, "destinations", "HubSpot (reverse ETL)", "someone/else", "1.0.0")
    result = retl("register")
    assert result.code == 2
    assert "someone/else" in result.err and "cannot change a repository" in result.err
    assert fake.writes() == []  # planned first, so nothing was half done


def test_register_unknown_only_names_the_known_connectors(retl: RetlRunner, fake: AirbyteFake) -> None:
    result = retl("register", "--only", "destination-salesforce")
    assert result.code == 2
    assert "'destination-salesforce'" in result.err and "destination-hubspot" in result.err
    assert fake.requests == []


# --- apply ---------------------------------------------------------------------------------------------


def test_apply_creates_then_finds_nothing_to_change(
    retl: RetlRunner, fake: AirbyteFake, config_file: Path
) -> None:
    assert retl("register").code == 0
    first = retl("apply", str(config_file))
    assert first.code == 0, first.err
    assert re.search(r"create\s+source\s+'warehouse-models'", first.out)
    assert re.search(r"create\s+destination\s+'hubspot-crm'", first.out)
    assert re.search(r"create\s+connection\s+'warehouse-to-hubspot'", first.out)
    assert "Applied: 3 created, 0 updated, 0 unchanged." in first.out

    (source,) = fake.actors["sources"].values()
    (destination,) = fake.actors["destinations"].values()
    assert source["configuration"]["warehouse"]["credentials"] == {
        "auth_type": "key_pair",
        "private_key": SNOWFLAKE_PRIVATE_KEY,  # line breaks and all
        "private_key_passphrase": SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
    }
    assert destination["configuration"]["credentials"]["access_token"] == HUBSPOT_TOKEN
    assert destination["destinationType"] == "HubSpot (reverse ETL)"
    (connection,) = fake.airbyte_connections.values()
    assert connection["sourceId"] == source["sourceId"]
    assert connection["destinationId"] == destination["destinationId"]
    assert connection["schedule"] == {"scheduleType": "manual"}
    assert connection["configurations"]["streams"] == [
        {
            "name": "contacts",
            "syncMode": "incremental_deduped_history",
            "cursorField": ["UPDATED_AT"],
            "primaryKey": [["EMAIL"]],
        },
        {
            "name": "deals",
            "syncMode": "incremental_deduped_history",
            "cursorField": ["UPDATED_AT"],
            "primaryKey": [["DEAL_KEY"]],
        },
    ]

    fake.clear_requests()
    again = retl("apply", str(config_file))  # the API masks secrets: masked values read as unchanged
    assert again.code == 0
    assert actions(again.out) == ["unchanged"] * 3
    assert fake.writes() == []


def test_apply_updates_what_changed_in_the_file(
    applied: AirbyteFake, retl: RetlRunner, config_file: Path
) -> None:
    text = config_file.read_text()
    text = text.replace("rate_limit_per_10s: 190", "rate_limit_per_10s: 250")
    text = text.replace(
        "cursorField: [UPDATED_AT]\n        primaryKey: [[EMAIL]]",
        "cursorField: [MODIFIED_AT]\n        primaryKey: [[EMAIL]]",
    )
    config_file.write_text(text)

    result = retl("apply", str(config_file))
    assert result.code == 0, result.err
    assert re.search(r"unchanged\s+source\s+'warehouse-models'", result.out)
    assert re.search(r"update\s+destination\s+'hubspot-crm'", result.out)
    assert "~ configuration.rate_limit_per_10s: 190 -> 250" in result.out
    assert '~ streams.contacts.cursorField: ["UPDATED_AT"] -> ["MODIFIED_AT"]' in result.out, result.out
    assert [(r.method, r.path.split("/")[4]) for r in applied.writes()] == [
        ("PUT", "destinations"),
        ("PATCH", "connections"),
    ]
    (destination,) = applied.actors["destinations"].values()
    assert destination["configuration"]["rate_limit_per_10s"] == 250
    (connection,) = applied.airbyte_connections.values()
    assert connection["configurations"]["streams"][0]["cursorField"] == ["MODIFIED_AT"]


def test_apply_dry_run_prints_the_plan_and_changes_nothing(
    retl: RetlRunner, fake: AirbyteFake, config_file: Path
) -> None:
    assert retl("register").code == 0
    fake.clear_requests()
    result = retl("apply", str(config_file), "--dry-run")
    assert result.code == 0, result.err
    assert f"Plan for workspace {WORKSPACE_ID}:" in result.out
    assert "3 resources: 3 to create, 0 to update, 0 unchanged." in result.out
    assert '"private_key": "****"' in result.out and '"private_key_passphrase": "****"' in result.out
    assert '"access_token": "****"' in result.out
    assert "Dry run: nothing changed." in result.out
    assert fake.writes() == []
    assert fake.actors == {"sources": {}, "destinations": {}} and fake.airbyte_connections == {}


def test_apply_force_updates_sources_and_destinations(
    applied: AirbyteFake, retl: RetlRunner, config_file: Path
) -> None:
    result = retl("apply", str(config_file), "--force")
    assert result.code == 0
    assert "(forced: secrets the API masks may have changed)" in result.out
    assert sorted(r.method for r in applied.writes()) == ["PUT", "PUT"]


def test_apply_missing_environment_variable_is_an_error_naming_it(
    retl: RetlRunner, fake: AirbyteFake, env: pytest.MonkeyPatch, config_file: Path
) -> None:
    env.delenv("HUBSPOT_TOKEN")
    result = retl("apply", str(config_file))
    assert result.code == 2
    assert "HUBSPOT_TOKEN (used at destinations[0].configuration.credentials.access_token)" in result.err
    assert fake.requests == []  # nothing is sent, so no empty token can reach Airbyte


def test_apply_rejects_an_unknown_key_and_an_unknown_reference(
    retl: RetlRunner, fake: AirbyteFake, config_file: Path
) -> None:
    assert retl("register").code == 0
    config_file.write_text(config_file.read_text().replace("    schedule:\n", "    scheduel:\n", 1))
    typo = retl("apply", str(config_file))
    assert typo.code == 2 and "connections.0.scheduel: Extra inputs are not permitted" in typo.err

    config_file.write_text(EXAMPLE.read_text().replace("destination: hubspot-crm", "destination: hubspot"))
    dangling = retl("apply", str(config_file), "--dry-run")
    assert dangling.code == 2
    assert "no destination named 'hubspot' in the file or the workspace" in dangling.err


def test_apply_retries_a_401_with_a_new_token(retl: RetlRunner, fake: AirbyteFake, config_file: Path) -> None:
    assert retl("register").code == 0
    fake.inject(401, times=1, path_regex=f"{PREFIX}/destinations")  # REST path: our ApiClient
    fake.tokens_issued.clear()
    result = retl("apply", str(config_file))
    assert result.code == 0, result.err
    assert len(fake.tokens_issued) == 2
    assert len(fake.airbyte_connections) == 1


def test_api_unavailable_exits_5(
    retl: RetlRunner, fake: AirbyteFake, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Rest, "backoff", lambda self, attempt: 0.0)
    assert retl("register").code == 0
    fake.inject(503, times=5, path_regex=f"{PREFIX}/sources")
    result = retl("apply", str(config_file))
    assert result.code == 5
    assert "Gave up after 5 attempts" in result.err


# --- sync and status -----------------------------------------------------------------------------------


def test_sync_follows_incomplete_to_succeeded_and_prints_rows_bytes_duration(
    applied: AirbyteFake, retl: RetlRunner
) -> None:
    result = retl("sync", CONNECTION, *FAST)
    assert result.code == 0, result.err
    assert "succeeded: 1234 rows, 567890 bytes (554.6 KiB) in 1m 0s" in result.out
    seen = re.findall(r"job \d+ (\w+) after", result.err)
    assert seen == ["pending", "running", "incomplete", "running", "succeeded"]
    (create,) = applied.requests_matching("POST", f"{PREFIX}/jobs")
    (connection_id,) = applied.airbyte_connections
    assert create.json() == {"connectionId": connection_id, "jobType": "sync"}
    assert len(applied.requests_matching("GET", rf"{PREFIX}/jobs/\d+")) == 4


@pytest.mark.parametrize(("outcome", "code"), [("failed", 1), ("cancelled", 3)])
def test_sync_failure_and_cancellation_have_their_exit_codes(
    applied: AirbyteFake, retl: RetlRunner, outcome: str, code: int
) -> None:
    applied.job_script = ("pending", "running", "incomplete", outcome)
    result = retl("sync", CONNECTION, *FAST)
    assert result.code == code
    assert f" {outcome}: " in result.out


def test_sync_timeout_exits_4_and_leaves_the_job_running(applied: AirbyteFake, retl: RetlRunner) -> None:
    applied.job_script = ("pending", "running")
    result = retl("sync", CONNECTION, "--poll-interval", "0.02", "--timeout", "0.2")
    assert result.code == 4
    assert "still running after 0.2s" in result.out
    (job,) = applied.jobs.values()
    assert job["status"] == "running"


def test_sync_by_id_and_unknown_names(applied: AirbyteFake, retl: RetlRunner) -> None:
    (connection_id,) = applied.airbyte_connections
    assert retl("sync", connection_id, *FAST).code == 0
    unknown = retl("sync", "warehouse-to-salesforce", *FAST)
    assert unknown.code == 2
    assert "no connection named 'warehouse-to-salesforce'" in unknown.err and CONNECTION in unknown.err


def test_status_shows_the_latest_jobs(applied: AirbyteFake, retl: RetlRunner) -> None:
    assert retl("sync", CONNECTION, *FAST).code == 0
    applied.job_script = ("pending", "failed")
    assert retl("sync", CONNECTION, *FAST).code == 1

    everything = retl("status")
    assert everything.code == 0
    header, *rows = everything.out.splitlines()
    assert header.split() == ["CONNECTION", "JOB", "TYPE", "STATUS", "STARTED", "ROWS", "BYTES", "DURATION"]
    assert [row.split()[3] for row in rows] == ["failed", "succeeded"]  # newest first
    assert rows[1].split()[5:7] == ["1234", "567890"] and rows[1].endswith("1m 0s")

    latest = retl("status", CONNECTION, "--limit", "1")
    assert len(latest.out.splitlines()) == 2 and "failed" in latest.out


# --- the curl script of docs/airbyte-api.md, for orchestrators without retl ------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "airbyte-api.md"
NEEDS_CURL_AND_JQ = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None,
    reason="the documented script runs curl and jq",
)


@pytest.fixture
def curl_script(tmp_path: Path, applied: AirbyteFake) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the script exactly as the doc prints it, against the fake, for the example's connection."""
    (script,) = re.findall(r"```bash\n(#!/usr/bin/env bash\n.*?)```", DOCS.read_text(), re.DOTALL)
    path = tmp_path / "airbyte-sync.sh"
    path.write_text(script)
    (connection_id,) = applied.airbyte_connections
    shims = tmp_path / "bin"  # a curl that logs its command line (what `ps` shows) to curl-argv.log
    shims.mkdir()
    (shims / "curl").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {tmp_path}/curl-argv.log\nexec {shutil.which("curl")} "$@"\n'
    )
    (shims / "curl").chmod(0o755)

    def run(secret: str = CLIENT_SECRET, timeout: str = "600") -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
            "AIRBYTE_API_URL": applied.api_url,
            "AIRBYTE_CLIENT_ID": CLIENT_ID,
            "AIRBYTE_CLIENT_SECRET": secret,
            "POLL_SECONDS": "0",
            "TIMEOUT_SECONDS": timeout,
        }
        return subprocess.run(
            ["bash", str(path), connection_id], env=env, capture_output=True, text=True, timeout=60
        )

    return run


def statuses_reported(stderr: str) -> list[str]:
    return re.findall(r"^airbyte-sync: job \d+ (\w+)$", stderr, re.MULTILINE)


@NEEDS_CURL_AND_JQ
def test_curl_script_follows_the_job_to_success_with_a_fresh_token_per_request(
    applied: AirbyteFake, curl_script: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    applied.tokens_issued.clear()
    result = curl_script()
    assert result.returncode == 0, result.stderr
    assert statuses_reported(result.stderr) == ["pending", "running", "incomplete", "running", "succeeded"]
    (job_id,) = applied.jobs
    assert json.loads(result.stdout) == {
        "jobId": job_id,
        "status": "succeeded",
        "rowsSynced": 1234,
        "bytesSynced": 567890,
        "duration": "PT1M0S",
    }
    (create,) = applied.requests_matching("POST", f"{PREFIX}/jobs")
    (connection_id,) = applied.airbyte_connections
    assert create.json() == {"connectionId": connection_id, "jobType": "sync"}
    polls = applied.requests_matching("GET", rf"{PREFIX}/jobs/\d+")
    assert len(polls) == 4
    assert len(applied.tokens_issued) == 1 + len(polls)
    (token_request, *_) = applied.requests_matching("POST", f"{PREFIX}/applications/token")
    assert token_request.json() == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant-type": "client_credentials",
    }
    command_lines = (tmp_path / "curl-argv.log").read_text()
    assert command_lines.count("\n") == 2 + 2 * len(polls)
    for secret in (CLIENT_SECRET, *applied.tokens_issued):
        assert secret not in command_lines


@NEEDS_CURL_AND_JQ
@pytest.mark.parametrize(("outcome", "code"), [("failed", 1), ("cancelled", 3)])
def test_curl_script_exits_non_zero_when_the_job_does_not_succeed(
    applied: AirbyteFake,
    curl_script: Callable[..., subprocess.CompletedProcess[str]],
    outcome: str,
    code: int,
) -> None:
    applied.job_script = ("pending", "running", "incomplete", outcome)
    result = curl_script()
    assert result.returncode == code, result.stderr
    assert statuses_reported(result.stderr)[-1] == outcome
    assert json.loads(result.stdout)["status"] == outcome


@NEEDS_CURL_AND_JQ
def test_curl_script_times_out_with_4_and_a_second_sync_is_refused_with_2(
    applied: AirbyteFake, curl_script: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    applied.job_script = ("pending", "running")
    timed_out = curl_script(timeout="0")
    assert timed_out.returncode == 4
    assert "still pending after 0s; it goes on in Airbyte" in timed_out.stderr
    refused = curl_script()
    assert refused.returncode == 2
    assert "POST /jobs answered HTTP 409" in refused.stderr
    assert len(applied.jobs) == 1


@NEEDS_CURL_AND_JQ
def test_curl_script_stops_with_2_on_refused_credentials_without_printing_them(
    applied: AirbyteFake, curl_script: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    result = curl_script(secret="cs-wrong-1f2e3d")
    assert result.returncode == 2
    assert "POST /applications/token answered HTTP 401" in result.stderr
    assert "cs-wrong-1f2e3d" not in result.stderr + result.stdout
    assert applied.jobs == {}


# --- auth ----------------------------------------------------------------------------------------------


def test_token_is_renewed_before_it_expires(applied: AirbyteFake, retl: RetlRunner) -> None:
    applied.token_ttl = 1.0  # renewed after 0.8 s, so no request is sent with an expired one
    applied.job_script = ("pending", *["running"] * 12, "succeeded")
    applied.tokens_issued.clear()
    result = retl("sync", CONNECTION, "--poll-interval", "0.1")
    assert result.code == 0, result.err
    assert len(applied.tokens_issued) >= 2
    assert applied.statuses(401) == []


def test_token_is_renewed_on_401(applied: AirbyteFake, retl: RetlRunner) -> None:
    applied.inject(401, times=1, path_regex=rf"{PREFIX}/jobs/\d+")  # SDK path
    applied.tokens_issued.clear()
    result = retl("sync", CONNECTION, *FAST)
    assert result.code == 0, result.err
    assert len(applied.tokens_issued) == 2


def test_bearer_token_mode(applied: AirbyteFake, retl: RetlRunner, env: pytest.MonkeyPatch) -> None:
    env.delenv("AIRBYTE_CLIENT_ID")
    env.delenv("AIRBYTE_CLIENT_SECRET")
    env.setenv("AIRBYTE_TOKEN", BEARER_TOKEN)
    applied.tokens_issued.clear()
    assert retl("sync", CONNECTION, *FAST).code == 0
    assert applied.tokens_issued == []
    assert all(r.headers["Authorization"] == f"Bearer {BEARER_TOKEN}" for r in applied.requests)

    env.setenv("AIRBYTE_TOKEN", "bt-revoked-0123456789")
    refused = retl("status")
    assert refused.code == 2
    assert "Airbyte refused the credentials (HTTP 401)" in refused.err
    assert "bt-revoked" not in refused.err


def test_wrong_client_secret_and_credential_mixups(
    retl: RetlRunner, fake: AirbyteFake, env: pytest.MonkeyPatch
) -> None:
    env.setenv("AIRBYTE_CLIENT_SECRET", "cs-wrong-secret-value")
    wrong = retl("status")
    assert wrong.code == 2 and "Airbyte refused the credentials (HTTP 401)" in wrong.err

    env.setenv("AIRBYTE_TOKEN", BEARER_TOKEN)
    both = retl("status")
    assert both.code == 2 and "keep one" in both.err

    for name in ("AIRBYTE_TOKEN", "AIRBYTE_CLIENT_ID", "AIRBYTE_CLIENT_SECRET"):
        env.delenv(name)
    none = retl("status")
    assert none.code == 2 and "AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET" in none.err


def test_flags_win_over_environment(retl: RetlRunner, fake: AirbyteFake, env: pytest.MonkeyPatch) -> None:
    env.setenv("AIRBYTE_API_URL", "http://127.0.0.1:9/nowhere")
    env.setenv("AIRBYTE_WORKSPACE_ID", "00000000-0000-4000-8000-999999999999")
    result = retl("register", "--dry-run", "--url", fake.api_url, "--workspace", WORKSPACE_ID)
    assert result.code == 0, result.err
    assert f"Definitions in workspace {WORKSPACE_ID}:" in result.out


def test_no_secret_is_ever_printed(applied: AirbyteFake, retl: RetlRunner, config_file: Path) -> None:
    assert retl("apply", str(config_file), "--force").code == 0
    assert retl("sync", CONNECTION, *FAST).code == 0
    assert retl("status").code == 0
    applied.route(
        "POST", f"{PREFIX}/jobs", lambda req: (400, {"detail": f"bad {req.headers['Authorization']}"})
    )
    echoed = retl("sync", CONNECTION, *FAST)  # an API error echoing this run's token
    assert echoed.code == 2 and "bad Bearer ****" in echoed.err

    printed = "\n".join(retl.transcript)
    assert "****" in printed
    for secret in (
        CLIENT_SECRET,
        SNOWFLAKE_PRIVATE_KEY,
        SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
        HUBSPOT_TOKEN,
        *applied.tokens_issued,
    ):
        assert secret not in printed


def test_the_fake_checks_bodies_against_the_openapi_descriptions(fake: AirbyteFake) -> None:
    if fake.openapi is None:
        pytest.skip("no OpenAPI descriptions in AIRBYTE_OPENAPI_DIR")
    response = requests.post(
        f"{fake.api_url}/jobs",
        json={"connectionId": "00000000-0000-4000-8000-000000000001", "jobType": "resync"},
        headers={"Authorization": f"Bearer {BEARER_TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 400
    (violation,) = fake.schema_violations
    assert violation.schema == "JobCreateRequest" and "'resync' is not one of" in violation.message
    fake.schema_violations.clear()
