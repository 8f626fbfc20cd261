"""The `retl` command line. Each subcommand is an `_add_*` function that registers its parser and handler."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from retl_shared.runner import RunError, SyncOptions, format_summary, run_sync


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retl", description="Reverse-ETL connector tools for Airbyte.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="pipe a source into a destination locally, as Airbyte's platform does",
        description=(
            "Runs `SOURCE read` into `DESTINATION write` and keeps, in the state file, only the states the "
            "destination confirmed; the next run passes them to the source with --state. Paths are passed "
            'to the connectors as given: with docker, mount them at the same path (-v "$PWD:$PWD" -w "$PWD").'
        ),
    )
    run.add_argument(
        "--source", required=True, type=_command, metavar="CMD", help="source command, split like a shell"
    )
    run.add_argument("--source-config", required=True, type=_existing_file, metavar="FILE")
    run.add_argument(
        "--destination",
        required=True,
        type=_command,
        metavar="CMD",
        help="destination command, split like a shell",
    )
    run.add_argument("--destination-config", required=True, type=_existing_file, metavar="FILE")
    run.add_argument(
        "--catalog", required=True, type=_existing_file, metavar="FILE", help="configured catalog"
    )
    run.add_argument(
        "--state-file", required=True, type=Path, metavar="FILE", help="confirmed state, read and updated"
    )
    run.add_argument(
        "--quiet", action="store_true", help="no refreshing progress line: a plain one every 10 s instead"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="also show INFO logs and stray output")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.state_file.parent.is_dir():
        print(f"retl: error: no directory for the state file {args.state_file}", file=sys.stderr)
        return 2
    options = SyncOptions(
        source=args.source,
        source_config=args.source_config,
        destination=args.destination,
        destination_config=args.destination_config,
        catalog=args.catalog,
        state_file=args.state_file,
        verbose=args.verbose,
        live=sys.stderr.isatty() and not args.quiet,
    )
    try:
        result = run_sync(options, sys.stderr)
    except RunError as exc:
        print(f"retl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"retl: interrupted; {args.state_file} keeps what the destination confirmed", file=sys.stderr)
        return 130
    print(format_summary(result))
    for failure in result.failures():
        print(f"retl: {failure}", file=sys.stderr)
    return 0 if result.ok else 1


def _command(text: str) -> list[str]:
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {text!r}: {exc}") from None
    if not argv:
        raise argparse.ArgumentTypeError("empty command")
    return argv


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path
