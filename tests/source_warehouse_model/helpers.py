"""Helpers for driving the connector through ``run()`` against small DuckDB files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from source_warehouse_model.run import run


def make_db(path: Path, *statements: str) -> Path:
    connection = duckdb.connect(str(path))
    for statement in statements:
        connection.execute(statement)
    connection.close()
    return path


def duckdb_config(path: Path, **extra: Any) -> dict[str, Any]:
    return {"warehouse": {"type": "duckdb", "path": str(path)}, **extra}


def configured_stream(
    stream: dict[str, Any],
    sync_mode: str = "incremental",
    cursor: str | None = None,
    key: list[str] | None = None,
) -> dict[str, Any]:
    configured: dict[str, Any] = {
        "stream": stream,
        "sync_mode": sync_mode,
        "destination_sync_mode": "append_dedup" if sync_mode == "incremental" else "overwrite",
    }
    if cursor:
        configured["cursor_field"] = [cursor]
    if key:
        configured["primary_key"] = [[name] for name in key]
    return configured


@dataclass
class Result:
    messages: list[dict[str, Any]]
    exit_code: int

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["type"] == kind]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            message["record"]["data"]
            for message in self.of_type("RECORD")
            if stream is None or message["record"]["stream"] == stream
        ]

    def states(self, stream: str | None = None) -> list[Any]:
        return [
            message["state"]["stream"]["stream_state"]
            for message in self.of_type("STATE")
            if stream is None or message["state"]["stream"]["stream_descriptor"]["name"] == stream
        ]

    def traces(self, kind: str) -> list[dict[str, Any]]:
        return [message["trace"] for message in self.of_type("TRACE") if message["trace"]["type"] == kind]

    def final_states(self) -> list[dict[str, Any]]:
        """The last state of each stream: what the platform passes to the next sync."""
        last = {}
        for message in self.of_type("STATE"):
            descriptor = message["state"]["stream"]["stream_descriptor"]
            last[(descriptor.get("namespace"), descriptor["name"])] = message["state"]
        return list(last.values())


class Harness:
    """Runs commands in-process with captured stdout; decimals parse as Decimal to check every digit."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self._files = 0

    def file(self, content: Any) -> str:
        self._files += 1
        path = self.tmp_path / f"input-{self._files}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def run(self, *argv: str) -> Result:
        self.capsys.readouterr()
        exit_code = 0
        try:
            run(list(argv))
        except SystemExit as exc:
            exit_code = int(exc.code or 0)
        lines = self.capsys.readouterr().out.splitlines()
        return Result([json.loads(line, parse_float=Decimal) for line in lines], exit_code)

    def check(self, config: dict[str, Any]) -> dict[str, Any]:
        (message,) = self.run("check", "--config", self.file(config)).messages
        status: dict[str, Any] = message["connectionStatus"]
        return status

    def discover(self, config: dict[str, Any]) -> dict[str, dict[str, Any]]:
        (message,) = self.run("discover", "--config", self.file(config)).messages
        return {stream["name"]: stream for stream in message["catalog"]["streams"]}

    def read(self, config: dict[str, Any], streams: list[dict[str, Any]], state: Any = None) -> Result:
        argv = ["read", "--config", self.file(config), "--catalog", self.file({"streams": streams})]
        if state is not None:
            argv += ["--state", self.file(state)]
        return self.run(*argv)

    def read_stream(
        self,
        config: dict[str, Any],
        name: str,
        state: Any = None,
        sync_mode: str = "incremental",
        cursor: str | None = None,
        key: list[str] | None = None,
    ) -> Result:
        """Discover, configure one stream and read it."""
        stream = self.discover(config)[name]
        return self.read(config, [configured_stream(stream, sync_mode, cursor, key)], state)
