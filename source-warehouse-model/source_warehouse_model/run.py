"""Console entry point: the fast path, printing message dicts with orjson."""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import orjson

from retl_shared.protocol import Output
from retl_shared.redaction import Redactor, secret_values
from source_warehouse_model.config import ConfigError, spec_schema
from source_warehouse_model.connector import (
    check_message,
    connection_status,
    discover_message,
    read_messages,
    spec_message,
)
from source_warehouse_model.errors import sync_error, unwritable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="source-warehouse-model")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec")
    for name in ("check", "discover", "read"):
        command = commands.add_parser(name)
        command.add_argument("--config", required=True)
        if name == "read":
            command.add_argument("--catalog", required=True)
            command.add_argument("--state")
    return parser


def _load_json(path: str, what: str) -> Any:
    """A JSON file's value (an empty file is null); the error names the file, never its content."""
    try:
        return orjson.loads(Path(path).read_bytes() or b"null")
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"the {what} file {path} is not valid JSON: {exc}") from None


def run(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    out = Output()
    _redact_logging(out.redactor)
    # Park what the imports left behind outside the cyclic GC, which would otherwise rescan it at
    # each full collection that a read's record batches trigger: that nearly doubles the cost per record.
    gc.freeze()
    try:
        _execute(args, out)
    except Exception as exc:
        error = sync_error(exc)
        out.error_trace(error.message, error.failure_type, error.internal_message)
        raise SystemExit(1) from None
    finally:
        gc.unfreeze()


def _execute(args: argparse.Namespace, out: Output) -> None:
    if args.command == "spec":
        out.write(spec_message())
        return
    if args.command == "check":
        # Always a CONNECTION_STATUS, exit 0: an unreadable config file too is a reason for FAILED.
        try:
            config = _load_config(args.config, out.redactor)
        except ConfigError as exc:
            out.write(connection_status("FAILED", out.redactor.redact(exc.message)))
        else:
            out.write(check_message(config, out.redactor))
        return
    config = _load_config(args.config, out.redactor)
    if args.command == "discover":
        out.write(discover_message(config))
        return
    state = _load_json(args.state, "state") if args.state else None
    catalog = _load_json(args.catalog, "catalog")
    for batch in read_messages(config, catalog, state, out.redactor, record_lines=True):
        try:
            # Pre-serialised record lines are orjson Fragments, which it writes verbatim.
            out.write_many(cast(list[dict[str, Any]], batch))
        except orjson.JSONEncodeError as exc:
            raise unwritable(batch, exc) from exc


def _load_config(path: str, redactor: Redactor) -> Any:
    config = _load_json(path, "config")
    if isinstance(config, dict):
        redactor.add(*secret_values(config, spec_schema()))
    return config


def _redact_logging(redactor: Redactor) -> None:
    """The drivers' own warnings (retries, connection trouble) go to stderr, masked like our lines.

    Like any ``basicConfig``, this leaves logging alone where it is set up already (a test runner).
    """
    handler = logging.StreamHandler()
    handler.addFilter(redactor.logging_filter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
