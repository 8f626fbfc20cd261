"""Run a connector in-process the way the platform runs it, and read back its messages."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson


def configured_catalog(
    *streams: str, sync_mode: str = "append_dedup", primary_key: list[str] | None = None
) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": sync_mode,
                "primary_key": [[k] for k in (primary_key or [])],
            }
            for name in streams
        ]
    }


def record_line(stream: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}})


def state_line(stream: str, value: Any) -> bytes:
    return orjson.dumps(
        {
            "type": "STATE",
            "state": {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": stream}, "stream_state": value},
            },
        }
    )


class Run:
    def __init__(self, code: int, raw: bytes) -> None:
        self.code = code
        self.raw = raw
        self.messages = [orjson.loads(line) for line in raw.splitlines() if line.strip()]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    @property
    def logs(self) -> list[str]:
        return [m["log"]["message"] for m in self.of_type("LOG")]

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]
        return errors[-1] if errors else None


def run_destination(
    destination_class: type,
    tmp_path: Path,
    command: str,
    config: dict[str, Any],
    catalog: dict[str, Any] | None = None,
    lines: Iterable[bytes] = (),
) -> Run:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    argv = [command, "--config", str(config_path)]
    if command == "write":
        catalog_path = tmp_path / "catalog.json"
        catalog_path.write_text(json.dumps(catalog))
        argv += ["--catalog", str(catalog_path)]
    out = io.BytesIO()
    code = destination_class(stdout=out).run(argv, stdin=io.BytesIO(b"\n".join(lines) + b"\n"))
    return Run(code, out.getvalue())
