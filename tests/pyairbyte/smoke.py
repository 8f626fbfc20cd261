"""PyAirbyte smoke test: the source and the webhook destination run by PyAirbyte as local executables.

Run by the python of PyAirbyte's own environment (`make pyairbyte-test`; its pins conflict with the
workspace's), against the workspace's connector executables, a DuckDB warehouse built with the
workspace's python, and the webhook fake on 127.0.0.1. Offline: no registry look-up, no telemetry.

1. read: the warehouse's streams into PyAirbyte's DuckDB cache (a namespaced table stream whose cursor
   and key are given in lower case against upper-case columns, and a model);
2. incremental: rows change, a second read with PyAirbyte's stored state brings only the changed rows;
3. write: the cache to the webhook destination. PyAirbyte replays cached records in lower case and
   without their namespace, under the source's upper-case, namespaced catalog; the destination config
   is written in the warehouse's upper case, as for Snowflake.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_BIN = ROOT / ".venv" / "bin"
BOOKKEEPING = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta")  # PyAirbyte's cache columns

ROWS = """INSERT INTO crm.CONTACTS VALUES
    (1, 'ann@x.io', 'Ann', TIMESTAMP '2024-01-01 00:00:00'),
    (2, 'bob@x.io', 'Bob', TIMESTAMP '2024-01-02 00:00:00'),
    (3, 'cy@x.io', 'Cy', TIMESTAMP '2024-01-03 00:00:00')"""
# The stored cursor is inclusive, so row 3 (at it) would come again unchanged: it changes too, and
# only changed rows are expected. Row 2 stays below the cursor and must not come.
CHANGES = (
    "UPDATE crm.CONTACTS SET FIRST_NAME = 'Cyd', UPDATED_AT = TIMESTAMP '2024-02-01 00:00:00' WHERE ID = 3",
    "UPDATE crm.CONTACTS SET FIRST_NAME = 'Annie', UPDATED_AT = TIMESTAMP '2024-02-02 00:00:00' WHERE ID = 1",
    "INSERT INTO crm.CONTACTS VALUES (4, 'dee@x.io', 'Dee', TIMESTAMP '2024-02-03 00:00:00')",
)
FINAL = [
    (1, "ann@x.io", "Annie", datetime(2024, 2, 2)),
    (2, "bob@x.io", "Bob", datetime(2024, 1, 2)),
    (3, "cy@x.io", "Cyd", datetime(2024, 2, 1)),
    (4, "dee@x.io", "Dee", datetime(2024, 2, 3)),
]


def offline(work: Path) -> None:
    """PyAirbyte's settings, read when it is imported: no registry, no telemetry, files in ``work``
    (and no notices about Google's clients' support of Python 3.11, which PyAirbyte imports)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module="google")
    os.environ.update(
        AIRBYTE_OFFLINE_MODE="1",
        DO_NOT_TRACK="1",
        AIRBYTE_LOGGING_ROOT=str(work / "logs"),
        AIRBYTE_PROJECT_DIR=str(work),
        AIRBYTE_CACHE_ROOT=str(work / "cache"),
        AIRBYTE_TEMP_DIR=str(work / "tmp"),
    )
    (work / "tmp").mkdir()


def warehouse(db: Path, *statements: str) -> None:
    """Runs SQL with the workspace's duckdb: the file must be one the source's duckdb reads."""
    code = (
        "import duckdb, json, sys\n"
        "connection = duckdb.connect(sys.argv[1])\n"
        "for statement in json.loads(sys.argv[2]):\n"
        "    connection.execute(statement)\n"
    )
    subprocess.run([str(WORKSPACE_BIN / "python"), "-c", code, str(db), json.dumps(statements)], check=True)


def user_columns(row: Any) -> dict[str, Any]:
    return {name: value for name, value in dict(row).items() if name not in BOOKKEEPING}


def logs_of(work: Path, connector: str) -> str:
    return "".join(path.read_text() for path in sorted((work / "logs" / connector).glob("*.log")))


class WebhookFake:
    """`python -m tests.fakes.webhook` in the workspace's python; it prints one line per body received."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(WORKSPACE_BIN / "python"), "-m", "tests.fakes.webhook", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()
        found = re.search(r" on (http://127\.0\.0\.1:\d+) ", banner)
        assert found, f"the fake's first line names no URL: {banner!r}"
        self.url = found.group(1)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self.lines.extend, args=(self.process.stdout,))
        self.reader.start()

    def stop(self) -> dict[str, list[dict[str, Any]]]:
        """Stop the fake; the records it received, by request path."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        received: dict[str, list[dict[str, Any]]] = {}
        for line in self.lines:
            method, path, body = line.rstrip("\n").split(" ", 2)
            assert method == "POST", line
            parsed = json.loads(body)
            received.setdefault(path, []).extend(parsed if isinstance(parsed, list) else [parsed])
        return received


def expected_rows(rows: list[tuple[int, str, str, datetime]]) -> list[dict[str, Any]]:
    """Rows as PyAirbyte's cache holds them: lower-case column names."""
    return [{"id": i, "email": email, "first_name": name, "updated_at": at} for i, email, name, at in rows]


class Smoke:
    """The three checks, in order: each builds on the one before."""

    streams = ("CONTACTS", "active_contacts")

    def __init__(self, work: Path) -> None:
        import airbyte

        self.airbyte = airbyte
        self.work = work
        self.db = work / "warehouse.duckdb"
        self.raw_ids: dict[str, set[str]] = {}
        self.result: Any = None

    def connect(self) -> None:
        """The warehouse, the source (its discover) and the cache."""
        from airbyte.caches import DuckDBCache

        warehouse(
            self.db,
            "CREATE SCHEMA crm",
            "CREATE TABLE crm.CONTACTS (ID INTEGER, EMAIL VARCHAR, FIRST_NAME VARCHAR, UPDATED_AT TIMESTAMP)",
            ROWS,
        )
        model = {
            "name": "active_contacts",
            "sql": "SELECT ID, EMAIL, FIRST_NAME, UPDATED_AT FROM crm.CONTACTS WHERE EMAIL IS NOT NULL",
            "primary_key": ["id"],  # lower case, as a Snowflake user may write it: resolves to ID
            "cursor_field": "updated_at",
        }
        warehouse_config = {"type": "duckdb", "path": str(self.db)}
        self.source = self.airbyte.get_source(
            "source-warehouse-model",
            config={"warehouse": warehouse_config, "schemas": ["crm"], "models": [model]},
            local_executable=str(WORKSPACE_BIN / "source-warehouse-model"),
        )
        self.source.select_all_streams()
        self.source.set_cursor_key("CONTACTS", "updated_at")  # the table stream declares no cursor
        self.source.set_primary_key("CONTACTS", "id")
        self.cache = DuckDBCache(db_path=self.work / "cache.duckdb")

    def read(self) -> None:
        self.connect()
        self.result = self.source.read(cache=self.cache)
        first = [
            (1, "ann@x.io", "Ann", datetime(2024, 1, 1)),
            (2, "bob@x.io", "Bob", datetime(2024, 1, 2)),
            (3, "cy@x.io", "Cy", datetime(2024, 1, 3)),
        ]
        for stream in self.streams:
            rows = sorted((user_columns(row) for row in self.result[stream]), key=lambda row: row["id"])
            assert rows == expected_rows(first), (stream, rows)
            self.raw_ids[stream] = {row["_airbyte_raw_id"] for row in self.result[stream]}
        discovered = {stream.name: stream for stream in self.source.discovered_catalog.streams}
        assert {name: stream.namespace for name, stream in discovered.items()} == {
            "CONTACTS": "crm",
            "active_contacts": None,
        }
        # The model's lower-case keys, as the warehouse names them; the picked ones resolve in the read.
        model = discovered["active_contacts"]
        assert (model.default_cursor_field, model.source_defined_primary_key) == (["UPDATED_AT"], [["ID"]])
        log = logs_of(self.work, "source-warehouse-model")
        for line in (
            "cursor column 'updated_at' resolved to 'UPDATED_AT' in stream crm.CONTACTS",
            "primary key column 'id' resolved to 'ID' in stream crm.CONTACTS",
        ):
            assert line in log, line

    def incremental(self) -> None:
        warehouse(self.db, *CHANGES)
        self.result = self.source.read(cache=self.cache)
        for stream in self.streams:
            rows = list(self.result[stream])
            came = sorted(row["id"] for row in rows if row["_airbyte_raw_id"] not in self.raw_ids[stream])
            assert came == [1, 3, 4], (stream, came)
            assert sorted((user_columns(row) for row in rows), key=lambda row: row["id"]) == expected_rows(
                FINAL
            )
        assert self.result.processed_records == 6, self.result.processed_records

    def write(self) -> None:
        fake = WebhookFake()
        try:
            contacts = {
                "stream": "CONTACTS",
                "namespace": "crm",
                "url": f"{fake.url}/hooks/contacts",
                "unmapped_columns": "drop",
                "fields": {"ID": "id", "EMAIL": "email", "FIRST_NAME": "first_name"},
                "match_key": ["email"],
            }
            active = {"stream": "active_contacts", "url": f"{fake.url}/hooks/active", "match_key": ["EMAIL"]}
            # One request at a time: the fake prints each body from its handler thread, and two
            # prints at once can share a line.
            config = {"url": f"{fake.url}/hooks/other", "max_concurrency": 1, "streams": [contacts, active]}
            destination = self.airbyte.get_destination(
                "destination-webhook",
                config=config,
                local_executable=str(WORKSPACE_BIN / "destination-webhook"),
            )
            written = destination.write(self.result)
        finally:
            received = fake.stop()
        assert sorted(received) == ["/hooks/active", "/hooks/contacts"], sorted(received)
        by_id = sorted(received["/hooks/contacts"], key=lambda record: record["id"])
        assert by_id == [{"id": i, "email": email, "first_name": name} for i, email, name, _ in FINAL], by_id
        by_id = sorted(received["/hooks/active"], key=lambda record: record["id"])
        # Passed through: PyAirbyte's bookkeeping columns come along with the row's own.
        assert all(set(BOOKKEEPING) <= set(record) for record in by_id), by_id
        assert [user_columns(record) for record in by_id] == [
            {"id": i, "EMAIL": email, "first_name": name, "updated_at": at.isoformat()}
            for i, email, name, at in FINAL
        ], by_id
        assert written.processed_records == 8, written.processed_records
        log = logs_of(self.work, "destination-webhook")
        for line in (
            "column 'EMAIL' resolved to 'email' in stream 'active_contacts' in its first record",
            "column 'FIRST_NAME' resolved to 'first_name' in stream 'CONTACTS' in its first record",
        ):
            assert line in log, line


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="retl-pyairbyte-") as tmp:
        offline(Path(tmp))
        smoke = Smoke(Path(tmp))
        return run_checks(
            [
                ("read into the cache", smoke.read),
                ("incremental read", smoke.incremental),
                ("write", smoke.write),
            ]
        )


def run_checks(checks: list[tuple[str, Callable[[], None]]]) -> int:
    """Each in order (each builds on the one before); the first failure ends the run."""
    passed = 0
    for name, check in checks:
        try:
            check()
        except Exception:
            traceback.print_exc()
            print(f"pyairbyte: FAILED {name}", flush=True)
            print(f"pyairbyte: {passed} passed, 1 failed", flush=True)
            return 1
        passed += 1
        print(f"pyairbyte: ok {name}", flush=True)
    print(f"pyairbyte: {passed} passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
