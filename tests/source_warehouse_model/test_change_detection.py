"""Change detection by diff (``change_detection: diff``), on DuckDB and on Snowflake (the fakesnow server).

The scenarios shared by both warehouses run against each; what only one of them has (DuckDB's
read-only file and bookkeeping file, its types) is tested on that one. Snowflake's own fingerprint
and grants are in test_change_detection_snowflake.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, Type

from source_warehouse_model.connector import discover_message
from source_warehouse_model.source import SourceWarehouseModel
from tests.source_warehouse_model.helpers import Harness, Result, configured_stream, duckdb_config, make_db
from tests.source_warehouse_model.snowflake_fixtures import SnowflakeDatabase

pytest_plugins = ["tests.source_warehouse_model.snowflake_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

CONTACTS = (
    'CREATE TABLE "s"."contacts" ("id" INTEGER, "email" VARCHAR, "score" DECIMAL(10, 2))',
    """INSERT INTO "s"."contacts" VALUES (1, 'a@x.io', 1.50), (2, 'b@x.io', 2.00), (3, 'c@x.io', NULL),
        (4, 'd@x.io', 4.25), (5, 'e@x.io', 5.00)""",
)
MODEL = {"name": "contacts", "relation": '"s"."contacts"', "primary_key": ["id"], "change_detection": "diff"}


class Warehouse:
    """A warehouse with schema "s" that diff models can read, and the connector config for it."""

    def execute(self, *statements: str) -> None:
        raise NotImplementedError

    def config(self, *models: dict[str, Any], **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    def snapshot_tables(self) -> list[str]:
        raise NotImplementedError


@dataclass
class DuckDBFile(Warehouse):
    path: Path

    def execute(self, *statements: str) -> None:
        with duckdb.connect(str(self.path)) as connection:
            for statement in statements:
                connection.execute(statement)

    def config(self, *models: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return duckdb_config(self.path, models=list(models or [MODEL]), **extra)

    def snapshot_tables(self) -> list[str]:
        with duckdb.connect(str(self.path.with_suffix(".retl.duckdb")), read_only=True) as connection:
            return sorted(
                name for (name,) in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            )


@dataclass
class Snowflake(Warehouse):
    database: SnowflakeDatabase

    def execute(self, *statements: str) -> None:
        self.database.execute(*statements)

    def config(self, *models: dict[str, Any], **extra: Any) -> dict[str, Any]:
        config = self.database.config(models=list(models or [MODEL]), **extra)
        config["warehouse"]["bookkeeping_schema"] = "RETL"
        return config

    def snapshot_tables(self) -> list[str]:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'RETL'"
        return sorted(name for (name,) in self.database.fetch(query))


@pytest.fixture(params=["duckdb", "snowflake"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        created: Warehouse = DuckDBFile(make_db(tmp_path / "warehouse.duckdb", 'CREATE SCHEMA "s"'))
    else:
        created = Snowflake(request.getfixturevalue("snowflake_db"))
        created.execute('CREATE SCHEMA "s"', "CREATE SCHEMA RETL")
    created.execute(*CONTACTS)
    yield created


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> DuckDBFile:
    warehouse = DuckDBFile(make_db(tmp_path / "warehouse.duckdb", 'CREATE SCHEMA "s"'))
    warehouse.execute(*CONTACTS)
    return warehouse


def sync(connector: Harness, config: dict[str, Any], state: Any = None, stream: str = "contacts") -> Result:
    result = connector.read_stream(config, stream, state)
    assert result.exit_code == 0, result.traces("ERROR")
    return result


def changes(result: Result, *columns: str) -> list[tuple[Any, ...]]:
    """(change, then the named columns) of each record, in the order sent."""
    return [(record["_retl_change"], *(record[column] for column in columns)) for record in result.records()]


def counts(result: Result) -> dict[str, Any]:
    (trace,) = result.traces("ANALYTICS")
    assert trace["analytics"]["type"] == "retl_change_counts"
    value: dict[str, Any] = json.loads(trace["analytics"]["value"])
    return value


def generations(*results: Result) -> list[int]:
    return [state["generation"] for result in results for state in result.states() if state["complete"]]


def test_first_sync_sends_every_row_as_added(connector: Harness, warehouse: Warehouse) -> None:
    result = sync(connector, warehouse.config())
    assert changes(result, "id", "email", "score") == [
        ("added", 1, "a@x.io", Decimal("1.50")),
        ("added", 2, "b@x.io", Decimal("2.00")),
        ("added", 3, "c@x.io", None),
        ("added", 4, "d@x.io", Decimal("4.25")),
        ("added", 5, "e@x.io", Decimal("5.00")),
    ]
    assert all(record["_ab_cdc_deleted_at"] is None for record in result.records())
    assert counts(result) == {
        "stream": "contacts",
        "namespace": None,
        "added": 5,
        "updated": 0,
        "deleted": 0,
        "unmodified": 0,
    }
    (state,) = result.states()
    assert state == {"change_detection": "diff", "generation": state["generation"], "complete": True}
    assert result.traces("ESTIMATE")[0]["estimate"]["row_estimate"] == 5
    logs = [message["log"]["message"] for message in result.of_type("LOG")]
    assert any(log.startswith("stream contacts: 5 added, 0 updated, 0 deleted, 0 unmodified") for log in logs)
    assert warehouse.snapshot_tables() == [
        f"RETL_SNAPSHOT_CONTACTS_{_digest('contacts')}_{state['generation']}"
    ]


def test_mixed_changes_are_classified_exactly(connector: Harness, warehouse: Warehouse) -> None:
    config = warehouse.config()
    first = sync(connector, config)
    warehouse.execute(
        """UPDATE "s"."contacts" SET "email" = 'b2@x.io' WHERE "id" = 2""",
        """UPDATE "s"."contacts" SET "score" = 3.00 WHERE "id" = 3""",  # NULL to a value
        """UPDATE "s"."contacts" SET "score" = 4.25 WHERE "id" = 4""",  # the same value: unmodified
        """DELETE FROM "s"."contacts" WHERE "id" IN (1, 5)""",
        """INSERT INTO "s"."contacts" VALUES (0, 'z@x.io', 0.10), (7, 'g@x.io', NULL)""",
    )
    second = sync(connector, config, first.final_states())
    records = second.records()
    deleted_at = records[1]["_ab_cdc_deleted_at"]
    assert records == [
        {
            "id": 0,
            "email": "z@x.io",
            "score": Decimal("0.10"),
            "_retl_change": "added",
            "_ab_cdc_deleted_at": None,
        },
        {"id": 1, "email": None, "score": None, "_retl_change": "deleted", "_ab_cdc_deleted_at": deleted_at},
        {
            "id": 2,
            "email": "b2@x.io",
            "score": Decimal("2.00"),
            "_retl_change": "updated",
            "_ab_cdc_deleted_at": None,
        },
        {
            "id": 3,
            "email": "c@x.io",
            "score": Decimal("3.00"),
            "_retl_change": "updated",
            "_ab_cdc_deleted_at": None,
        },
        {"id": 5, "email": None, "score": None, "_retl_change": "deleted", "_ab_cdc_deleted_at": deleted_at},
        {"id": 7, "email": "g@x.io", "score": None, "_retl_change": "added", "_ab_cdc_deleted_at": None},
    ]
    # The deletions are dated by the sync that detected them: its snapshot's generation, in microseconds.
    (generation,) = generations(second)
    assert datetime.fromisoformat(deleted_at).timestamp() * 1_000_000 == pytest.approx(generation, abs=1)
    assert {key: value for key, value in counts(second).items() if key != "stream"} == {
        "namespace": None,
        "added": 2,
        "updated": 2,
        "deleted": 2,
        "unmodified": 1,
    }


def test_sync_without_changes_sends_nothing_and_drops_the_old_snapshot(
    connector: Harness, warehouse: Warehouse
) -> None:
    config = warehouse.config()
    first = sync(connector, config)
    second = sync(connector, config, first.final_states())
    assert second.records() == []
    assert len(second.states()) == 1 and second.states()[0]["complete"] is True
    assert counts(second)["unmodified"] == 5 and counts(second)["added"] == 0
    third = sync(connector, config, second.final_states())
    assert third.records() == []
    # The third sync was given the second's state: the first's snapshot is no longer referenced.
    kept = [int(name.rsplit("_", 1)[1]) for name in warehouse.snapshot_tables()]
    assert kept == generations(second, third)


def test_unconfirmed_sync_is_sent_again_from_the_older_state(
    connector: Harness, warehouse: Warehouse
) -> None:
    config = warehouse.config()
    first = sync(connector, config)
    warehouse.execute(
        """UPDATE "s"."contacts" SET "email" = 'a2@x.io' WHERE "id" = 1""",
        """DELETE FROM "s"."contacts" WHERE "id" = 4""",
    )
    unconfirmed = sync(connector, config, first.final_states())
    assert changes(unconfirmed, "id", "email") == [("updated", 1, "a2@x.io"), ("deleted", 4, None)]
    # The destination never confirmed the second sync's state: the platform passes the first's again.
    warehouse.execute("""INSERT INTO "s"."contacts" VALUES (6, 'f@x.io', NULL)""")
    again = sync(connector, config, first.final_states())
    assert changes(again, "id", "email") == [
        ("updated", 1, "a2@x.io"),
        ("deleted", 4, None),
        ("added", 6, "f@x.io"),
    ]
    assert len(warehouse.snapshot_tables()) == 2  # the unconfirmed snapshot is dropped
    assert generations(unconfirmed)[0] not in [
        int(name.rsplit("_", 1)[1]) for name in warehouse.snapshot_tables()
    ]


MEMBERSHIPS = {
    "name": "memberships",
    "relation": '"s"."memberships"',
    "primary_key": ["account", "seq"],
    "change_detection": "diff",
}


def test_resume_from_a_checkpoint_sends_each_change_once(connector: Harness, warehouse: Warehouse) -> None:
    warehouse.execute(
        'CREATE TABLE "s"."memberships" ("account" VARCHAR, "seq" INTEGER, "plan" VARCHAR)',
        """INSERT INTO "s"."memberships" VALUES
            ('a', 1, 'free'), ('a', 2, 'free'), ('a', 10, 'free'), ('b', 1, 'free'), ('b', 2, 'free'),
            ('c', 1, 'free'), ('c', 3, 'free'), ('d', 1, 'free')""",
    )
    config = warehouse.config(MEMBERSHIPS, checkpoint_every_records=2)
    first = sync(connector, config, stream="memberships")
    # A first sync (no baseline) resumed from its third checkpoint sends the rows after c/1.
    third_checkpoint = [state for state in first.states() if not state["complete"]][2]
    assert third_checkpoint["baseline"] is None
    rest = sync(connector, config, _stream_state("memberships", third_checkpoint), stream="memberships")
    assert changes(rest, "account", "seq") == [("added", "c", 3), ("added", "d", 1)]
    warehouse.execute(
        """UPDATE "s"."memberships" SET "plan" = 'pro' WHERE "seq" = 1""",  # a, b, c and d
        """DELETE FROM "s"."memberships" WHERE "account" = 'a' AND "seq" = 10""",
        """DELETE FROM "s"."memberships" WHERE "account" = 'c' AND "seq" = 3""",
        """INSERT INTO "s"."memberships" VALUES ('a', 3, 'pro'), ('b', 0, 'pro'), ('e', 1, 'pro')""",
    )
    complete = sync(connector, config, first.final_states(), stream="memberships")
    sent = changes(complete, "account", "seq", "plan")
    assert sent == [
        ("updated", "a", 1, "pro"),
        ("added", "a", 3, "pro"),
        ("deleted", "a", 10, None),  # after a/3: keys compare as (account, seq), not as text
        ("added", "b", 0, "pro"),
        ("updated", "b", 1, "pro"),
        ("updated", "c", 1, "pro"),
        ("deleted", "c", 3, None),
        ("updated", "d", 1, "pro"),
        ("added", "e", 1, "pro"),
    ]
    checkpoints = [state for state in complete.states() if not state["complete"]]
    assert [state["resume_after"] for state in checkpoints][:2] == [
        [
            {"column": "account", "type": "string", "value": "a"},
            {"column": "seq", "type": "integer", "value": "3"},
        ],
        [
            {"column": "account", "type": "string", "value": "b"},
            {"column": "seq", "type": "integer", "value": "0"},
        ],
    ]
    # The sync stopped after its second checkpoint; the platform passes that checkpoint to the next one.
    stopped_at = checkpoints[1]
    resumed = sync(connector, config, _stream_state("memberships", stopped_at), stream="memberships")
    assert sent[:4] + changes(resumed, "account", "seq", "plan") == sent
    assert generations(resumed) == [stopped_at["generation"]]  # the interrupted sync's snapshot, reused
    assert sync(connector, config, resumed.final_states(), stream="memberships").records() == []


def test_rows_without_a_key_are_skipped_and_duplicate_keys_refused(
    connector: Harness, warehouse: Warehouse
) -> None:
    warehouse.execute("""INSERT INTO "s"."contacts" VALUES (NULL, 'nokey@x.io', NULL)""")
    result = sync(connector, warehouse.config())
    assert [record["id"] for record in result.records()] == [1, 2, 3, 4, 5]
    warnings = [
        message["log"]["message"] for message in result.of_type("LOG") if message["log"]["level"] == "WARN"
    ]
    assert warnings == ["stream contacts: 1 rows have a NULL primary key and are not synced"]
    warehouse.execute(
        """INSERT INTO "s"."contacts" VALUES (2, 'again@x.io', NULL), (2, 'thrice@x.io', NULL)"""
    )
    failed = connector.read_stream(warehouse.config(), "contacts", result.final_states())
    assert failed.exit_code == 1 and failed.records() == []
    (error,) = failed.traces("ERROR")
    assert error["error"]["failure_type"] == "config_error"
    assert (
        "the primary key (id) is not unique: 1 key values appear on more than one row, e.g. id=2"
        in (error["error"]["message"])
    )
    # The refused snapshot is dropped; the confirmed one stays the baseline.
    assert [int(name.rsplit("_", 1)[1]) for name in warehouse.snapshot_tables()] == generations(result)


def test_catalog_declares_the_change_columns(connector: Harness, duckdb_warehouse: DuckDBFile) -> None:
    stream = connector.discover(duckdb_warehouse.config())["contacts"]
    properties = stream["json_schema"]["properties"]
    assert list(properties) == ["id", "email", "score", "_retl_change", "_ab_cdc_deleted_at"]
    assert properties["_retl_change"]["enum"] == ["added", "updated", "deleted"]
    assert properties["_ab_cdc_deleted_at"]["airbyte_type"] == "timestamp_with_timezone"
    assert stream["source_defined_cursor"] is True and "default_cursor_field" not in stream
    assert stream["source_defined_primary_key"] == [["id"]]


def test_the_warehouse_file_stays_read_only(connector: Harness, duckdb_warehouse: DuckDBFile) -> None:
    before = hashlib.sha256(duckdb_warehouse.path.read_bytes()).hexdigest()
    first = sync(connector, duckdb_warehouse.config())
    sync(connector, duckdb_warehouse.config(), first.final_states())
    assert hashlib.sha256(duckdb_warehouse.path.read_bytes()).hexdigest() == before
    assert duckdb_warehouse.path.with_suffix(".retl.duckdb").is_file()


def test_bookkeeping_path_can_be_configured_and_is_checked(
    connector: Harness, duckdb_warehouse: DuckDBFile, tmp_path: Path
) -> None:
    config = duckdb_warehouse.config()
    config["warehouse"]["bookkeeping_path"] = str(tmp_path / "state" / "retl.duckdb")
    status = connector.check(config)
    assert status["status"] == "FAILED"
    assert (
        f"cannot open the bookkeeping database {tmp_path}/state/retl.duckdb for writing" in status["message"]
    )
    assert (
        "set warehouse.bookkeeping_path to a file in a directory the connector may write" in status["message"]
    )
    (tmp_path / "state").mkdir()
    assert connector.check(config) == {"status": "SUCCEEDED"}
    assert len(sync(connector, config).records()) == 5
    assert (tmp_path / "state" / "retl.duckdb").is_file()
    assert not duckdb_warehouse.path.with_suffix(".retl.duckdb").exists()


@pytest.mark.parametrize(
    ("model", "warehouse_options", "message"),
    [
        ({"primary_key": []}, {}, "change_detection diff needs a primary_key"),
        ({"cursor_field": "id"}, {}, "change_detection diff compares whole rows; remove cursor_field"),
        ({}, {"path": ":memory:"}, "models with change_detection diff need warehouse.bookkeeping_path"),
        ({}, {"bookkeeping_path": "WAREHOUSE"}, "bookkeeping_path must be another file than the warehouse"),
    ],
)
def test_diff_settings_are_validated(
    connector: Harness,
    duckdb_warehouse: DuckDBFile,
    model: dict[str, Any],
    warehouse_options: dict[str, Any],
    message: str,
) -> None:
    config = duckdb_warehouse.config({**MODEL, **model})
    options = {
        key: str(duckdb_warehouse.path) if value == "WAREHOUSE" else value
        for key, value in warehouse_options.items()
    }
    config["warehouse"].update(options)
    status = connector.check(config)
    assert status["status"] == "FAILED" and message in status["message"]


def test_a_key_that_cannot_be_ordered_is_refused(connector: Harness, duckdb_warehouse: DuckDBFile) -> None:
    duckdb_warehouse.execute('CREATE TABLE "s"."docs" ("doc" JSON, "_retl_change" VARCHAR)')
    model = {**MODEL, "name": "docs", "relation": '"s"."docs"', "primary_key": ["doc"]}
    status = connector.check(duckdb_warehouse.config(model))
    assert "primary key column 'doc' is JSON, which cannot key a diff" in status["message"]
    model["primary_key"] = ["_retl_change"]
    status = connector.check(duckdb_warehouse.config(model))
    assert "change_detection diff adds the columns _retl_change, _ab_cdc_deleted_at" in status["message"]


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"change_detection": "diff"}, '"generation" must be a positive integer'),
        (
            {"change_detection": "diff", "generation": "12", "complete": True},
            '"generation" must be a positive',
        ),
        (
            {"change_detection": "diff", "generation": 12, "complete": "yes"},
            '"complete" must be true or false',
        ),
        ({"change_detection": "diff", "generation": 12, "complete": False}, '"resume_after" must list'),
        (
            {
                "change_detection": "diff",
                "generation": 12,
                "complete": False,
                "baseline": 11,
                "resume_after": [{}],
            },
            'each "resume_after" item needs a "column", a "type" and a "value"',
        ),
        (
            {
                "change_detection": "diff",
                "generation": 12,
                "complete": False,
                "resume_after": [{"column": "id", "type": "uuid", "value": "x"}],
            },
            "unknown type 'uuid'",
        ),
        (
            {
                "change_detection": "diff",
                "generation": 12,
                "complete": False,
                "resume_after": [{"column": "id", "type": "integer", "value": "twelve"}],
            },
            "invalid literal for int()",
        ),
        ({"generation": 12}, 'expected an object with "change_detection": "diff"'),
        (["not", "an", "object"], 'expected an object with "change_detection": "diff"'),
    ],
)
def test_a_malformed_state_is_a_config_error_naming_the_stream(
    connector: Harness, duckdb_warehouse: DuckDBFile, state: Any, problem: str
) -> None:
    result = connector.read_stream(duckdb_warehouse.config(), "contacts", _stream_state("contacts", state))
    assert result.exit_code == 1 and result.records() == []
    (error,) = result.traces("ERROR")
    assert error["error"]["failure_type"] == "config_error"
    message = error["error"]["message"]
    assert message.startswith(f"stream contacts: unreadable diff state ({problem}")
    assert message.endswith("clear the stream's state (reset it) to send every row of the model again")


def test_a_state_naming_a_missing_snapshot_is_a_config_error(
    connector: Harness, duckdb_warehouse: DuckDBFile
) -> None:
    state = _stream_state("contacts", {"change_detection": "diff", "generation": 12, "complete": True})
    result = connector.read_stream(duckdb_warehouse.config(), "contacts", state)
    (error,) = result.traces("ERROR")
    assert error["error"]["message"] == (
        "stream contacts: the state names snapshot 12, which is not in the bookkeeping schema"
        " retl_bookkeeping.main (dropped, or another bookkeeping location); clear the stream's state (reset"
        " it) to send every row of the model again"
    )


def test_a_cursor_state_or_a_changed_key_sends_every_row_as_added(
    connector: Harness, duckdb_warehouse: DuckDBFile
) -> None:
    cursor_state = _stream_state("contacts", {"cursor_field": "id", "cursor": "5", "cursor_type": "integer"})
    switched = sync(connector, duckdb_warehouse.config(), cursor_state)
    assert changes(switched, "id") == [("added", key) for key in range(1, 6)]
    rekeyed = duckdb_warehouse.config({**MODEL, "primary_key": ["email"]})
    result = sync(connector, rekeyed, switched.final_states())
    assert [change for (change,) in changes(result)] == ["added"] * 5
    warnings = [
        message["log"]["message"] for message in result.of_type("LOG") if message["log"]["level"] == "WARN"
    ]
    assert warnings == [
        "stream contacts: the primary key changed since the last sync; every row is sent as added"
    ]


def test_full_refresh_of_a_diff_model_reads_the_rows_as_they_are(
    connector: Harness, duckdb_warehouse: DuckDBFile
) -> None:
    result = connector.read_stream(duckdb_warehouse.config(), "contacts", sync_mode="full_refresh")
    assert result.records()[0] == {"id": 1, "email": "a@x.io", "score": Decimal("1.50")}
    assert result.traces("ANALYTICS") == []


TYPES = (
    """CREATE TABLE "s"."typed" (
        id INTEGER, amount DECIMAL(38, 18), ratio DOUBLE, seen_at TIMESTAMPTZ, exact TIMESTAMP_NS, doc JSON,
        note VARCHAR, tags VARCHAR[], address STRUCT(city VARCHAR, zip VARCHAR), bytes BLOB)""",
    """INSERT INTO "s"."typed" VALUES
        (1, 1.000000000000000001, 0.1, '2024-01-01 12:00:00.000001+02', '2024-01-01 00:00:00.000000001',
         '{"a": [1, null]}', 'x', ['a', 'b'], {'city': 'Paris', 'zip': '75001'}, '\\x00'::BLOB),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, 0, 0, '2024-01-01 00:00:00+00', '2024-01-01', 'null', 'NULL', [], {'city': NULL, 'zip': ''},
         ''::BLOB),
        (4, 2.5, 2.5, '2024-06-01 00:00:00+00', '2024-06-01', '{}', '', [NULL],
         {'city': 'a, zip: b', 'zip': NULL}, '\\xFF'::BLOB)""",
)


def test_fingerprints_are_stable_across_types_and_see_the_smallest_change(
    connector: Harness, duckdb_warehouse: DuckDBFile
) -> None:
    duckdb_warehouse.execute(*TYPES)
    config = duckdb_warehouse.config({**MODEL, "name": "typed", "relation": '"s"."typed"'})
    first = sync(connector, config, stream="typed")
    assert len(first.records()) == 4
    unchanged = sync(connector, config, first.final_states(), stream="typed")
    assert unchanged.records() == [] and counts(unchanged)["unmodified"] == 4
    duckdb_warehouse.execute(
        # The same values written again, one instant in another offset: not a change.
        """UPDATE "s"."typed" SET seen_at = '2024-01-01 10:00:00.000001+00', amount = 1.000000000000000001
            WHERE id = 1""",
        # The smallest changes each type can take: a change.
        """UPDATE "s"."typed" SET amount = 0.000000000000000001 WHERE id = 3""",
        """UPDATE "s"."typed" SET note = NULL WHERE id = 4""",  # '' to NULL
        """UPDATE "s"."typed" SET doc = '{"a": [1, 0]}', exact = '2024-01-01 00:00:00.000000002'
            WHERE id = 1""",
        """UPDATE "s"."typed" SET note = 'NULL' WHERE id = 2""",  # NULL to the text 'NULL'
    )
    changed = sync(connector, config, unchanged.final_states(), stream="typed")
    assert changes(changed, "id") == [("updated", 1), ("updated", 2), ("updated", 3), ("updated", 4)]
    duckdb_warehouse.execute(
        """UPDATE "s"."typed" SET ratio = 0.1::DOUBLE + 1e-18 WHERE id = 1""",  # rounds to the same double
        """UPDATE "s"."typed" SET ratio = 2.5000000000000004 WHERE id = 4""",  # the next double
        """UPDATE "s"."typed" SET seen_at = seen_at + INTERVAL 1 MICROSECOND WHERE id = 3""",
        """UPDATE "s"."typed" SET address = {'city': 'a', 'zip': 'b'} WHERE id = 4""",
    )
    last = sync(connector, config, changed.final_states(), stream="typed")
    assert changes(last, "id") == [("updated", 3), ("updated", 4)]
    assert sync(connector, config, last.final_states(), stream="typed").records() == []


def test_cdk_source_reads_a_diff_stream(duckdb_warehouse: DuckDBFile) -> None:
    source, logger = SourceWarehouseModel(), logging.getLogger("test")
    config = duckdb_warehouse.config()
    (stream,) = discover_message(config)["catalog"]["streams"]
    catalog = ConfiguredAirbyteCatalogSerializer.load({"streams": [configured_stream(stream)]})
    messages = list(source.read(logger, config, catalog, []))
    records = [message.record.data for message in messages if message.type == Type.RECORD and message.record]
    assert [record["_retl_change"] for record in records] == ["added"] * 5
    (analytics,) = [
        message.trace.analytics
        for message in messages
        if message.type == Type.TRACE and message.trace and message.trace.analytics
    ]
    assert analytics is not None and json.loads(analytics.value or "")["added"] == 5


def _stream_state(name: str, state: Any) -> list[dict[str, Any]]:
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": state}}]


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8].upper()
