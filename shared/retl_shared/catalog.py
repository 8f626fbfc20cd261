"""The configured catalog a destination is given, read into plain dataclasses with errors that say what
is wrong and where.

The CDK's serializers would do the reading, but importing them costs every connector process more
than a second, and their errors ("failed unexpectedly: 'stream'") do not say what to fix. Only the
fields a destination uses are read; the rest of the protocol's stream object is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retl_shared.errors import ConfigError

SYNC_MODES = ("full_refresh", "incremental")
DESTINATION_SYNC_MODES = ("append", "overwrite", "append_dedup", "update", "soft_delete")


@dataclass(frozen=True)
class ConfiguredStream:
    name: str
    namespace: str | None
    json_schema: dict[str, Any]
    destination_sync_mode: str
    sync_mode: str = "full_refresh"
    primary_key: list[list[str]] = field(default_factory=list)
    source_defined_primary_key: list[list[str]] = field(default_factory=list)
    cursor_field: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.namespace, self.name

    @property
    def columns(self) -> dict[str, Any]:
        """Column → JSON schema, from the stream's schema (empty when it lists none)."""
        properties = self.json_schema.get("properties")
        return dict(properties) if isinstance(properties, dict) else {}


def parse_configured_catalog(raw: Any, source: str = "the configured catalog") -> list[ConfiguredStream]:
    """Every configured stream; a ConfigError naming the field and the fix for anything malformed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("streams"), list):
        raise ConfigError(f'{source} must be a JSON object with a "streams" list')
    streams = []
    for index, entry in enumerate(raw["streams"]):
        where = f"{source}: streams[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not an object")
        if "stream" not in entry and "name" in entry and "json_schema" in entry:
            raise ConfigError(
                f"{where} is a stream of `discover` output, not a configured stream: make a configured "
                "catalog from it with `retl catalog`, or wrap each stream as "
                '{"stream": {...}, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}'
            )
        stream = entry.get("stream")
        if not isinstance(stream, dict):
            raise ConfigError(f'{where} has no "stream" object')
        name = stream.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f'{where}.stream has no "name"')
        namespace = stream.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise ConfigError(f"{where}.stream.namespace must be text")
        schema = stream.get("json_schema", {})
        if not isinstance(schema, dict):
            raise ConfigError(f"{where}.stream.json_schema must be an object")
        streams.append(
            ConfiguredStream(
                name=name,
                namespace=namespace,
                json_schema=schema,
                destination_sync_mode=_choice(entry, "destination_sync_mode", DESTINATION_SYNC_MODES, where),
                sync_mode=_choice(entry, "sync_mode", SYNC_MODES, where, "full_refresh"),
                primary_key=_paths(entry.get("primary_key"), f"{where}.primary_key"),
                source_defined_primary_key=_paths(
                    stream.get("source_defined_primary_key"), f"{where}.stream.source_defined_primary_key"
                ),
                cursor_field=_path(entry.get("cursor_field"), f"{where}.cursor_field"),
            )
        )
    return streams


def _choice(entry: dict[str, Any], name: str, allowed: tuple[str, ...], where: str, default: str = "") -> str:
    value = entry.get(name, default)
    if value not in allowed:
        shown = "missing" if name not in entry else repr(value)
        raise ConfigError(f"{where}.{name} is {shown}; it must be one of {', '.join(allowed)}")
    return str(value)


def _paths(value: Any, where: str) -> list[list[str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f'{where} must be a list of field paths, e.g. [["id"]]')
    return [_path(path, where) for path in value]


def _path(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise ConfigError(f'{where} must be a field path: a list of names, e.g. ["updated_at"]')
    return list(value)
