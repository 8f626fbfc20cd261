from __future__ import annotations

import json
from pathlib import Path

import pytest

from source_warehouse_model.config import relation_parts
from tests.source_warehouse_model.helpers import Harness, duckdb_config, make_db


def test_spec_inlines_refs_and_documents_fields(connector: Harness) -> None:
    (message,) = connector.run("spec").messages
    schema = message["spec"]["connectionSpecification"]
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    options = {
        option["properties"]["type"]["const"]: option for option in schema["properties"]["warehouse"]["oneOf"]
    }
    assert sorted(options) == ["duckdb", "snowflake"]
    duckdb_option = options["duckdb"]
    model = schema["properties"]["models"]["items"]
    for properties in (schema["properties"], duckdb_option["properties"], model["properties"]):
        for name, field in properties.items():
            assert field.get("title") and field.get("description"), name
    assert model["properties"]["cursor_field"] == {
        "type": "string",
        "title": "Cursor field",
        "description": model["properties"]["cursor_field"]["description"],
    }


def test_check_succeeds(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", "CREATE TABLE users (id INT, updated_at TIMESTAMP)")
    config = duckdb_config(
        db,
        schemas=["main"],
        models=[
            {
                "name": "recent",
                "sql": "SELECT * FROM users;",
                "primary_key": ["id"],
                "cursor_field": "updated_at",
            }
        ],
    )
    assert connector.check(config) == {"status": "SUCCEEDED"}


def test_check_fails_on_missing_file(connector: Harness, tmp_path: Path) -> None:
    status = connector.check(duckdb_config(tmp_path / "nope.duckdb", schemas=["main"]))
    assert status["status"] == "FAILED"
    assert "DuckDB database file not found" in status["message"]
    assert not (tmp_path / "nope.duckdb").exists()


def test_check_fails_on_unknown_cursor_column(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", "CREATE TABLE users (id INT, updated_at TIMESTAMP)")
    config = duckdb_config(db, models=[{"name": "u", "relation": "main.users", "cursor_field": "changed"}])
    status = connector.check(config)
    assert status["status"] == "FAILED"
    assert "cursor column 'changed' not found; columns are: id, updated_at" in status["message"]


def test_check_fails_on_broken_sql_unknown_key_and_missing_schema(connector: Harness, tmp_path: Path) -> None:
    db = make_db(tmp_path / "w.duckdb", "CREATE TABLE users (id INT, tags VARCHAR[])")
    broken_sql = connector.check(duckdb_config(db, models=[{"name": "m", "sql": "SELECT * FROM missing"}]))
    assert broken_sql["status"] == "FAILED" and "stream m: the query fails" in broken_sql["message"]
    assert "missing" in broken_sql["message"]
    unknown_key = connector.check(
        duckdb_config(db, models=[{"name": "m", "relation": "users", "primary_key": ["x"]}])
    )
    assert "primary key column 'x' not found" in unknown_key["message"]
    list_cursor = connector.check(
        duckdb_config(db, models=[{"name": "m", "relation": "users", "cursor_field": "tags"}])
    )
    assert "cursor column 'tags' is VARCHAR[], which cannot be a cursor" in list_cursor["message"]
    typo = connector.check(duckdb_config(db, schemas=["mian"]))
    assert typo == {"status": "FAILED", "message": "no tables or views in schema(s): mian"}


def test_check_reports_invalid_config(connector: Harness, tmp_path: Path) -> None:
    config = duckdb_config(tmp_path / "w.duckdb", models=[{"name": "m", "sql": "SELECT 1", "relation": "t"}])
    status = connector.check(config)
    assert status["status"] == "FAILED"
    assert "set exactly one of sql or relation" in status["message"]
    assert "configure at least one" in connector.check(duckdb_config(tmp_path / "w.duckdb"))["message"]
    bad_type = connector.check({"warehouse": {"type": "oracle", "path": "x"}, "schemas": ["main"]})
    assert "warehouse" in bad_type["message"] and "oracle" in bad_type["message"]


def test_discover_with_missing_file_is_a_config_error(connector: Harness, tmp_path: Path) -> None:
    result = connector.run(
        "discover", "--config", connector.file(duckdb_config(tmp_path / "x.duckdb", schemas=["main"]))
    )
    assert result.exit_code == 1
    (error,) = result.traces("ERROR")
    assert error["error"]["failure_type"] == "config_error"


@pytest.mark.parametrize(
    ("relation", "parts"),
    [
        ("orders", [("orders", False)]),
        ("analytics.Orders", [("analytics", False), ("Orders", False)]),
        ('db."My Schema"."a.""b"""', [("db", False), ("My Schema", True), ('a."b"', True)]),
    ],
)
def test_relation_parts(relation: str, parts: list[tuple[str, bool]]) -> None:
    assert relation_parts(relation) == parts


@pytest.mark.parametrize("relation", ["", "a..b", "a.b.c.d", "my table", '"open'])
def test_relation_parts_rejects_malformed_names(relation: str) -> None:
    with pytest.raises(ValueError, match="is not name, schema.name"):
        relation_parts(relation)
