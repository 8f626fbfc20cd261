"""The connector's commands as Airbyte message dicts, shared by the console script and the CDK source."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from retl_shared.catalog import ConfiguredStream, parse_configured_catalog
from retl_shared.redaction import Redactor, secret_values
from source_warehouse_model.backends import connect
from source_warehouse_model.config import ConfigError, SourceConfig, parse_config, spec_schema
from source_warehouse_model.errors import about, sync_error
from source_warehouse_model.messages import MessageBuffer, Messages
from source_warehouse_model.reader import ReadRequest, read_stream, usable_lookback
from source_warehouse_model.state import PriorStates
from source_warehouse_model.streams import (
    StreamDef,
    airbyte_stream,
    cursor_column,
    declared_streams,
    describe,
    missing_schemas,
    resolve_keys,
)


def spec_message() -> dict[str, Any]:
    return {"type": "SPEC", "spec": {"connectionSpecification": spec_schema()}}


def check_message(raw_config: Any, redactor: Redactor | None = None) -> dict[str, Any]:
    """SUCCEEDED when the warehouse opens and every stream's query, cursor, keys and lookback resolve.

    Compiling each stream's query proves the credentials and the role's access to every relation;
    failures come back as messages that say what to change (the backends word their own errors),
    masked like every other line: a server may echo a credential in its error.
    """
    redactor = redactor or config_redactor(raw_config)
    try:
        config = parse_config(raw_config)
        with connect(config.warehouse, quick=True) as backend:
            streams = declared_streams(config, backend)
            missing = missing_schemas(config, streams)
            if missing:
                raise ConfigError(f"no tables or views in schema(s): {', '.join(missing)}")
            for declared in streams:
                columns = describe(backend, declared)
                stream = resolve_keys(declared, columns)
                if stream.cursor_field is not None:
                    cursor = cursor_column(columns, stream.cursor_field, stream)
                    usable_lookback(stream, cursor, *config.lookback_for(stream.namespace, stream.name))
            if any(stream.diff for stream in streams):
                backend.check_bookkeeping()
    except Exception as exc:
        return connection_status("FAILED", redactor.redact(sync_error(exc).message))
    return connection_status("SUCCEEDED")


def config_redactor(raw_config: Any) -> Redactor:
    """A redactor for every secret field of the config, in every form they could be printed in."""
    return Redactor(secret_values(raw_config, spec_schema()) if isinstance(raw_config, Mapping) else [])


def discover_message(raw_config: Any) -> dict[str, Any]:
    config = parse_config(raw_config)
    entries = []
    with connect(config.warehouse) as backend:
        for stream in declared_streams(config, backend):
            columns = describe(backend, stream)
            entries.append(airbyte_stream(resolve_keys(stream, columns), columns))
    return {"type": "CATALOG", "catalog": {"streams": entries}}


def read_messages(
    raw_config: Any,
    catalog: Any,
    state: Any,
    redactor: Redactor | None = None,
    record_lines: bool = False,
) -> Iterator[Messages]:
    """Yield batches of messages for every configured stream, in catalog order.

    ``state`` is the parsed `--state` file: a list of AirbyteStateMessage dicts, or a legacy dict.
    With ``record_lines``, records may come as pre-serialised lines (``MessageBuffer.write_lines``).
    """
    config = parse_config(raw_config)
    configured_streams = parse_configured_catalog(catalog)
    priors = PriorStates(state)
    out = MessageBuffer(redactor or config_redactor(raw_config), record_lines)
    with connect(config.warehouse) as backend:
        streams = {(stream.namespace, stream.name): stream for stream in declared_streams(config, backend)}
        requests = [_request(configured, streams, priors, config) for configured in configured_streams]
        for request in requests:
            try:
                with about(f"stream {request.stream.label}"):
                    yield from read_stream(backend, request, config.checkpoint_every_records, out)
            except Exception:
                out.stream_status(request.stream.name, request.stream.namespace, "INCOMPLETE")
                yield out.drain()
                raise


def _request(
    configured: ConfiguredStream,
    streams: dict[tuple[str | None, str], StreamDef],
    priors: PriorStates,
    config: SourceConfig,
) -> ReadRequest:
    stream = streams.get(configured.key)
    if stream is None:
        label = ".".join(part for part in configured.key if part)
        raise ConfigError(
            f"stream {label} is in the catalog but not in the source config; refresh the schema"
        )
    lookback, from_model = config.lookback_for(*configured.key)
    cursor_path, key_paths = configured.cursor_field, configured.primary_key
    if len(cursor_path) > 1 or any(len(path) != 1 for path in key_paths):
        raise ConfigError(f"stream {stream.label}: cursor and primary key must be top-level columns")
    if stream.diff:
        # A diff compares snapshots by the model's own key; a cursor picked in the catalog means nothing.
        cursor_path, key_paths = [], []
    return ReadRequest(
        stream=stream,
        incremental=configured.sync_mode == "incremental",
        cursor_field=cursor_path[0] if cursor_path else stream.cursor_field,
        primary_key=tuple(path[0] for path in key_paths) or stream.primary_key,
        prior_state=priors.get(*configured.key),
        lookback=lookback,
        lookback_from_model=from_model,
    )


def connection_status(status: str, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status}
    if message is not None:
        body["message"] = message
    return {"type": "CONNECTION_STATUS", "connectionStatus": body}
