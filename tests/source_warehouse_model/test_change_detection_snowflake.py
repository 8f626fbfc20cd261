"""Change detection by diff on Snowflake: what is Snowflake's own, run against the fakesnow server.

The scenarios shared with DuckDB (first sync, mixed changes, no change, unconfirmed sync, resume,
keys) run on both in test_change_detection.py. fakesnow runs the diff's SQL on DuckDB, so what it
cannot show is said where it matters: HASH there is DuckDB's hash, not Snowflake's (the test proves
the SQL runs and a snapshot is stable and sensitive under the emulation, not Snowflake's hash
values); TRANSIENT is accepted and ignored; there are no roles or grants, so a missing privilege
(error 003001) is tested on the error alone, and a missing schema gives Snowflake's code 002003 in
DuckDB's words.
"""

from __future__ import annotations

from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

from source_warehouse_model.backends import connect
from source_warehouse_model.config import ConfigError, parse_config
from tests.source_warehouse_model.helpers import Harness, Result
from tests.source_warehouse_model.snowflake_fixtures import ROLE, SnowflakeDatabase

pytest_plugins = ["tests.source_warehouse_model.snowflake_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

MODEL = {"name": "accounts", "relation": "S.ACCOUNTS", "primary_key": ["ID"], "change_detection": "diff"}


def _config(db: SnowflakeDatabase, bookkeeping_schema: str | None = "RETL", **extra: Any) -> dict[str, Any]:
    config = db.config(models=[MODEL], **extra)
    if bookkeeping_schema is not None:
        config["warehouse"]["bookkeeping_schema"] = bookkeeping_schema
    return config


def _sync(connector: Harness, config: dict[str, Any], state: Any = None) -> Result:
    result = connector.read_stream(config, "accounts", state)
    assert result.exit_code == 0, result.traces("ERROR")
    return result


def _changes(result: Result) -> list[tuple[str, int]]:
    return [(record["_retl_change"], record["ID"]) for record in result.records()]


def test_fingerprints_of_snowflake_types(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    snowflake_db.execute(
        "CREATE SCHEMA S",
        f"CREATE SCHEMA {snowflake_db.name}.RETL",
        """CREATE TABLE S.ACCOUNTS (ID NUMBER(38, 0), AMOUNT NUMBER(38, 18), RATIO FLOAT,
            SEEN TIMESTAMP_TZ(9), NTZ TIMESTAMP_NTZ(9), DOC VARIANT, NOTE TEXT, BYTES BINARY)""",
        """INSERT INTO S.ACCOUNTS SELECT 1, 1.000000000000000001, 0.1, '2024-01-01 12:00:00.000001+02:00',
            '2024-01-01 00:00:00.000001', PARSE_JSON('{"a": [1, null]}'), 'x', TO_BINARY('00', 'HEX')""",
        "INSERT INTO S.ACCOUNTS (ID) VALUES (2)",
        """INSERT INTO S.ACCOUNTS SELECT 3, 0, 0, '2024-01-01 00:00:00+00:00', '2024-01-01',
            PARSE_JSON('null'), 'NULL', TO_BINARY('', 'HEX')""",
    )
    # The bookkeeping schema may be qualified with its database.
    config = _config(snowflake_db, f"{snowflake_db.name}.RETL")
    assert connector.check(config) == {"status": "SUCCEEDED"}
    first = _sync(connector, config)
    assert _changes(first) == [("added", 1), ("added", 2), ("added", 3)]
    unchanged = _sync(connector, config, first.final_states())
    assert unchanged.records() == []
    snowflake_db.execute(
        "UPDATE S.ACCOUNTS SET AMOUNT = 1.000000000000000002 WHERE ID = 1",
        "UPDATE S.ACCOUNTS SET NOTE = 'NULL' WHERE ID = 2",  # NULL to the text 'NULL'
        "UPDATE S.ACCOUNTS SET DOC = PARSE_JSON('{}') WHERE ID = 3",
    )
    changed = _sync(connector, config, unchanged.final_states())
    assert _changes(changed) == [("updated", 1), ("updated", 2), ("updated", 3)]
    tables = snowflake_db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'RETL'"
    )
    assert len(tables) == 2  # the baseline and the new snapshot; the first was dropped


def test_bookkeeping_schema_is_required_for_diff_models(
    connector: Harness, snowflake_db: SnowflakeDatabase
) -> None:
    status = connector.check(_config(snowflake_db, bookkeeping_schema=None))
    assert status["status"] == "FAILED"
    assert "models with change_detection diff need warehouse.bookkeeping_schema" in status["message"]


def test_check_names_the_grants_for_a_missing_bookkeeping_schema(
    connector: Harness, snowflake_db: SnowflakeDatabase
) -> None:
    snowflake_db.execute("CREATE SCHEMA S", "CREATE TABLE S.ACCOUNTS (ID NUMBER(38, 0))")
    status = connector.check(_config(snowflake_db, "MISSING"))
    assert status["status"] == "FAILED"
    database = snowflake_db.name
    assert status["message"].startswith(
        f"role {ROLE} cannot create tables in the bookkeeping schema {database}.MISSING"
    )
    assert status["message"].endswith(
        f"grant: GRANT USAGE ON DATABASE {database} TO ROLE {ROLE}; GRANT USAGE, CREATE TABLE ON SCHEMA"
        f" {database}.MISSING TO ROLE {ROLE}"
    )


@pytest.mark.parametrize(
    ("schema", "named"),
    [("RETL", "{database}.RETL"), ('OTHER."Retl State"', 'OTHER."Retl State"')],
)
def test_a_missing_privilege_on_the_bookkeeping_schema_is_a_config_error(
    snowflake_db: SnowflakeDatabase, schema: str, named: str
) -> None:
    # fakesnow has no grants: Snowflake's error for a missing CREATE TABLE privilege, given to the backend.
    config = parse_config(_config(snowflake_db, schema))
    named = named.format(database=snowflake_db.name)
    refused = ProgrammingError(
        msg=f"SQL access control error: Insufficient privileges to operate on schema '{schema}'", errno=3001
    )
    with connect(config.warehouse) as backend:
        error = backend.bookkeeping_error(refused)
        other = ProgrammingError(msg="Numeric value 'x' is not recognized", errno=100038)
        assert backend.bookkeeping_error(other) is other
    assert isinstance(error, ConfigError)
    assert str(error).startswith(f"role {ROLE} cannot create tables in the bookkeeping schema {named}")
    assert f"GRANT USAGE, CREATE TABLE ON SCHEMA {named} TO ROLE {ROLE}" in str(error)
