from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.source_warehouse_model.helpers import Harness, duckdb_config, make_db


def test_full_refresh_reads_everything_with_json_values(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb",
        """
        CREATE TABLE things AS SELECT * FROM (VALUES (
            1, 12345678901234567890.0123456789::DECIMAL(38, 10), 2.5::DOUBLE,
            170141183460469231731687303715884105727::HUGEINT,
            DATE '2024-02-29', TIME '01:02:03.5', TIMESTAMP '2024-01-02 03:04:05.123456',
            TIMESTAMPTZ '2024-01-02 03:04:05.5+02:00', '2024-01-02 03:04:05.123456789'::TIMESTAMP_NS,
            '{"a": [1, 2.5, null]}'::JSON, {'k': 1.25::DECIMAL(4, 2), 'raw': 'hi'::BLOB}, [1, 2],
            MAP {1: 'x'},
            '\\x00\\xFF'::BLOB, 'caf\u00e9', true, INTERVAL 3 DAY
        ), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL))
        AS t(id, d, f, h, day, t, ts, tz, ts_ns, j, st, l, m, bl, s, flag, iv)
        """,
    )
    result = connector.read_stream(duckdb_config(db, schemas=["main"]), "things", sync_mode="full_refresh")
    assert result.exit_code == 0
    first, second = result.records()
    assert first == {
        "id": 1,
        "d": Decimal("12345678901234567890.0123456789"),
        "f": Decimal("2.5"),
        "h": 170141183460469231731687303715884105727,
        "day": "2024-02-29",
        "t": "01:02:03.500000",
        "ts": "2024-01-02T03:04:05.123456",
        "tz": "2024-01-02T01:04:05.500000+00:00",
        "ts_ns": "2024-01-02T03:04:05.123456789",
        "j": {"a": [1, Decimal("2.5"), None]},
        "st": {"k": Decimal("1.25"), "raw": "aGk="},
        "l": [1, 2],
        "m": {"1": "x"},
        "bl": "AP8=",
        "s": "café",
        "flag": True,
        "iv": "3 days",
    }
    assert set(second.values()) == {None, 2}
    assert result.states() == [{"__ab_no_cursor_state_message": True}]


def test_full_refresh_messages_in_order(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", "CREATE TABLE t AS SELECT range AS id FROM range(25)")
    result = connector.read_stream(duckdb_config(db, schemas=["main"]), "t", sync_mode="full_refresh")
    kinds = [
        message["trace"].get("stream_status", {}).get("status") or message["trace"]["type"]
        if message["type"] == "TRACE"
        else message["type"]
        for message in result.messages
        if message["type"] != "LOG"
    ]
    assert kinds == ["STARTED", "ESTIMATE", "RUNNING"] + ["RECORD"] * 25 + ["STATE", "COMPLETE"]
    (estimate,) = result.traces("ESTIMATE")
    assert estimate["estimate"] == {"name": "t", "namespace": "main", "type": "STREAM", "row_estimate": 25}
    assert sorted(record["id"] for record in result.records()) == list(range(25))


def test_sql_model_and_relation_model(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb",
        "CREATE TABLE orders AS SELECT range AS id, range % 3 AS customer_id, range * 10 AS amount"
        " FROM range(9)",
    )
    models = [
        {
            "name": "totals",
            "sql": "SELECT customer_id, sum(amount) AS total FROM orders WHERE id > 0 GROUP BY ALL -- totals",
            "primary_key": ["customer_id"],
        },
        {"name": "all_orders", "relation": "main.orders"},
    ]
    config = duckdb_config(db, models=models)
    result = connector.read_stream(config, "totals", sync_mode="full_refresh")
    assert sorted((row["customer_id"], row["total"]) for row in result.records()) == [
        (0, 90),
        (1, 120),
        (2, 150),
    ]
    assert len(connector.read_stream(config, "all_orders", sync_mode="full_refresh").records()) == 9


def test_unknown_stream_is_a_config_error(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", "CREATE TABLE t (id INT)")
    stream = {
        "name": "gone",
        "namespace": "main",
        "json_schema": {},
        "supported_sync_modes": ["full_refresh"],
    }
    config = duckdb_config(db, schemas=["main"])
    result = connector.read(
        config, [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]
    )
    assert result.exit_code == 1
    (error,) = result.traces("ERROR")
    assert error["error"]["failure_type"] == "config_error"
    assert "stream main.gone is in the catalog but not in the source config" in error["error"]["message"]


def test_times_keep_the_leading_zeros_of_their_microseconds(connector: Harness, tmp_path: Path) -> None:
    """orjson 3.13 writes time(1, 2, 3, 52733) as 01:02:03.52733; the source writes ISO 8601 itself."""
    db = make_db(
        tmp_path / "w.duckdb",
        "CREATE TABLE t AS SELECT TIME '01:02:03.052733' AS t, {'at': TIME '04:05:06.010000'} AS s,"
        " [TIME '07:08:09.099999'] AS l",
    )
    result = connector.read_stream(duckdb_config(db, schemas=["main"]), "t", sync_mode="full_refresh")
    assert result.records() == [
        {"t": "01:02:03.052733", "s": {"at": "04:05:06.010000"}, "l": ["07:08:09.099999"]}
    ]
