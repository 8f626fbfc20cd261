"""Console entry point: the fast path, printing message dicts with orjson."""

from __future__ import annotations

import argparse
import gc
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from retl_shared.protocol import Output
from retl_shared.redaction import secret_values
from source_warehouse_model.config import ConfigError, spec_schema
from source_warehouse_model.connector import check_message, discover_message, read_messages, spec_message


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


def _load_json(path: str) -> Any:
    try:
        return orjson.loads(Path(path).read_bytes() or b"null")
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def run(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    out = Output()
    # Park what the imports left behind outside the cyclic GC, which would otherwise rescan it at
    # each full collection that a read's record batches trigger: that nearly doubles the cost per record.
    gc.freeze()
    try:
        _execute(args, out)
    except ConfigError as exc:
        out.error_trace(str(exc), "config_error")
        raise SystemExit(1) from None
    except Exception as exc:
        out.error_trace(f"{args.command} failed: {exc}", "system_error", traceback.format_exc())
        raise SystemExit(1) from None
    finally:
        gc.unfreeze()


def _execute(args: argparse.Namespace, out: Output) -> None:
    if args.command == "spec":
        out.write(spec_message())
        return
    config = _load_json(args.config)
    if isinstance(config, dict):
        out.redactor.add(*secret_values(config, spec_schema()))
    if args.command == "check":
        out.write(check_message(config))
    elif args.command == "discover":
        out.write(discover_message(config))
    else:
        state = _load_json(args.state) if args.state else None
        for batch in read_messages(config, _load_json(args.catalog), state, out.redactor):
            out.write_many(batch)
