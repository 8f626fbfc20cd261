"""A model's cursor_field and primary_key resolve to the column that differs from them only in case
(Snowflake upper-cases unquoted names); two such columns are a config error naming both."""

from __future__ import annotations

from pathlib import Path

import pytest

from source_warehouse_model.backends.base import Column, Kind
from source_warehouse_model.config import ConfigError
from source_warehouse_model.streams import StreamDef, column_named
from tests.source_warehouse_model.helpers import Harness, Result, duckdb_config, make_db

CONTACTS = """
CREATE TABLE CONTACTS AS SELECT * FROM (VALUES
    (1, 'ann@x.io', TIMESTAMP '2024-01-01 00:00:00'),
    (2, 'bob@x.io', TIMESTAMP '2024-01-02 00:00:00')
) AS t(ID, EMAIL, UPDATED_AT)
"""
LOWER_CASE_MODEL = {
    "name": "contacts",
    "relation": "CONTACTS",
    "primary_key": ["id"],
    "cursor_field": "updated_at",
}
RESOLVED_LOGS = [
    "cursor column 'updated_at' resolved to 'UPDATED_AT' in stream contacts (only the case differs)",
    "primary key column 'id' resolved to 'ID' in stream contacts (only the case differs)",
]


def logs(result: Result) -> list[str]:
    return [message["log"]["message"] for message in result.of_type("LOG")]


def test_check_and_discover_name_the_models_keys_as_the_warehouse_does(
    connector: Harness, tmp_path: Path
) -> None:
    config = duckdb_config(make_db(tmp_path / "w.duckdb", CONTACTS), models=[LOWER_CASE_MODEL])
    assert connector.check(config) == {"status": "SUCCEEDED"}
    stream = connector.discover(config)["contacts"]
    assert stream["default_cursor_field"] == ["UPDATED_AT"]
    assert stream["source_defined_primary_key"] == [["ID"]]


def test_an_incremental_read_resolves_once_and_keeps_the_columns_name_in_its_state(
    connector: Harness, tmp_path: Path
) -> None:
    db = make_db(tmp_path / "w.duckdb", CONTACTS)
    config = duckdb_config(db, models=[LOWER_CASE_MODEL])
    stream = {**connector.discover(config)["contacts"], "default_cursor_field": ["updated_at"]}
    configured = {
        "stream": stream,
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
        "cursor_field": ["updated_at"],  # a catalog may name them in another case too
        "primary_key": [["id"]],
    }
    first = connector.read(config, [configured])
    assert first.exit_code == 0
    assert [r["ID"] for r in first.records()] == [1, 2]
    assert [line for line in logs(first) if "resolved" in line] == RESOLVED_LOGS
    assert first.states()[-1] == {
        "cursor_field": "UPDATED_AT",
        "cursor": "2024-01-02T00:00:00",
        "cursor_type": "timestamp",
    }
    make_db(db, "INSERT INTO CONTACTS VALUES (3, 'cy@x.io', TIMESTAMP '2024-01-03 00:00:00')")
    second = connector.read(config, [configured], first.final_states())
    assert [r["ID"] for r in second.records()] == [2, 3]  # from the stored cursor on, inclusive
    assert not any("cursor changed" in line for line in logs(second))


def test_a_diff_model_keyed_in_another_case_reads_its_changes(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", CONTACTS)
    model = {"name": "contacts", "relation": "CONTACTS", "primary_key": ["id"], "change_detection": "diff"}
    config = duckdb_config(db, models=[model])
    config["warehouse"]["bookkeeping_path"] = str(tmp_path / "bookkeeping.duckdb")
    first = connector.read_stream(config, "contacts")
    assert first.exit_code == 0, logs(first)
    assert [(r["ID"], r["_retl_change"]) for r in first.records()] == [(1, "added"), (2, "added")]
    assert RESOLVED_LOGS[1] in logs(first)
    make_db(db, "UPDATE CONTACTS SET EMAIL = 'ann@y.io' WHERE ID = 1")
    second = connector.read_stream(config, "contacts", first.final_states())
    assert [(r["ID"], r["_retl_change"]) for r in second.records()] == [(1, "updated")]


def test_two_columns_differing_only_in_case_are_an_error_naming_both() -> None:
    """Snowflake can return both (quoted names keep their case); DuckDB renames the second to ID_1."""
    columns = [Column("id", "NUMBER", Kind.INTEGER), Column("ID", "NUMBER", Kind.INTEGER)]
    stream = StreamDef("twins", None, "SELECT 1")
    with pytest.raises(ConfigError) as raised:
        column_named(columns, "Id", stream, "primary key")
    assert raised.value.message == (
        "stream twins: primary key column 'Id' matches the columns 'id' and 'ID', which differ only in case;"
        " write it exactly as one of them"
    )
    assert column_named(columns, "ID", stream, "primary key") is columns[1]
