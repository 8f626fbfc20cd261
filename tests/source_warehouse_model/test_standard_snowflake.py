"""The CDK standard source tests (spec, check, discover, read), in-process against fakesnow.

The scenarios are the Snowflake configs of source-warehouse-model/acceptance-test-config.yml; they
read a fakesnow server started on a free local port for the test session, loaded with
integration_tests/snowflake_warehouse.sql, through the real ``snowflake-connector-python``.
"""

from __future__ import annotations

import atexit
import logging
import socket
import threading
import time
import warnings
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any

import fakesnow.server as fakesnow_app
import pytest
import snowflake.connector
import uvicorn

from tests.source_warehouse_model.standard_plugin import CONNECTOR_ROOT, WarehouseStandardSuite

pytest_plugins = ["tests.source_warehouse_model.standard_plugin"]

WAREHOUSE_SQL = CONNECTOR_ROOT / "integration_tests" / "snowflake_warehouse.sql"
# fakesnow's own DuckDB calls warn about an extra copy of each result.
ARROW_COPY_WARNING = "Arrow output on a DB-API result"


@cache
def fakesnow_port(database: str) -> int:
    """Start a fakesnow server and load the warehouse into ``database``; return the server's port.

    Scenarios are collected before fixtures exist, and their configs must name the port, so the
    server starts here rather than in a session fixture, and stops when the interpreter exits (before
    it finalises: DuckDB reports connections a still-running server holds as leaks). Not started
    with ``fakesnow.server()``: importing the ``fakesnow.server`` module, as snowflake_fixtures
    does, replaces that function on the package.
    """
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fakesnow_app.app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, name="fakesnow server", daemon=True)
    thread.start()
    while thread.is_alive() and not server.started:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the fakesnow server did not start")
    atexit.register(thread.join)
    atexit.register(setattr, server, "should_exit", True)  # atexit runs the last registered first
    # It runs in this process, so its logs would turn up as the connector's LOG messages.
    for name in ("fakesnow", "sqlglot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    arguments = {"account": "fakesnow", "user": "setup", "password": "setup", "database": database}
    with (
        warnings.catch_warnings(),
        closing(
            snowflake.connector.connect(**arguments, host="127.0.0.1", port=port, protocol="http")
        ) as connection,
    ):
        warnings.filterwarnings("ignore", ARROW_COPY_WARNING, UserWarning)
        connection.execute_string(WAREHOUSE_SQL.read_text())
    return port


# Discovered-catalog problems the CDK only warns about yet fail here: this connector has none.
@pytest.mark.filterwarnings("error::airbyte_cdk.test.standard_tests.DiscoveredCatalogWarning")
@pytest.mark.filterwarnings(f"ignore:{ARROW_COPY_WARNING}:UserWarning")
class TestStandardSnowflake(WarehouseStandardSuite):
    warehouse_type = "snowflake"

    @classmethod
    def prepare_warehouse(cls, warehouse: dict[str, Any], directory: Path) -> dict[str, Any]:
        return {**warehouse, "host": "127.0.0.1", "port": fakesnow_port(warehouse["database"])}
