from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, FailureType, Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_warehouse_model.connector import discover_message
from source_warehouse_model.source import SourceWarehouseModel
from tests.source_warehouse_model.helpers import configured_stream, duckdb_config, make_db

MAIN = Path(__file__).parents[2] / "source-warehouse-model" / "main.py"
EVENTS = "CREATE TABLE events AS SELECT range AS id, range * 1.5::DECIMAL(10, 1) AS amount FROM range(5)"


def test_cdk_source_wraps_the_same_core(tmp_path: Path) -> None:
    source, logger = SourceWarehouseModel(), logging.getLogger("test")
    config = duckdb_config(make_db(tmp_path / "w.duckdb", EVENTS), schemas=["main"])
    assert "warehouse" in source.spec(logger).connectionSpecification["properties"]
    assert source.check(logger, config).status == Status.SUCCEEDED
    assert [stream.name for stream in source.discover(logger, config).streams] == ["events"]
    (stream,) = discover_message(config)["catalog"]["streams"]
    catalog = ConfiguredAirbyteCatalogSerializer.load({"streams": [configured_stream(stream, cursor="id")]})
    messages = list(source.read(logger, config, catalog, []))
    records = [message.record for message in messages if message.type == Type.RECORD]
    assert [record.data["id"] for record in records if record] == [0, 1, 2, 3, 4]
    (state,) = [message.state for message in messages if message.type == Type.STATE]
    assert state and state.stream and state.stream.stream_state
    assert state.stream.stream_state.cursor == "4"  # type: ignore[attr-defined]


def test_cdk_source_classifies_errors_as_the_console_script_does(tmp_path: Path) -> None:
    source, logger = SourceWarehouseModel(), logging.getLogger("test")
    ratios = {"name": "ratios", "sql": "SELECT id, 10 // (id - id) AS ratio FROM events"}
    config = duckdb_config(make_db(tmp_path / "w.duckdb", EVENTS), models=[ratios])
    (stream,) = discover_message(config)["catalog"]["streams"]
    catalog = ConfiguredAirbyteCatalogSerializer.load(
        {"streams": [configured_stream(stream, "full_refresh")]}
    )
    with pytest.raises(AirbyteTracedException) as read:
        list(source.read(logger, config, catalog, []))
    assert read.value.failure_type == FailureType.config_error
    assert str(read.value.message).startswith("stream ratios: Invalid Input Error: Division by zero")
    (tmp_path / "notes.duckdb").write_text("not a database")
    with pytest.raises(AirbyteTracedException) as discover:
        source.discover(logger, duckdb_config(tmp_path / "notes.duckdb", schemas=["main"]))
    assert discover.value.failure_type == FailureType.config_error
    assert "not a valid DuckDB database file" in str(discover.value.message)


def test_console_script_end_to_end(tmp_path: Path) -> None:
    config_path, catalog_path = tmp_path / "config.json", tmp_path / "catalog.json"
    config_path.write_text(
        json.dumps(duckdb_config(make_db(tmp_path / "w.duckdb", EVENTS), schemas=["main"]))
    )
    stream = {
        "name": "events",
        "namespace": "main",
        "json_schema": {},
        "supported_sync_modes": ["full_refresh"],
    }
    catalog_path.write_text(json.dumps({"streams": [configured_stream(stream, "full_refresh")]}))
    read = subprocess.run(
        [sys.executable, str(MAIN), "read", "--config", str(config_path), "--catalog", str(catalog_path)],
        capture_output=True,
        check=True,
    )
    output = read.stdout.decode()
    records = [json.loads(line)["record"]["data"] for line in output.splitlines() if '"RECORD"' in line]
    assert [record["id"] for record in records] == [0, 1, 2, 3, 4]
    assert '"amount":6.0}' in output  # the decimal's own digits, not a float's
    # Nothing on stderr for a clean read: not even DuckDB's binding (nanobind) reporting at exit the
    # objects a frozen garbage collector left alive as leaks, which a quick exit would provoke.
    assert read.stderr == b""
