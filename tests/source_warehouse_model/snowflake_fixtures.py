"""A fakesnow server on 127.0.0.1, for running the real ``snowflake-connector-python`` against.

Test modules use it with ``pytest_plugins = ["tests.source_warehouse_model.snowflake_fixtures"]``.

``fakesnow.server()`` serves fakesnow's app as it is, and that app accepts any credentials. This
serves the same app behind one extra route, the login: it records what the driver sent (so tests
see the authenticator, token and session parameters) and refuses ``REJECTED_PASSWORD`` and
``REJECTED_TOKEN`` the way Snowflake refuses wrong credentials (code 390100), and the credentials in
``FakeSnowflake.echoed`` the same way with the credential quoted back in the message, as a proxy or a
verbose server might: the connector must mask it. The server starts once
per test session; every test gets its own database in it, which fakesnow creates at first login.

What fakesnow cannot emulate (it runs DuckDB under Snowflake's SQL): timestamps keep microseconds,
not nanoseconds; TIMESTAMP_TZ keeps the instant, not its offset; TO_VARCHAR drops its format (values
come back in DuckDB's text form); NUMBER(38, 0) holds 64 bits; OBJECT and ARRAY are described as
VARIANT; information_schema.tables lists no views (Snowflake's does); a Decimal bound as FIXED must
be an integer (the backend binds Decimals as text); no roles or grants, so a missing privilege is
tested as a missing relation, which gives Snowflake's error code (002003), in DuckDB's words.

Test modules import it before pytest registers it as a plugin: PYTEST_DONT_REWRITE (it has no asserts).
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import fakesnow.server as fakesnow_app
import pytest
import snowflake.connector
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

REJECTED_PASSWORD = "wrong-password"
REJECTED_TOKEN = "revoked-token"
USER, ROLE = "airbyte", "AIRBYTE_READER"


@dataclass
class FakeSnowflake:
    port: int
    logins: list[dict[str, Any]] = field(default_factory=list)  # the "data" of every login request
    echoed: set[str] = field(default_factory=set)  # passwords and tokens refused with an echo of them


@dataclass
class SnowflakeDatabase:
    """One test's database: set it up with ``execute``, point the connector at it with ``config``."""

    server: FakeSnowflake
    name: str
    _connection: Any = None

    def warehouse(self, credentials: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "type": "snowflake",
            "account": "fakesnow",
            "user": USER,
            "role": ROLE,
            "warehouse": "COMPUTE_WH",
            "database": self.name,
            "credentials": credentials or {"auth_type": "password", "password": "s3cret-password"},
            "host": "127.0.0.1",
            "port": self.server.port,
            "protocol": "http",
        }

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"warehouse": self.warehouse(), **extra}

    def execute(self, *statements: str) -> None:
        with closing(self._cursor()) as cursor:
            for statement in statements:
                cursor.execute(statement)

    def fetch(self, query: str) -> list[tuple[Any, ...]]:
        with closing(self._cursor()) as cursor:
            return list(cursor.execute(query).fetchall())

    def _cursor(self) -> Any:
        if self._connection is None:
            self._connection = snowflake.connector.connect(
                account="fakesnow",
                user=USER,
                password="setup",
                database=self.name,
                host="127.0.0.1",
                port=self.server.port,
                protocol="http",
                platform_detection_timeout_seconds=0.0,
            )
        return self._connection.cursor()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def _app(server: FakeSnowflake) -> Starlette:
    async def login(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        data = json.loads(body)["data"]
        server.logins.append(data)
        credential = data.get("PASSWORD") or data.get("TOKEN")
        if credential in (REJECTED_PASSWORD, REJECTED_TOKEN) or credential in server.echoed:
            # Snowflake's answer to wrong credentials, which the driver raises as DatabaseError 390100.
            message = "Incorrect username or password was specified."
            if credential in server.echoed:
                message += f" Login {USER!r} with {credential!r} (sent as {json.dumps(data)}) refused."
            return JSONResponse(
                {
                    "data": {"nextAction": "RETRY_LOGIN", "authnMethod": "USERNAME_PASSWORD"},
                    "code": "390100",
                    "message": message,
                    "success": False,
                    "headers": None,
                }
            )
        return await fakesnow_app.login_request(request)  # reads the body again: Starlette cached it

    return Starlette(
        routes=[
            Route("/session/v1/login-request", login, methods=["POST"]),
            Mount("/", app=fakesnow_app.app),
        ]
    )


@pytest.fixture(scope="session")
def snowflake_server() -> Iterator[FakeSnowflake]:
    # The server runs in the tests' process, so its logs would turn up as the connector's LOG messages.
    for name in ("fakesnow.server", "sqlglot", "uvicorn"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeSnowflake(port)
    server = uvicorn.Server(uvicorn.Config(_app(fake), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fakesnow server", daemon=True)
    thread.start()
    while thread.is_alive() and not server.started:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the fakesnow server did not start")
    yield fake
    server.should_exit = True
    thread.join()


_DATABASES = itertools.count(1)


@pytest.fixture
def snowflake_db(snowflake_server: FakeSnowflake) -> Iterator[SnowflakeDatabase]:
    database = SnowflakeDatabase(snowflake_server, f"TEST_DB_{next(_DATABASES)}")
    yield database
    database.close()
