from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from tests.source_warehouse_model.helpers import Harness, Result, duckdb_config, make_db

USERS = """
CREATE TABLE users AS SELECT * FROM (VALUES
    (1, 'a', TIMESTAMP '2024-01-01 00:00:00'),
    (2, 'b', TIMESTAMP '2024-01-02 00:00:00'),
    (3, 'c', TIMESTAMP '2024-01-03 00:00:00'),
    (4, 'd', TIMESTAMP '2024-01-03 00:00:00'),
    (5, 'e', NULL)
) AS t(id, name, updated_at)
"""


def _execute(db: Path, *statements: str) -> None:
    connection = duckdb.connect(str(db))
    for statement in statements:
        connection.execute(statement)
    connection.close()


def _read(connector: Harness, db: Path, state: object = None, **config: object) -> Result:
    return connector.read_stream(
        duckdb_config(db, schemas=["main"], **config), "users", state, cursor="updated_at", key=["id"]
    )


def test_first_run_reads_all_rows_in_cursor_order_without_null_cursors(
    connector: Harness, tmp_path: Path
) -> None:
    db = make_db(tmp_path / "w.duckdb", USERS)
    result = _read(connector, db)
    assert [record["id"] for record in result.records()] == [1, 2, 3, 4]
    assert result.states() == [
        {"cursor_field": "updated_at", "cursor": "2024-01-03T00:00:00", "cursor_type": "timestamp"}
    ]
    logs = [message["log"] for message in result.of_type("LOG")]
    assert {
        "level": "WARN",
        "message": "stream main.users: 1 rows have a NULL 'updated_at' and are not read incrementally",
    } in logs
    (estimate,) = result.traces("ESTIMATE")
    assert estimate["estimate"]["row_estimate"] == 4


def test_second_run_sends_changed_rows_and_boundary_ties(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", USERS)
    first = _read(connector, db)
    _execute(
        db,
        "UPDATE users SET name = 'b2', updated_at = TIMESTAMP '2024-01-04 00:00:00' WHERE id = 2",
        # Committed after the first sync, with exactly the stored cursor value: must not be lost.
        "INSERT INTO users VALUES (6, 'f', TIMESTAMP '2024-01-03 00:00:00')",
    )
    second = _read(connector, db, first.final_states())
    assert [(record["id"], record["name"]) for record in second.records()] == [
        (3, "c"),
        (4, "d"),
        (6, "f"),
        (2, "b2"),
    ]
    assert second.states()[-1]["cursor"] == "2024-01-04T00:00:00"
    third = _read(connector, db, second.final_states())
    assert [record["id"] for record in third.records()] == [2]


def test_legacy_state_dict_is_accepted(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", USERS)
    legacy = {
        "users": {"cursor_field": "updated_at", "cursor": "2024-01-02T00:00:00", "cursor_type": "timestamp"}
    }
    assert [record["id"] for record in _read(connector, db, legacy).records()] == [2, 3, 4]


def test_changed_cursor_field_ignores_stored_state(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb", "CREATE TABLE users AS SELECT range AS id, range AS updated_at FROM range(3)"
    )
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "users", "namespace": "main"},
                "stream_state": {"cursor_field": "id", "cursor": "2", "cursor_type": "integer"},
            },
        }
    ]
    result = _read(connector, db, state)
    assert [record["id"] for record in result.records()] == [0, 1, 2]


def test_checkpoint_every_n_records(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb", "CREATE TABLE users AS SELECT range AS id, range AS updated_at FROM range(10)"
    )
    result = _read(connector, db, checkpoint_every_records=3)
    records_before_state, count = [], 0
    for message in result.messages:
        count += message["type"] == "RECORD"
        if message["type"] == "STATE":
            records_before_state.append(count)
    assert records_before_state == [3, 6, 9, 10]
    assert [state["cursor"] for state in result.states()] == ["2", "5", "8", "9"]
    assert {state["cursor_type"] for state in result.states()} == {"integer"}


def test_checkpoints_inside_ties_never_repeat_a_state(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb",
        "CREATE TABLE users AS SELECT range AS id, CASE WHEN range < 7 THEN 1 ELSE 2 END AS updated_at"
        " FROM range(12)",
    )
    result = _read(connector, db, checkpoint_every_records=3)
    # After 3 rows: cursor 1. After 6: still 1, postponed. After 9: 2 is the upper bound, left to the end.
    assert [state["cursor"] for state in result.states()] == ["1", "2"]
    assert len(result.records()) == 12


def test_empty_stream_emits_state_and_keeps_prior(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", "CREATE TABLE users (id INT, updated_at DATE)")
    first = _read(connector, db)
    assert first.records() == []
    assert first.states() == [{"cursor_field": "updated_at", "cursor": None, "cursor_type": None}]
    assert first.traces("ESTIMATE")[0]["estimate"]["row_estimate"] == 0
    _execute(db, "INSERT INTO users VALUES (1, DATE '2024-05-01')")
    second = _read(connector, db, first.final_states())
    assert second.states() == [{"cursor_field": "updated_at", "cursor": "2024-05-01", "cursor_type": "date"}]
    _execute(db, "DELETE FROM users")
    third = _read(connector, db, second.final_states())
    assert third.records() == [] and third.states() == second.states()


def test_quoted_identifiers(connector: Harness, tmp_path: Path) -> None:
    table = '"Sales Team"."Order ""Items"""'
    db = make_db(
        tmp_path / "w.duckdb",
        'CREATE SCHEMA "Sales Team"',
        f'CREATE TABLE {table} ("Item Id" INT, "UpdatedAt" INT, "say ""hi""" VARCHAR)',
        f"INSERT INTO {table} VALUES (1, 10, 'x'), (2, 20, 'y')",
    )
    config = duckdb_config(
        db,
        schemas=["Sales Team"],
        models=[{"name": "items", "relation": table, "cursor_field": "UpdatedAt"}],
    )
    discovered = connector.discover(config)
    assert discovered['Order "Items"']["namespace"] == "Sales Team"
    result = connector.read_stream(config, 'Order "Items"', cursor="UpdatedAt", key=["Item Id"])
    assert result.records() == [
        {"Item Id": 1, "UpdatedAt": 10, 'say "hi"': "x"},
        {"Item Id": 2, "UpdatedAt": 20, 'say "hi"': "y"},
    ]
    second = connector.read_stream(config, 'Order "Items"', result.final_states(), cursor="UpdatedAt")
    assert [record["Item Id"] for record in second.records()] == [2]
    model = connector.read_stream(config, "items")
    assert [record["Item Id"] for record in model.records()] == [1, 2]


def test_state_round_trips_microseconds_nanoseconds_and_time_zones(
    connector: Harness, tmp_path: Path
) -> None:
    db = make_db(
        tmp_path / "w.duckdb",
        """CREATE TABLE events AS SELECT * FROM (VALUES
            (1, TIMESTAMP '2024-01-01 00:00:00.123455', TIMESTAMPTZ '2024-01-01 00:00:00.000001+00',
             '2024-01-01 00:00:00.000000001'::TIMESTAMP_NS, 1.000000000000000001::DECIMAL(38, 18)),
            (2, TIMESTAMP '2024-01-01 00:00:00.123456', TIMESTAMPTZ '2024-01-01 01:00:00.000002+01',
             '2024-01-01 00:00:00.000000002'::TIMESTAMP_NS, 1.000000000000000002::DECIMAL(38, 18))
        ) AS t(id, ts, tz, ns, dec)""",
    )
    config = duckdb_config(db, schemas=["main"])
    expected = {
        "ts": ("timestamp", "2024-01-01T00:00:00.123456"),
        "tz": ("timestamp_tz", "2024-01-01T00:00:00.000002+00:00"),
        "ns": ("string", "2024-01-01T00:00:00.000000002"),
        "dec": ("decimal", "1.000000000000000002"),
    }
    for cursor, (cursor_type, text) in expected.items():
        first = connector.read_stream(config, "events", cursor=cursor)
        assert [record["id"] for record in first.records()] == [1, 2]
        assert first.states() == [{"cursor_field": cursor, "cursor": text, "cursor_type": cursor_type}]
        # The stored value binds back exactly: only the row at the boundary is re-sent.
        second = connector.read_stream(config, "events", first.final_states(), cursor=cursor)
        assert [record["id"] for record in second.records()] == [2], cursor
        assert second.states() == first.states()
    assert first.records()[1]["dec"] == Decimal("1.000000000000000002")


def test_unknown_cursor_column_fails_the_stream(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", USERS)
    result = connector.read_stream(duckdb_config(db, schemas=["main"]), "users", cursor="nope")
    assert result.exit_code == 1
    statuses = [trace["stream_status"]["status"] for trace in result.traces("STREAM_STATUS")]
    assert statuses == ["STARTED", "INCOMPLETE"]
    (error,) = result.traces("ERROR")
    assert error["error"]["failure_type"] == "config_error"
    assert "cursor column 'nope' not found" in error["error"]["message"]
