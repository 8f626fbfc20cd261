from __future__ import annotations

from pathlib import Path

from tests.source_warehouse_model.helpers import Harness, duckdb_config, make_db

ALL_TYPES = """
CREATE TABLE everything (
    i INTEGER, b BIGINT, h HUGEINT, d DECIMAL(38, 10), f DOUBLE, s VARCHAR, flag BOOLEAN, day DATE,
    t TIME, ts TIMESTAMP, ts_ns TIMESTAMP_NS, tz TIMESTAMPTZ, j JSON, st STRUCT(a INTEGER), l INTEGER[],
    m MAP(VARCHAR, INTEGER), bl BLOB, u UUID
)
"""


def test_discover_maps_column_types(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", ALL_TYPES)
    stream = connector.discover(duckdb_config(db, schemas=["main"]))["everything"]
    properties = stream["json_schema"]["properties"]
    assert {name: schema["type"][1:] for name, schema in properties.items()} == {
        "i": ["integer"],
        "b": ["integer"],
        "h": ["integer"],
        "d": ["number"],
        "f": ["number"],
        "s": ["string"],
        "flag": ["boolean"],
        "day": ["string"],
        "t": ["string"],
        "ts": ["string"],
        "ts_ns": ["string"],
        "tz": ["string"],
        "j": ["object", "array"],
        "st": ["object"],
        "l": ["array"],
        "m": ["object"],
        "bl": ["string"],
        "u": ["string"],
    }
    assert all(schema["type"][0] == "null" for schema in properties.values())
    assert properties["day"]["format"] == "date"
    assert (
        properties["ts"]["airbyte_type"]
        == properties["ts_ns"]["airbyte_type"]
        == "timestamp_without_timezone"
    )
    assert properties["tz"] == {
        "type": ["null", "string"],
        "format": "date-time",
        "airbyte_type": "timestamp_with_timezone",
    }
    assert properties["bl"]["contentEncoding"] == "base64"
    assert stream["namespace"] == "main"
    assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert stream["source_defined_cursor"] is False
    assert "default_cursor_field" not in stream and "source_defined_primary_key" not in stream


def test_discover_lists_tables_views_and_models(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb",
        "CREATE TABLE orders (id INT, customer_id INT, updated_at TIMESTAMP)",
        "CREATE VIEW big_orders AS SELECT * FROM orders WHERE id > 10",
        "CREATE SCHEMA other",
        "CREATE TABLE other.ignored (x INT)",
    )
    models = [
        {
            "name": "orders_by_customer",
            "sql": "SELECT customer_id, max(updated_at) AS updated_at FROM orders GROUP BY 1",
            "primary_key": ["customer_id"],
            "cursor_field": "updated_at",
        }
    ]
    streams = connector.discover(duckdb_config(db, schemas=["main"], models=models))
    assert sorted(streams) == ["big_orders", "orders", "orders_by_customer"]
    model = streams["orders_by_customer"]
    assert "namespace" not in model
    assert model["source_defined_cursor"] is True
    assert model["default_cursor_field"] == ["updated_at"]
    assert model["source_defined_primary_key"] == [["customer_id"]]
    assert list(model["json_schema"]["properties"]) == ["customer_id", "updated_at"]
