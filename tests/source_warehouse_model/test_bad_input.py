"""Bad inputs to the source, run through the real console script (tests/bad_input.py): configs, catalogs,
states, SQL models that fail, values that cannot be converted, warehouses that cannot be opened or
reached, and servers that echo a credential, with the planted secret in every secret field.

Strings in a case may hold, besides ``{secret}``: ``{db}`` (a DuckDB file with a ``users`` table),
``{dir}`` (the directory of the DuckDB files, good and bad), ``{tmp}`` (the test's own directory), and
for Snowflake ``{database}`` and ``{port}`` (the fake server's), ``{closed_port}`` (nothing listens)
and ``{silent_port}`` (accepts connections, never answers).
"""

# ruff: noqa: E501  (the case tables keep one case per line)
from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.bad_input import SECRET, Case, Outcome, assert_no_secret, run_case
from tests.harness import BIN
from tests.source_warehouse_model.snowflake_fixtures import FakeSnowflake, SnowflakeDatabase

pytest_plugins = ["tests.source_warehouse_model.snowflake_fixtures"]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
]

SCRIPT = "source-warehouse-model"

# --- the warehouse ----------------------------------------------------------------------------------

USERS_TABLE = (
    "CREATE TABLE users (id INTEGER, name VARCHAR, updated_at TIMESTAMP, signup DATE)",
    "INSERT INTO users VALUES (1, 'ann', '2024-01-01 10:00:00', '2024-01-01'),"
    " (2, 'bob', '2024-01-02 10:00:00', '2024-01-02'), (3, 'cy', '2024-01-03 10:00:00', '2024-01-03')",
)
SNOWFLAKE_TABLE = (
    "CREATE SCHEMA S",
    "CREATE TABLE S.T (ID NUMBER(38, 0), NAME TEXT, UPDATED_AT TIMESTAMP_NTZ(9))",
    "INSERT INTO S.T VALUES (1, 'ann', '2024-01-01 10:00:00'), (2, 'bob', '2024-01-02 10:00:00')",
)


@dataclass
class Place:
    """What a case's placeholders stand for, and what its ``prepare`` can switch on."""

    directory: Path
    tmp: Path
    stack: ExitStack
    values: dict[str, Any]
    server: FakeSnowflake | None = None

    def hold_write_lock(self, name: str = "locked.duckdb") -> None:
        """Another process (this one) keeps a DuckDB file open for writing."""
        connection = duckdb.connect(str(self.directory / name))
        self.stack.callback(connection.close)

    def echo(self, credential: str) -> None:
        """The fake Snowflake refuses this credential, quoting it back in its error."""
        assert self.server is not None
        self.server.echoed.add(credential)
        self.stack.callback(self.server.echoed.discard, credential)

    def sync(self, config: Any, configured: Any, state: Any = None) -> list[dict[str, Any]]:
        """The messages of a read that succeeds."""
        argv = [str(BIN / SCRIPT), "read"]
        for name, value in {"config": config, "catalog": configured, "state": state}.items():
            if value is not None:
                path = self.tmp / f"sync-{name}.json"
                path.write_text(json.dumps(self.fill(value)))
                argv += [f"--{name}", str(path)]
        done = subprocess.run(argv, capture_output=True, check=True)
        assert_no_secret(done.stdout.decode(), "stdout")
        assert_no_secret(done.stderr.decode(), "stderr")
        return [json.loads(line) for line in done.stdout.splitlines()]

    def snapshot(self) -> None:
        """A diff sync; the snapshot generation its state names is ``{generation}``."""
        states = [m["state"] for m in self.sync(DIFF_CONFIG, catalog()) if m["type"] == "STATE"]
        self.values["{generation}"] = states[-1]["stream"]["stream_state"]["generation"]

    def fill(self, value: Any) -> Any:
        """Placeholders filled in; one that is a whole string keeps its value's type (a port number)."""
        if isinstance(value, str):
            if value in self.values:
                return self.values[value]
            for placeholder, replacement in self.values.items():
                value = value.replace(placeholder, str(replacement))
            return value
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        return value

    def run(self, case: Case) -> Outcome:
        if case.prepare is not None:
            case.prepare(self)
        filled = replace(
            case,
            config=self.fill(case.config),
            catalog=self.fill(case.catalog),
            state=self.fill(case.state),
        )
        outcome = run_case(SCRIPT, filled, self.tmp / "case")
        _states_follow_their_records(outcome)
        return outcome


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DuckDB files, good and bad; the connector only reads them."""
    directory = tmp_path_factory.mktemp("warehouse")
    for name in ("w.duckdb", "locked.duckdb"):
        with closing(duckdb.connect(str(directory / name))) as connection:
            for statement in USERS_TABLE:
                connection.execute(statement)
    (directory / "notes.duckdb").write_text("not a database\n")
    (directory / "folder.duckdb").mkdir()
    (directory / "private.duckdb").write_bytes((directory / "w.duckdb").read_bytes())
    (directory / "private.duckdb").chmod(0)
    corrupt = bytearray((directory / "w.duckdb").read_bytes())
    corrupt[:8] = bytes(8)  # the header block's checksum
    (directory / "corrupt.duckdb").write_bytes(bytes(corrupt))
    return directory


@pytest.fixture
def place(files: Path, tmp_path: Path) -> Iterator[Place]:
    (tmp_path / "case").mkdir()
    with ExitStack() as stack:
        yield Place(
            files,
            tmp_path,
            stack,
            {"{db}": str(files / "w.duckdb"), "{dir}": str(files), "{tmp}": str(tmp_path)},
        )


@pytest.fixture
def snowflake_place(place: Place, snowflake_db: SnowflakeDatabase) -> Place:
    snowflake_db.execute(*SNOWFLAKE_TABLE)
    silent = place.stack.enter_context(closing(socket.socket()))
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections wait in the backlog: accepted by the kernel, never answered
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    place.server = snowflake_db.server
    place.values |= {
        "{database}": snowflake_db.name,
        "{port}": snowflake_db.server.port,
        "{closed_port}": closed_port,
        "{silent_port}": silent.getsockname()[1],
    }
    return place


# --- building blocks for one-line cases --------------------------------------------------------------

USERS = {"name": "users", "relation": "users", "primary_key": ["id"], "cursor_field": "updated_at"}
T_MODEL = {"name": "t", "relation": "S.T", "primary_key": ["ID"], "cursor_field": "UPDATED_AT"}


def model(name: str, sql: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "sql": sql, **extra}


def duck(*models: dict[str, Any], path: str = "{db}", **extra: Any) -> dict[str, Any]:
    return {"warehouse": {"type": "duckdb", "path": path}, "models": list(models or [USERS]), **extra}


PASSWORD = {"auth_type": "password", "password": "{secret}"}
TOKEN = {"auth_type": "pat", "token": "{secret}"}


def snow(credentials: dict[str, Any] = PASSWORD, **warehouse: Any) -> dict[str, Any]:
    """A Snowflake warehouse at the fake server, its credentials holding the secret."""
    fields = {
        "type": "snowflake",
        "account": "fakesnow",
        "user": "airbyte",
        "role": "AIRBYTE_READER",
        "warehouse": "COMPUTE_WH",
        "database": "{database}",
        "credentials": credentials,
        "host": "127.0.0.1",
        "port": "{port}",
        "protocol": "http",
    }
    return {**fields, **warehouse}


def snow_config(
    credentials: dict[str, Any] = PASSWORD, models: list[dict[str, Any]] | None = None, **warehouse: Any
) -> dict[str, Any]:
    return {"warehouse": snow(credentials, **warehouse), "models": models or [T_MODEL]}


def catalog(
    name: str = "users",
    sync_mode: str = "incremental",
    cursor: list[str] | None = None,
    key: list[list[str]] | None = None,
    **entry: Any,
) -> dict[str, Any]:
    stream = {
        "name": name,
        "json_schema": {"type": "object"},
        "supported_sync_modes": ["full_refresh", "incremental"],
    }
    configured: dict[str, Any] = {
        "stream": stream,
        "sync_mode": sync_mode,
        "destination_sync_mode": "append_dedup",
    }
    if cursor is not None:
        configured["cursor_field"] = cursor
    if key is not None:
        configured["primary_key"] = key
    return {"streams": [{**configured, **entry}]}


def state(stream_state: Any, name: str = "users") -> list[dict[str, Any]]:
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state}}]


def cursor(text: Any, cursor_type: Any = "timestamp", field: str = "updated_at") -> list[dict[str, Any]]:
    return state({"cursor_field": field, "cursor": text, "cursor_type": cursor_type})


USERS_CATALOG = catalog()
T_CATALOG = catalog("t")
DIFF = model("users", "SELECT id, name FROM users", primary_key=["id"], change_detection="diff")


DIFF_CONFIG = {
    "warehouse": {"type": "duckdb", "path": "{db}", "bookkeeping_path": "{tmp}/retl.duckdb"},
    "models": [DIFF],
}
RESUME_AT_ABC = {"column": "id", "type": "string", "value": "abc"}


def check(name: str, config: Any, fragment: str, **extra: Any) -> Case:
    """``check`` answers CONNECTION_STATUS FAILED, exit 0."""
    return Case(name, "check", fragment, None, config=config, **extra)


def discover(name: str, config: Any, fragment: str, failure_type: str = "config_error", **extra: Any) -> Case:
    return Case(name, "discover", fragment, failure_type, config=config, **extra)


def read(
    name: str,
    fragment: str,
    config: Any = None,
    catalog: Any = USERS_CATALOG,
    failure_type: str = "config_error",
    **extra: Any,
) -> Case:
    return Case(name, "read", fragment, failure_type, config=config or duck(), catalog=catalog, **extra)


# --- the cases: one line each ------------------------------------------------------------------------
# fmt: off

NOT_JSON = '{"warehouse": {"type": "duckdb", "path": "{db}"}, "models": [{"name": "users", "relation": "users"'
# A failing cast and a division by zero happen only when rows are read, after the query compiled.
CAST = model("users", "SELECT id, CAST(name AS INTEGER) AS n, updated_at FROM users", cursor_field="updated_at")
DIVIDE = model("users", "SELECT id, 10 // (id - 1) AS ratio FROM users")
# The third row's value cannot become JSON; the two before it are sent, each with its checkpoint.
NAN = model("users", """SELECT id, updated_at, IF(id = 3, '{"a": NaN}', '{"a": 1}')::JSON AS doc FROM users""", cursor_field="updated_at")
DEEP = model("users", "SELECT id, updated_at, IF(id = 3, repeat('[', 300) || repeat(']', 300), '[]')::JSON AS doc FROM users", cursor_field="updated_at")
EVERY_RECORD = {"checkpoint_every_records": 1}
# root reads any file whatever its mode (checked by hand as nobody: setpriv --reuid=65534 ...).
AS_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root may read a file of any mode")

DUCKDB_CASES = [
    # configs
    check("config not JSON", NOT_JSON, "is not valid JSON"),
    discover("config not JSON", NOT_JSON, "is not valid JSON"),
    check("config not an object", ["{db}"], "The config must be a JSON object"),
    read("config not an object", "The config must be a JSON object", config='"just text"'),
    check("config unknown key", duck(extra_setting=1), "extra_setting: Extra inputs are not permitted"),
    discover("warehouse unknown key", {"warehouse": {"type": "duckdb", "path": "{db}", "file": "x"}, "models": [USERS]}, "warehouse.duckdb.file: Extra inputs"),
    check("config wrong type", duck(checkpoint_every_records="often"), "checkpoint_every_records: Input should be a valid integer"),
    read("models not a list", "models: Input should be a valid list", config=duck() | {"models": {"name": "users"}}),
    check("config missing warehouse", {"models": [USERS]}, "warehouse: Field required"),
    discover("unknown warehouse type", {"warehouse": {"type": "oracle", "path": "{db}"}, "models": [USERS]}, "'oracle'"),
    check("no schemas or models", duck() | {"models": [], "schemas": []}, "configure at least one schema or model"),
    read("no schemas or models", "configure at least one schema or model", config=duck() | {"models": []}),
    check("duplicate model names", duck(USERS, USERS), "model names must be unique: users"),
    discover("bad relation syntax", duck({"name": "users", "relation": "main..users"}), "'main..users' is not name, schema.name"),
    check("model with sql and relation", duck(model("users", "SELECT 1", relation="users")), "set exactly one of sql or relation"),
    check("model with neither sql nor relation", duck({"name": "users"}), "set exactly one of sql or relation"),
    check("bad lookback", duck(USERS | {"lookback_window": "1 hour"}), "'1 hour' is neither an ISO 8601 duration"),
    read("lookback of the wrong kind", "takes an ISO 8601 duration such as PT1H", config=duck(USERS | {"lookback_window": "100"})),
    check("schema that does not exist", duck() | {"models": [], "schemas": ["mian"]}, "no tables or views in schema(s): mian"),
    check("diff model without bookkeeping", duck(DIFF, path=":memory:"), "need warehouse.bookkeeping_path"),
    # the DuckDB file
    check("database file missing", duck(path="{dir}/nope.duckdb"), "DuckDB database file not found"),
    read("database file missing", "check warehouse.path", config=duck(path="{dir}/nope.duckdb")),
    discover("database path is a directory", duck(path="{dir}/folder.duckdb"), "is a directory"),
    check("database file not DuckDB", duck(path="{dir}/notes.duckdb"), "not a valid DuckDB database file"),
    read("database file not DuckDB", "warehouse.path must name a DuckDB database file", config=duck(path="{dir}/notes.duckdb")),
    discover("database file corrupt", duck(path="{dir}/corrupt.duckdb"), "the database file is damaged"),
    pytest.param(read("database file unreadable", "Permission denied. Let the connector's user read the file", config=duck(path="{dir}/private.duckdb")), marks=AS_ROOT),
    read("database file locked by a writer", "another process has the database file open for writing", config=duck(path="{dir}/locked.duckdb"), failure_type="transient_error", prepare=lambda place: place.hold_write_lock()),
    check("database file locked by a writer", duck(path="{dir}/locked.duckdb"), "another process has the database file open", prepare=lambda place: place.hold_write_lock()),
    # catalogs
    read("catalog not JSON", "the catalog file", catalog='{"streams": ['),
    read("catalog not an object", 'must be a JSON object with a "streams" list', catalog=["users"]),
    read("catalog is discover output", "is a stream of `discover` output", catalog={"streams": [{"name": "users", "json_schema": {}}]}),
    read("catalog stream not in the config", "stream orders is in the catalog but not in the source config", catalog=catalog("orders")),
    read("catalog unknown sync mode", "sync_mode is 'sometimes'", catalog=catalog(sync_mode="sometimes")),
    read("catalog cursor not a list", "must be a field path", catalog=catalog(cursor_field="updated_at")),
    read("catalog cursor column missing", "stream users: cursor column 'changed' not found; columns are: id, name", catalog=catalog(cursor=["changed"])),
    read("catalog primary key column missing", "primary key column 'uid' not found", catalog=catalog(key=[["uid"]])),
    read("catalog nested cursor", "cursor and primary key must be top-level columns", catalog=catalog(cursor=["doc", "at"])),
    read("incremental without a cursor", "incremental sync needs a cursor field", config=duck({"name": "users", "relation": "users"})),
    # states
    read("state not JSON", "the state file", state="[{"),
    read("state a string", "The state cannot be used: it is a string", state='"reset me"'),
    read("state a list of strings", "item 0 is a string", state=["users", "cursor"]),
    read("stream state a string", "stream users: the state cannot be used: it is a string", state=state("2024-01-01")),
    read("cursor not a timestamp", "stream users: the state cannot be used: the cursor 'abc' is not a timestamp", state=cursor("abc")),
    read("cursor a number for a date", '"cursor" must be text', config=duck(USERS | {"cursor_field": "signup"}), state=cursor(20240101, "date", "signup")),
    read("cursor of another column's type", "its cursor 5 does not fit column 'signup' (DATE)", config=duck(USERS | {"cursor_field": "signup"}), state=cursor("5", "integer", "signup")),
    read("cursor text for a timestamp column", "does not fit column 'updated_at' (TIMESTAMP)", state=cursor("yesterday", "string")),
    read("unknown cursor type", '"cursor_type" \'instant\' is none of', state=cursor("2024-01-01T00:00:00", "instant")),
    read("cursor field not text", '"cursor_field" must be a column name', state=state({"cursor_field": ["updated_at"], "cursor": "1"})),
    read("diff state of the wrong shape", "stream users: unreadable diff state", config=DIFF_CONFIG, state=state({"change_detection": "diff", "generation": "first"})),
    read("diff resume point of the wrong type", "its resume point 'abc' does not fit column 'id'", config=DIFF_CONFIG, prepare=lambda place: place.snapshot(), state=state({"change_detection": "diff", "generation": "{generation}", "complete": False, "baseline": None, "resume_after": [RESUME_AT_ABC]})),
    # SQL models that fail
    check("model SQL syntax error", duck(model("users", "SELEC id FROM users")), "stream users: the query fails: Parser Error"),
    read("model SQL syntax error", "stream users: the query fails: Parser Error", config=duck(model("users", "SELECT id FROM users WHERE"))),
    discover("model unknown column", duck(model("users", "SELECT id, nickname FROM users")), 'Referenced column "nickname" not found'),
    check("model unknown table", duck(model("users", "SELECT * FROM customers")), "Table with name customers does not exist"),
    read("model cast fails at read time", "stream users: Conversion Error: Could not convert string 'ann' to INT32", config=duck(CAST)),
    read("model divides by zero at read time", "stream users: Invalid Input Error: Division by zero", config=duck(DIVIDE), catalog=catalog(sync_mode="full_refresh")),
    # values that cannot be converted
    read("JSON value with NaN", "stream users: column 'doc': a value cannot be converted to JSON", config=duck(NAN, **EVERY_RECORD), states=2),
    read("JSON value nested too deep", "stream users: column 'doc': a value cannot be written as JSON", config=duck(DEEP, **EVERY_RECORD), states=2),
]

SNOWFLAKE_CASES = [
    # secrets refused at config time, never printed
    check("password with a line break", snow_config({"auth_type": "password", "password": "{secret}\n"}), "contains a line break: paste it again"),
    read("password with a trailing space", "contains a space at its start or end", config=snow_config({"auth_type": "password", "password": "{secret} "}), catalog=T_CATALOG),
    discover("token with a space", snow_config({"auth_type": "pat", "token": "{secret} x"}), "contains a space: paste it again"),
    check("passphrase with a line break", snow_config({"auth_type": "key_pair", "private_key": "{secret}", "private_key_passphrase": "{secret}\r\n"}), "contains a line break"),
    check("private key not a key", snow_config({"auth_type": "key_pair", "private_key": "{secret}", "private_key_passphrase": "{secret}"}), "the Snowflake private key cannot be loaded"),
    check("config unknown key beside a password", snow_config() | {"password": "{secret}"}, "password: Extra inputs are not permitted"),
    discover("config wrong type beside a password", snow_config(port="https"), "port: Input should be a valid integer"),
    check("config cut off after a password", json.dumps(snow_config())[:-40], "is not valid JSON"),
    # credentials refused by a server that echoes them
    check("password refused and echoed", snow_config(), "Snowflake rejected the credentials of user airbyte", prepare=lambda place: place.echo(SECRET)),
    read("password refused and echoed", "Check the user and the password", config=snow_config(), catalog=T_CATALOG, prepare=lambda place: place.echo(SECRET)),
    discover("token refused and echoed", snow_config(TOKEN), "has not expired or been revoked", prepare=lambda place: place.echo(SECRET)),
    # a warehouse that cannot be reached
    check("host that does not exist", snow_config(host="warehouse.invalid"), "the host name does not exist"),
    read("host that does not exist", "Check warehouse.account", config=snow_config(host="warehouse.invalid"), catalog=T_CATALOG),
    check("port nobody listens on", snow_config(port="{closed_port}"), "Check warehouse.host and warehouse.port"),
    discover("port nobody listens on", snow_config(port="{closed_port}"), "cannot connect (Connection refused)", failure_type="transient_error"),
    check("server that never answers", snow_config(port="{silent_port}"), "Check warehouse.host and warehouse.port"),
    # SQL models, state
    discover("model unknown column", snow_config(models=[model("t", "SELECT ID, NICKNAME FROM S.T")]), "NICKNAME"),
    check("model unknown relation", snow_config(models=[{"name": "t", "relation": "S.ORDERS"}]), "GRANT SELECT ON VIEW"),
    read("model cast fails at read time", "stream t: 100035 (22007): ", config=snow_config(models=[model("t", "SELECT ID, CAST(NAME AS INT) AS N FROM S.T")]), catalog=catalog("t", "full_refresh")),
    read("cursor not a timestamp", "stream t: the state cannot be used", config=snow_config(), catalog=T_CATALOG, state=state({"cursor_field": "UPDATED_AT", "cursor": "abc", "cursor_type": "string"}, "t")),
]

# fmt: on


def _id(case: Case) -> str:
    return f"{case.command} {case.name}"


@pytest.mark.parametrize("case", DUCKDB_CASES, ids=_id)
def test_bad_input_duckdb(case: Case, place: Place) -> None:
    place.run(case)


@pytest.mark.parametrize("case", SNOWFLAKE_CASES, ids=_id)
def test_bad_input_snowflake(case: Case, snowflake_place: Place) -> None:
    place = snowflake_place
    place.run(case)


def _states_follow_their_records(outcome: Outcome) -> None:
    """A cursor state out names the cursor of the last record before it: none past unsent records."""
    last: dict[str, Any] | None = None
    for message in outcome.messages:
        if message["type"] == "RECORD":
            last = message["record"]["data"]
        elif message["type"] == "STATE":
            stream_state = message["state"]["stream"]["stream_state"]
            assert last is not None, "a state before any record"
            assert stream_state["cursor"] == last[stream_state["cursor_field"]], (stream_state, last)


def test_a_changed_cursor_field_reads_everything_again(place: Place) -> None:
    """Not an error: the state's cursor belongs to another column, so the stream is read from the start."""
    messages = place.sync(duck(), USERS_CATALOG, cursor("2024-01-02", "date", "signup"))
    warnings = [m["log"]["message"] for m in messages if m["type"] == "LOG" and m["log"]["level"] == "WARN"]
    assert warnings == ["stream users: cursor changed from 'signup' to 'updated_at', reading all"]
    assert [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"] == [1, 2, 3]


def test_integers_beyond_64_bits_inside_structs_and_lists_keep_every_digit(place: Place) -> None:
    """orjson writes 64-bit integers at most; a HUGEINT nested in a STRUCT or LIST is written as its digits."""
    huge, above = 2**127 - 1, 2**64
    sql = f"SELECT 1 AS id, {{'big': {huge}::HUGEINT, 'list': [{above}::UHUGEINT, -{above}::HUGEINT]}} AS s"
    messages = place.sync(duck(model("nested", sql)), catalog("nested", "full_refresh"))
    (record,) = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    assert record == {"id": 1, "s": {"big": huge, "list": [above, -above]}}
