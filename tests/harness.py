"""Run a connector in-process the way the platform runs it, and read back its messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson


def configured_stream(
    name: str, sync_mode: str, primary_key: list[str], cursor: str | None = None
) -> dict[str, Any]:
    """One stream of a configured catalog, read incrementally (by ``cursor`` when given)."""
    stream: dict[str, Any] = {
        "stream": {
            "name": name,
            "json_schema": {"type": "object"},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": "incremental",
        "destination_sync_mode": sync_mode,
        "primary_key": [[key] for key in primary_key],
    }
    if cursor is not None:
        stream["cursor_field"] = [cursor]
    return stream


def configured_catalog(
    *streams: str, sync_mode: str = "append_dedup", primary_key: list[str] | None = None
) -> dict[str, Any]:
    return {"streams": [configured_stream(name, sync_mode, primary_key or []) for name in streams]}


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


BIN = Path(sys.executable).parent


def incremental_catalog(
    streams: dict[str, tuple[str, str]], sync_mode: str = "append_dedup"
) -> dict[str, Any]:
    """A configured catalog: stream name → (primary key column, cursor column)."""
    return {
        "streams": [
            configured_stream(name, sync_mode, [key], cursor) for name, (key, cursor) in streams.items()
        ]
    }


def retl_run(
    workdir: Path,
    destination: str,
    source_config: dict[str, Any],
    destination_config: dict[str, Any],
    catalog: dict[str, Any],
    check: bool = True,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`retl run` with the real console scripts; the state is kept in ``workdir/<destination>.state.json``."""
    files = {}
    for name, value in (("source", source_config), (destination, destination_config), ("catalog", catalog)):
        files[name] = workdir / f"{name}.json"
        files[name].write_text(json.dumps(value, indent=2))
    command = [
        str(BIN / "retl"), "run",
        "--source", str(BIN / "source-warehouse-model"), "--source-config", str(files["source"]),
        "--destination", str(BIN / destination), "--destination-config", str(files[destination]),
        "--catalog", str(files["catalog"]), "--quiet",
        "--state-file", str(workdir / f"{destination}.state.json"),
    ]  # fmt: skip
    return subprocess.run(command, check=check, capture_output=capture, text=True)


# The seed's core use case: scores, LTV and tiers onto HubSpot contacts keyed by the contact id.
SEED_CONTACTS_TO_HUBSPOT: dict[str, Any] = {
    "stream": "contacts_enriched",
    "object": "contacts",
    "operation": "update",
    "match_key": ["hs_object_id"],
    "fields": {
        "hubspot_contact_id": "hs_object_id",
        "total_orders": "total_orders",
        "lifetime_value_usd": "lifetime_value",
        "customer_tier": "customer_tier",
    },
    "unmapped_columns": "drop",
}
