"""The Snowflake backend, run with the real ``snowflake-connector-python`` against a fakesnow server.

fakesnow runs DuckDB under Snowflake's SQL, so some values come back in DuckDB's form (see
snowflake_fixtures): timestamps as "2024-01-01 00:00:00.000001" rather than Snowflake's
"2024-01-01T00:00:00.000001000", with microseconds only, and TIMESTAMP_TZ in UTC ("+00") rather
than with its own offset. The SQL that asks Snowflake for the exact form is checked as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from snowflake.connector.cursor import SnowflakeCursor

from source_warehouse_model.backends import connect
from source_warehouse_model.backends.base import Column, Kind
from source_warehouse_model.backends.snowflake import QUERY_TAG, SnowflakeBackend
from source_warehouse_model.config import parse_config
from tests.source_warehouse_model.helpers import Harness, Result, duckdb_config, make_db
from tests.source_warehouse_model.snowflake_fixtures import (
    REJECTED_PASSWORD,
    REJECTED_TOKEN,
    ROLE,
    FakeSnowflake,
    SnowflakeDatabase,
)

pytest_plugins = ["tests.source_warehouse_model.snowflake_fixtures"]
# fakesnow's own DuckDB calls warn about an extra copy of each result.
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

EVENTS = (
    "CREATE SCHEMA S",
    "CREATE TABLE S.EVENTS (ID NUMBER(38, 0), NAME TEXT, UPDATED_AT TIMESTAMP_NTZ(9))",
    """INSERT INTO S.EVENTS VALUES
        (1, 'a', '2024-01-01 00:00:00'),
        (2, 'b', '2024-01-02 00:00:00'),
        (3, 'c', '2024-01-03 00:00:00.000001'),
        (4, 'd', '2024-01-03 00:00:00.000001'),
        (5, 'e', NULL)""",
)


def _read(connector: Harness, db: SnowflakeDatabase, state: Any = None, **config: Any) -> Result:
    return connector.read_stream(
        db.config(schemas=["S"], **config), "EVENTS", state, cursor="UPDATED_AT", key=["ID"]
    )


def _ids(result: Result) -> list[int]:
    assert result.exit_code == 0, result.traces("ERROR")
    return [record["ID"] for record in result.records()]


def _cursors(result: Result) -> list[str]:
    return [state["cursor"] for state in result.states()]


def test_types_become_json_values(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    snowflake_db.execute(
        "CREATE SCHEMA S",
        """CREATE TABLE S.EVERYTHING (
            ID NUMBER(38, 0), AMOUNT NUMBER(20, 4), RATIO FLOAT, NOTE TEXT, FLAG BOOLEAN, DAY DATE,
            NTZ TIMESTAMP_NTZ(9), TZ TIMESTAMP_TZ(9), LTZ TIMESTAMP_LTZ(9), CLOCK TIME(9), BYTES BINARY,
            DOC VARIANT, SCALAR VARIANT, OBJ OBJECT, LIST ARRAY)""",
        """INSERT INTO S.EVERYTHING SELECT
            1, 12345678901234.5670, 2.5, 'it''s 100% done?', TRUE, '2024-02-29',
            '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02:00', '2024-01-02 03:04:05.5',
            '01:02:03.5', TO_BINARY('00FF', 'HEX'), PARSE_JSON('{"a": [1, 2.5, null]}'), PARSE_JSON('"hi"'),
            OBJECT_CONSTRUCT('k', 1), ARRAY_CONSTRUCT(1, 'x')""",
        "INSERT INTO S.EVERYTHING (ID) VALUES (2)",
    )
    config = snowflake_db.config(schemas=["s"])  # schemas match case-insensitively, as in DuckDB
    properties = connector.discover(config)["EVERYTHING"]["json_schema"]["properties"]
    assert {name: schema["type"][1:] for name, schema in properties.items()} == {
        "ID": ["integer"],
        "AMOUNT": ["number"],
        "RATIO": ["number"],
        "NOTE": ["string"],
        "FLAG": ["boolean"],
        "DAY": ["string"],
        "NTZ": ["string"],
        "TZ": ["string"],
        "LTZ": ["string"],
        "CLOCK": ["string"],
        "BYTES": ["string"],
        # fakesnow describes OBJECT and ARRAY as VARIANT; Snowflake gives them ["object"] and ["array"].
        "DOC": ["object", "array", "string", "number", "boolean"],
        "SCALAR": ["object", "array", "string", "number", "boolean"],
        "OBJ": ["object", "array", "string", "number", "boolean"],
        "LIST": ["object", "array", "string", "number", "boolean"],
    }
    assert properties["NTZ"]["airbyte_type"] == "timestamp_without_timezone"
    assert properties["TZ"]["airbyte_type"] == properties["LTZ"]["airbyte_type"] == "timestamp_with_timezone"
    assert properties["DAY"]["format"] == "date" and properties["CLOCK"]["format"] == "time"

    result = connector.read_stream(config, "EVERYTHING", sync_mode="full_refresh")
    first, second = result.records()
    assert first == {
        "ID": 1,
        "AMOUNT": Decimal("12345678901234.5670"),
        "RATIO": Decimal("2.5"),
        "NOTE": "it's 100% done?",
        "FLAG": True,
        "DAY": "2024-02-29",
        "NTZ": "2024-01-02 03:04:05.123456",  # Snowflake: "2024-01-02T03:04:05.123456000"
        "TZ": "2024-01-02 01:04:05.123456+00",  # Snowflake: "2024-01-02T03:04:05.123456000+02:00"
        "LTZ": "2024-01-02 03:04:05.5+00",  # Snowflake: "2024-01-02T03:04:05.500000000+00:00"
        "CLOCK": "01:02:03.5",  # Snowflake: "01:02:03.500000000"
        "BYTES": "AP8=",
        "DOC": {"a": [1, Decimal("2.5"), None]},
        "SCALAR": "hi",
        "OBJ": {"k": 1},
        "LIST": [1, "x"],
    }
    assert str(first["AMOUNT"]) == "12345678901234.5670"  # the scale's digits too
    assert set(second.values()) == {None, 2}


def test_spec_marks_every_credential_secret(connector: Harness) -> None:
    (message,) = connector.run("spec").messages
    options = message["spec"]["connectionSpecification"]["properties"]["warehouse"]["oneOf"]
    (snowflake,) = [option for option in options if option["properties"]["type"]["const"] == "snowflake"]
    secrets = {
        (credentials["properties"]["auth_type"]["const"], name)
        for credentials in snowflake["properties"]["credentials"]["oneOf"]
        for name, field in credentials["properties"].items()
        if field.get("airbyte_secret")
    }
    assert secrets == {
        ("password", "password"),
        ("key_pair", "private_key"),
        ("key_pair", "private_key_passphrase"),
        ("pat", "token"),
    }
    assert snowflake["required"] == [
        "type",
        "account",
        "user",
        "role",
        "warehouse",
        "database",
        "credentials",
    ]


def test_sql_asks_snowflake_for_every_digit_and_the_offset(snowflake_db: SnowflakeDatabase) -> None:
    """What fakesnow cannot show: the text Snowflake returns, and how it binds back."""
    with connect(parse_config(snowflake_db.config(schemas=["S"])).warehouse) as backend:
        ntz = Column("C", "TIMESTAMP_NTZ(9)", Kind.TIMESTAMP)
        tz = Column("C", "TIMESTAMP_TZ(9)", Kind.TIMESTAMP_TZ)
        at = Column("C", "TIME(9)", Kind.TIME)
        assert backend.output_sql(ntz, '"C"') == """TO_VARCHAR("C", 'YYYY-MM-DD"T"HH24:MI:SS.FF9')"""
        assert backend.output_sql(tz, '"C"') == """TO_VARCHAR("C", 'YYYY-MM-DD"T"HH24:MI:SS.FF9TZH:TZM')"""
        assert backend.output_sql(at, '"C"') == """TO_VARCHAR("C", 'HH24:MI:SS.FF9')"""
        assert backend.cursor_param(ntz) == "CAST(? AS TIMESTAMP_NTZ(9))"
        assert backend.cursor_param(Column("N", "NUMBER(20,4)", Kind.DECIMAL)) == "CAST(? AS NUMBER(20,4))"


def test_incremental_ties_late_commits_and_null_cursors(
    connector: Harness, snowflake_db: SnowflakeDatabase
) -> None:
    snowflake_db.execute(*EVENTS)
    first = _read(connector, snowflake_db)
    assert _ids(first) == [1, 2, 3, 4]
    assert first.states() == [
        {"cursor_field": "UPDATED_AT", "cursor": "2024-01-03 00:00:00.000001", "cursor_type": "string"}
    ]
    logs = [message["log"]["message"] for message in first.of_type("LOG")]
    assert "stream S.EVENTS: 1 rows have a NULL 'UPDATED_AT' and are not read incrementally" in logs
    assert [t["estimate"]["row_estimate"] for t in first.traces("ESTIMATE")] == [4]
    snowflake_db.execute(
        "UPDATE S.EVENTS SET NAME = 'b2', UPDATED_AT = '2024-01-04 00:00:00' WHERE ID = 2",
        # Committed after the first sync with exactly the stored cursor value: must not be lost.
        "INSERT INTO S.EVENTS VALUES (6, 'f', '2024-01-03 00:00:00.000001')",
        # One microsecond below the stored cursor: only a lookback window brings it (see below).
        "INSERT INTO S.EVENTS VALUES (7, 'g', '2024-01-03 00:00:00')",
    )
    second = _read(connector, snowflake_db, first.final_states())
    assert [(record["ID"], record["NAME"]) for record in second.records()] == [
        (3, "c"),
        (4, "d"),
        (6, "f"),
        (2, "b2"),
    ]
    assert _cursors(second) == ["2024-01-04 00:00:00"]
    assert _ids(_read(connector, snowflake_db, second.final_states())) == [2]


@pytest.mark.parametrize(
    ("column_type", "values", "stored"),
    [
        (
            "TIMESTAMP_NTZ(9)",
            ("2024-01-01 00:00:00.000001", "2024-01-01 00:00:00.000002"),
            "2024-01-01 00:00:00.000002",
        ),
        (
            "TIMESTAMP_TZ(9)",
            ("2024-01-01 02:00:00.000001+02:00", "2024-01-01 00:00:00.000002+00:00"),
            "2024-01-01 00:00:00.000002+00",
        ),
        (
            "TIMESTAMP_LTZ(9)",
            ("2024-01-01 00:00:00.000001", "2024-01-01 00:00:00.000002"),
            "2024-01-01 00:00:00.000002+00",
        ),
        ("NUMBER(38, 10)", ("1.0000000001", "1.0000000002"), "1.0000000002"),
        ("DATE", ("2024-01-01", "2024-01-02"), "2024-01-02"),
    ],
)
def test_cursor_state_round_trips_exactly(
    connector: Harness,
    snowflake_db: SnowflakeDatabase,
    column_type: str,
    values: tuple[str, str],
    stored: str,
) -> None:
    snowflake_db.execute(
        "CREATE SCHEMA S",
        f"CREATE TABLE S.EVENTS (ID NUMBER(38, 0), UPDATED_AT {column_type})",
        f"INSERT INTO S.EVENTS VALUES (1, '{values[0]}'), (2, '{values[1]}')",
    )
    first = _read(connector, snowflake_db)
    assert _ids(first) == [1, 2] and _cursors(first) == [stored]
    # The stored text binds back cast to the column's type: only the row at the boundary comes again.
    second = _read(connector, snowflake_db, first.final_states())
    assert _ids(second) == [2] and second.states() == first.states()


def test_a_nanosecond_state_binds_back(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    """fakesnow keeps microseconds only, so nanosecond rows cannot be stored; a state Snowflake wrote,
    with nine digits, still binds back as a timestamp (DuckDB truncates it to microseconds)."""
    snowflake_db.execute(*EVENTS)
    state = {
        "EVENTS": {
            "cursor_field": "UPDATED_AT",
            "cursor": "2024-01-01T23:59:59.999999500",
            "cursor_type": "string",
        }
    }
    assert _ids(_read(connector, snowflake_db, state)) == [2, 3, 4]


def test_quoted_identifiers(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    table = '"Sales Team"."Order Items"'
    snowflake_db.execute(
        'CREATE SCHEMA "Sales Team"',
        f'CREATE TABLE {table} ("Item Id" NUMBER(38, 0), "UpdatedAt" NUMBER(38, 0), "say hi" TEXT)',
        f"INSERT INTO {table} VALUES (1, 10, 'x'), (2, 20, 'y')",
    )
    config = snowflake_db.config(
        schemas=["Sales Team"], models=[{"name": "items", "relation": table, "cursor_field": "UpdatedAt"}]
    )
    assert connector.discover(config)["Order Items"]["namespace"] == "Sales Team"
    result = connector.read_stream(config, "Order Items", cursor="UpdatedAt", key=["Item Id"])
    assert result.records() == [
        {"Item Id": 1, "UpdatedAt": 10, "say hi": "x"},
        {"Item Id": 2, "UpdatedAt": 20, "say hi": "y"},
    ]
    second = connector.read_stream(config, "Order Items", result.final_states(), cursor="UpdatedAt")
    assert [record["Item Id"] for record in second.records()] == [2]
    assert [record["Item Id"] for record in connector.read_stream(config, "items").records()] == [1, 2]


def test_empty_model_and_empty_table(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    snowflake_db.execute(*EVENTS, "CREATE TABLE S.NOTHING (ID NUMBER(38, 0), UPDATED_AT DATE)")
    models = [
        {"name": "none", "sql": "SELECT * FROM S.EVENTS WHERE 1 = 0", "cursor_field": "UPDATED_AT"},
        {"name": "nothing", "relation": "S.NOTHING", "cursor_field": "UPDATED_AT"},
    ]
    config = snowflake_db.config(models=models)
    for name in ("none", "nothing"):
        incremental = connector.read_stream(config, name)
        assert incremental.exit_code == 0 and incremental.records() == []
        assert incremental.states() == [{"cursor_field": "UPDATED_AT", "cursor": None, "cursor_type": None}]
        full = connector.read_stream(config, name, sync_mode="full_refresh")
        assert full.records() == [] and full.states() == [{"__ab_no_cursor_state_message": True}]


def test_resume_from_a_mid_stream_checkpoint(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    snowflake_db.execute(
        "CREATE SCHEMA S",
        "CREATE TABLE S.EVENTS (ID NUMBER(38, 0), UPDATED_AT TIMESTAMP_NTZ(9))",
        # Three rows a day, so ties on 2024-01-03 straddle the second checkpoint (after four and eight rows).
        "INSERT INTO S.EVENTS SELECT SEQ4(), DATEADD(DAY, FLOOR(SEQ4() / 3), '2024-01-01')"
        " FROM TABLE(GENERATOR(ROWCOUNT => 12))",
    )
    full = _read(connector, snowflake_db, checkpoint_every_records=4)
    assert _ids(full) == list(range(12))
    assert _cursors(full) == ["2024-01-02 00:00:00", "2024-01-03 00:00:00", "2024-01-04 00:00:00"]
    checkpoint = full.states()[1]  # after ID 7, while ID 8 has the same cursor
    state = [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "EVENTS", "namespace": "S"}, "stream_state": checkpoint},
        }
    ]
    resumed = _read(connector, snowflake_db, state, checkpoint_every_records=4)
    assert _ids(resumed) == [6, 7, 8, 9, 10, 11]  # every row at or after the checkpoint, ties included


def test_check_accepts_each_credential_type_and_sets_up_the_session(
    connector: Harness, snowflake_db: SnowflakeDatabase, snowflake_server: FakeSnowflake
) -> None:
    snowflake_db.execute(*EVENTS)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    credentials = [
        {"auth_type": "password", "password": "s3cret-password"},
        {"auth_type": "key_pair", "private_key": pem, "private_key_passphrase": "passphrase"},
        {"auth_type": "pat", "token": "pat-token-value"},
    ]
    models = [{"name": "events", "relation": "S.EVENTS", "primary_key": ["ID"], "cursor_field": "UPDATED_AT"}]
    for credential in credentials:
        before = len(snowflake_server.logins)
        config = {"warehouse": snowflake_db.warehouse(credential), "models": models}
        assert connector.check(config) == {"status": "SUCCEEDED"}
        (login,) = snowflake_server.logins[before:]
        assert login["SESSION_PARAMETERS"]["TIMEZONE"] == "UTC"
        assert login["SESSION_PARAMETERS"]["QUERY_TAG"] == QUERY_TAG
    password, key_pair, pat = snowflake_server.logins[-3:]
    assert password["PASSWORD"] == "s3cret-password"
    assert pat["AUTHENTICATOR"] == "PROGRAMMATIC_ACCESS_TOKEN" and pat["TOKEN"] == "pat-token-value"
    # The JWT names the fingerprint of the public key: the encrypted PEM was decrypted and used.
    assert key_pair["AUTHENTICATOR"] == "SNOWFLAKE_JWT"
    claims = json.loads(base64.urlsafe_b64decode(key_pair["TOKEN"].split(".")[1] + "=="))
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = base64.b64encode(hashlib.sha256(public).digest()).decode()
    assert claims["iss"] == f"FAKESNOW.AIRBYTE.SHA256:{fingerprint}"


def test_check_reports_rejected_credentials(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    """fakesnow accepts any credentials; the fixture refuses these two as Snowflake does (390100)."""
    for credentials, advice in [
        ({"auth_type": "password", "password": REJECTED_PASSWORD}, "Check the user and the password."),
        ({"auth_type": "pat", "token": REJECTED_TOKEN}, "has not expired or been revoked."),
    ]:
        config = {"warehouse": snowflake_db.warehouse(credentials), "schemas": ["S"]}
        status = connector.check(config)
        assert status["status"] == "FAILED"
        assert status["message"].startswith(
            "Snowflake rejected the credentials of user airbyte on account fakesnow:"
        )
        assert "Incorrect username or password was specified." in status["message"]
        assert status["message"].endswith(advice)
        discover = connector.run("discover", "--config", connector.file(config))
        (error,) = discover.traces("ERROR")
        assert error["error"]["failure_type"] == "config_error"
        assert REJECTED_PASSWORD not in json.dumps(discover.messages)


def test_check_reports_an_unreadable_private_key(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    credentials = {"auth_type": "key_pair", "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key"}
    status = connector.check({"warehouse": snowflake_db.warehouse(credentials), "schemas": ["S"]})
    assert status["status"] == "FAILED"
    assert status["message"].startswith("the Snowflake private key cannot be loaded")


def test_check_names_a_missing_relation_and_the_grants(
    connector: Harness, snowflake_db: SnowflakeDatabase
) -> None:
    """fakesnow has no roles: a missing relation gives the same error (002003) an ungranted one does."""
    snowflake_db.execute(*EVENTS)
    config = snowflake_db.config(models=[{"name": "orders", "relation": "S.ORDERS"}])
    status = connector.check(config)
    assert status["status"] == "FAILED"
    message = status["message"]
    assert message.startswith(
        "stream orders: the query fails: a relation the query reads does not exist, or role"
    )
    assert "ORDERS" in message  # in fakesnow's words; Snowflake's are parsed below
    assert f"GRANT SELECT ON VIEW <database>.<schema>.<name> TO ROLE {ROLE}" in message
    with connect(parse_config(config).warehouse) as backend:
        assert isinstance(backend, SnowflakeBackend)
        hint = backend.access_hint(
            "SQL compilation error:\nObject 'S.ORDERS' does not exist or not authorized."
        )
        database = snowflake_db.name
        assert hint == (
            f"object {database}.S.ORDERS does not exist, or role {ROLE} may not read it. If it exists, grant:"
            f" GRANT USAGE ON DATABASE {database} TO ROLE {ROLE}; GRANT USAGE ON SCHEMA {database}.S TO ROLE"
            f" {ROLE}; GRANT SELECT ON VIEW {database}.S.ORDERS TO ROLE {ROLE} (ON TABLE for a table)"
        )
        quoted = backend.access_hint("""Schema 'DB."Sales Team"' does not exist or not authorized.""")
        assert quoted.startswith('schema DB."Sales Team" does not exist')
        assert quoted.endswith(f'GRANT USAGE ON SCHEMA DB."Sales Team" TO ROLE {ROLE}')


def test_check_names_an_unknown_cursor_column(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    snowflake_db.execute(*EVENTS)
    model = {"name": "events", "relation": "S.EVENTS", "cursor_field": "changed_at"}
    status = connector.check(snowflake_db.config(models=[model]))
    assert status == {
        "status": "FAILED",
        "message": "stream events: cursor column 'changed_at' not found; columns are: ID, NAME, UPDATED_AT",
    }


def test_keys_written_in_lower_case_resolve_to_snowflakes_upper_case_columns(
    connector: Harness, snowflake_db: SnowflakeDatabase
) -> None:
    snowflake_db.execute(*EVENTS)
    model = {"name": "events", "relation": "S.EVENTS", "primary_key": ["id"], "cursor_field": "updated_at"}
    config = snowflake_db.config(models=[model])
    assert connector.check(config) == {"status": "SUCCEEDED"}
    result = connector.read_stream(config, "events")
    assert _ids(result) == [1, 2, 3, 4]
    assert result.states()[-1]["cursor_field"] == "UPDATED_AT"
    messages = [m["log"]["message"] for m in result.of_type("LOG")]
    assert [line for line in messages if "resolved" in line] == [
        "cursor column 'updated_at' resolved to 'UPDATED_AT' in stream events (only the case differs)",
        "primary key column 'id' resolved to 'ID' in stream events (only the case differs)",
    ]
    assert connector.discover(config)["events"]["source_defined_primary_key"] == [["ID"]]


def test_lookback_rereads_late_rows_on_snowflake(connector: Harness, snowflake_db: SnowflakeDatabase) -> None:
    snowflake_db.execute(*EVENTS)
    model = {"name": "events", "relation": "S.EVENTS", "primary_key": ["ID"], "cursor_field": "UPDATED_AT"}
    config = snowflake_db.config(models=[{**model, "lookback_window": "PT1H"}])
    first = connector.read_stream(config, "events")
    assert _ids(first) == [1, 2, 3, 4]
    snowflake_db.execute(
        "INSERT INTO S.EVENTS VALUES (6, 'late', '2024-01-02 23:30:00')",  # within the hour below the state
        "INSERT INTO S.EVENTS VALUES (7, 'too late', '2024-01-02 22:59:59')",
        "INSERT INTO S.EVENTS VALUES (8, 'tie', '2024-01-03 00:00:00.000001')",
    )
    second = connector.read_stream(config, "events", first.final_states())
    assert _ids(second) == [6, 3, 4, 8]
    # The state stays the greatest cursor read: the window never moves it back.
    assert second.states() == first.states()
    statuses = [trace["stream_status"]["status"] for trace in second.traces("STREAM_STATUS")]
    assert statuses == ["STARTED", "RUNNING", "COMPLETE"]

    numeric = snowflake_db.config(models=[{**model, "cursor_field": "ID", "lookback_window": 2}])
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "events"},
                "stream_state": {"cursor_field": "ID", "cursor": "7", "cursor_type": "integer"},
            },
        }
    ]
    assert _ids(connector.read_stream(numeric, "events", state)) == [5, 6, 7, 8]


def test_lookback_on_duckdb(connector: Harness, tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "w.duckdb",
        "CREATE TABLE events AS"
        " SELECT range AS id, TIMESTAMP '2024-01-01' + range * INTERVAL 1 HOUR AS updated_at FROM range(5)",
    )
    config = duckdb_config(db, schemas=["main"], lookback_window="PT2H")
    first = connector.read_stream(config, "events", cursor="updated_at", key=["id"])
    assert [record["id"] for record in first.records()] == [0, 1, 2, 3, 4]
    second = connector.read_stream(config, "events", first.final_states(), cursor="updated_at", key=["id"])
    assert [record["id"] for record in second.records()] == [2, 3, 4]
    assert (
        second.states()
        == first.states()
        == [{"cursor_field": "updated_at", "cursor": "2024-01-01T04:00:00", "cursor_type": "timestamp"}]
    )
    # The default duration does not fit an integer cursor: that stream reads without lookback.
    by_id = connector.read_stream(config, "events", cursor="id", key=["id"])
    again = connector.read_stream(config, "events", by_id.final_states(), cursor="id", key=["id"])
    assert [record["id"] for record in again.records()] == [4]
    # A model's own window must fit its cursor: check says what to set instead.
    model = {"name": "m", "relation": "events", "cursor_field": "id", "lookback_window": "PT1H"}
    status = connector.check(duckdb_config(db, models=[model]))
    assert status == {
        "status": "FAILED",
        "message": "stream m: lookback_window 'PT1H' is a duration, but cursor column 'id' is BIGINT,"
        " which takes a number",
    }
    model_by_number = {**model, "lookback_window": "1.5"}
    assert connector.check(duckdb_config(db, models=[model_by_number])) == {"status": "SUCCEEDED"}
    bad = connector.check(duckdb_config(db, models=[{**model, "lookback_window": "P1M"}]))
    assert (
        "models.0.lookback_window" in bad["message"]
        and "'P1M' is neither an ISO 8601 duration" in bad["message"]
    )


def test_reads_arrow_batches_of_bounded_size(
    snowflake_db: SnowflakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for name in ("fetch_arrow_batches", "fetchmany", "fetchall"):
        original = getattr(SnowflakeCursor, name)

        def spy(self: SnowflakeCursor, *args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(SnowflakeCursor, name, spy)
    snowflake_db.execute("CREATE SCHEMA S", "CREATE TABLE S.T (ID NUMBER(38, 0))")
    with connect(parse_config(snowflake_db.config(schemas=["S"])).warehouse) as backend:
        inserted = list(
            backend.batches("INSERT INTO S.T SELECT SEQ4() FROM TABLE(GENERATOR(ROWCOUNT => 25))", [], 10)
        )
        # fakesnow answers DML in JSON, like Snowflake for some statements: rows then come by fetchmany.
        assert inserted == [[(25,)]] and calls == ["fetch_arrow_batches", "fetchmany", "fetchmany"]
        calls.clear()
        batches = list(backend.batches("SELECT ID FROM S.T WHERE ID >= ? ORDER BY ID", [0], 10))
        assert [len(rows) for rows in batches] == [10, 10, 5]
        assert [row for rows in batches for row in rows] == [(i,) for i in range(25)]
        assert calls == ["fetch_arrow_batches"]
