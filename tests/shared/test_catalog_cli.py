"""`retl catalog`: discover output → a configured catalog the source reads and the destinations write with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest

from retl_shared.catalog import parse_configured_catalog
from retl_shared.errors import ConfigError
from tests.harness import BIN


@pytest.fixture
def discovered(tmp_path: Path) -> bytes:
    """`source-warehouse-model discover` output (LOG lines included) for a table and a declared model."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("CREATE TABLE accounts (id INTEGER, plan VARCHAR, updated_at TIMESTAMP)")
        connection.execute("INSERT INTO accounts VALUES (1, 'pro', TIMESTAMP '2026-11-01 10:00:00')")
    config = {
        "warehouse": {"type": "duckdb", "path": str(warehouse)},
        "schemas": ["main"],
        "models": [{"name": "pro_accounts", "sql": "SELECT * FROM accounts WHERE plan = 'pro'",
                    "primary_key": ["id"], "cursor_field": "updated_at"}],
    }  # fmt: skip
    (tmp_path / "source.json").write_text(json.dumps(config))
    command = [str(BIN / "source-warehouse-model"), "discover", "--config", str(tmp_path / "source.json")]
    return subprocess.run(command, capture_output=True, check=True).stdout


def catalog(tmp_path: Path, discovered: bytes, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "retl"), "catalog", "-", *flags], input=discovered.decode(), capture_output=True, text=True
    )


def test_declared_keys_and_cursors_make_incremental_dedup_streams_the_source_can_read(
    tmp_path: Path, discovered: bytes
) -> None:
    made = catalog(tmp_path, discovered, "--cursor", "accounts=updated_at", "--primary-key", "accounts=id")
    assert made.returncode == 0, made.stderr
    configured = json.loads(made.stdout)
    by_name = {s["stream"]["name"]: s for s in configured["streams"]}
    model = by_name["pro_accounts"]  # its keys come from the model's declaration
    assert (model["sync_mode"], model["destination_sync_mode"]) == ("incremental", "append_dedup")
    assert (model["cursor_field"], model["primary_key"]) == (["updated_at"], [["id"]])
    table = by_name["accounts"]  # its keys from the flags
    assert (table["cursor_field"], table["primary_key"]) == (["updated_at"], [["id"]])
    assert [s.name for s in parse_configured_catalog(configured)] == ["accounts", "pro_accounts"]

    (tmp_path / "catalog.json").write_text(made.stdout)
    read = subprocess.run(
        [str(BIN / "source-warehouse-model"), "read", "--config", str(tmp_path / "source.json"),
         "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    records = [json.loads(line) for line in read.stdout.splitlines() if '"RECORD"' in line]
    assert {r["record"]["stream"] for r in records} == {"accounts", "pro_accounts"}


def test_a_stream_without_a_cursor_is_read_in_full_and_appended(tmp_path: Path, discovered: bytes) -> None:
    made = catalog(tmp_path, discovered, "--stream", "accounts")
    assert made.returncode == 0, made.stderr
    [stream] = json.loads(made.stdout)["streams"]
    assert (stream["sync_mode"], stream["destination_sync_mode"]) == ("full_refresh", "append")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--stream", "acounts"],
            "no stream 'acounts' in the discover output; its streams: accounts, pro_accounts",
        ),
        (
            ["--stream", "accounts", "--sync-mode", "incremental"],
            "has no cursor to read incrementally by: pass --cursor",
        ),
        (
            ["--cursor", "accounts=updated"],
            "stream 'accounts' has no column 'updated'; its columns: id, plan",
        ),
        (
            ["--stream", "accounts", "--destination-sync-mode", "append_dedup"],
            "pass --primary-key accounts=COLUMN",
        ),
        (["--cursor", "accounts"], "--cursor takes STREAM=VALUE"),
    ],
)
def test_choices_that_cannot_work_say_which_flag_fixes_them(
    tmp_path: Path, discovered: bytes, flags: list[str], message: str
) -> None:
    made = catalog(tmp_path, discovered, *flags)
    assert made.returncode == 2 and message in made.stderr and made.stdout == ""


def test_a_destination_given_discover_output_says_to_run_retl_catalog(discovered: bytes) -> None:
    catalog_message: Any = next(json.loads(line) for line in discovered.splitlines() if b'"CATALOG"' in line)
    with pytest.raises(ConfigError, match="is a stream of `discover` output.*`retl catalog`"):
        parse_configured_catalog(catalog_message["catalog"])
