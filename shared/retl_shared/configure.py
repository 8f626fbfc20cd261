"""`retl catalog`: a configured catalog made from a source's `discover` output, so nobody writes one by hand.

Per stream it picks the sync mode (incremental when the stream has a cursor, else full refresh), the
cursor (a flag, else the source's default cursor field), the primary key (a flag, else the source's
declared key) and the destination sync mode (append_dedup when there is a key, else append).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from retl_shared.catalog import DESTINATION_SYNC_MODES
from retl_shared.errors import ConfigError


@dataclass
class Choices:
    streams: list[str] = field(default_factory=list)  # only these (all when empty)
    sync_mode: str | None = None  # incremental | full_refresh; default per stream
    destination_sync_mode: str | None = None  # default per stream
    cursors: dict[str, str] = field(default_factory=dict)  # stream → column
    primary_keys: dict[str, list[str]] = field(default_factory=dict)  # stream → columns


def discovered_streams(text: bytes) -> list[dict[str, Any]]:
    """The streams of `discover` output: its stdout as printed (LOG lines and a CATALOG message), the
    CATALOG message alone, or the catalog object ``{"streams": [...]}``."""
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError:
        whole = None
    candidates = [whole] if whole is not None else _lines(text)
    for message in candidates:
        if isinstance(message, dict) and message.get("type") == "CATALOG":
            message = message.get("catalog")
        if isinstance(message, dict) and isinstance(message.get("streams"), list):
            streams = message["streams"]
            if streams and all(isinstance(s, dict) and "stream" in s for s in streams):
                raise ConfigError('this is already a configured catalog (its streams have a "stream" member)')
            return [s for s in streams if isinstance(s, dict)]
    raise ConfigError(
        "no catalog found: pass the output of `<source> discover --config …` (a CATALOG message), or its "
        '"catalog" object'
    )


def _lines(text: bytes) -> Iterable[Any]:
    for line in text.splitlines():
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            continue


def configured_catalog(discovered: list[dict[str, Any]], choices: Choices) -> dict[str, Any]:
    """The configured catalog; a ConfigError naming the stream and the flag for anything that cannot work."""
    by_name = {str(s.get("name")): s for s in discovered}
    unknown = [
        name for name in [*choices.streams, *choices.cursors, *choices.primary_keys] if name not in by_name
    ]
    if unknown:
        raise ConfigError(
            f"no stream {unknown[0]!r} in the discover output; its streams: {', '.join(sorted(by_name))}"
        )
    if choices.destination_sync_mode not in (None, *DESTINATION_SYNC_MODES):
        raise ConfigError(f"--destination-sync-mode must be one of {', '.join(DESTINATION_SYNC_MODES)}")
    names = choices.streams or list(by_name)
    return {"streams": [_configured(by_name[name], choices) for name in names]}


def _configured(stream: dict[str, Any], choices: Choices) -> dict[str, Any]:
    name = str(stream["name"])
    columns = set((stream.get("json_schema") or {}).get("properties") or {})
    cursor = choices.cursors.get(name) or _first(stream.get("default_cursor_field"))
    key = choices.primary_keys.get(name) or [
        path[0] for path in stream.get("source_defined_primary_key") or [] if path
    ]
    for column in [*(key or []), *([cursor] if cursor else [])]:
        if columns and column not in columns:
            raise ConfigError(
                f"stream {name!r} has no column {column!r}; its columns: {', '.join(sorted(columns))}"
            )
    supported = stream.get("supported_sync_modes") or ["full_refresh"]
    # A stream whose source defines the cursor without naming a column (a diff-mode model) is
    # incremental by the source's own means.
    own_cursor = bool(stream.get("source_defined_cursor")) and not stream.get("default_cursor_field")
    incremental = bool(cursor or own_cursor) and "incremental" in supported
    sync_mode = choices.sync_mode or ("incremental" if incremental else "full_refresh")
    if sync_mode not in supported:
        raise ConfigError(
            f"stream {name!r} does not support {sync_mode} (it supports {', '.join(supported)})"
        )
    if sync_mode == "incremental" and not cursor and not own_cursor:
        raise ConfigError(
            f"stream {name!r} has no cursor to read incrementally by: pass --cursor {name}=COLUMN"
        )
    destination_mode = choices.destination_sync_mode or ("append_dedup" if key else "append")
    if destination_mode == "append_dedup" and not key:
        raise ConfigError(
            f"stream {name!r} has no primary key for append_dedup: pass --primary-key {name}=COLUMN"
        )
    configured: dict[str, Any] = {
        "stream": stream,
        "sync_mode": sync_mode,
        "destination_sync_mode": destination_mode,
    }
    if cursor and sync_mode == "incremental":
        configured["cursor_field"] = [cursor]
    if key:
        configured["primary_key"] = [[column] for column in key]
    return configured


def _first(path: Any) -> str | None:
    return str(path[0]) if isinstance(path, list) and path else None
