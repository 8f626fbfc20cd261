"""The `retl` command line. Each subcommand is an `_add_*` function that registers its parser and handler."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from retl_shared.runner import RunError, SyncOptions, format_summary, run_sync


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retl", description="Reverse-ETL connector tools for Airbyte.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_catalog(commands)
    _add_airbyte(commands)
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


def _add_catalog(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catalog = commands.add_parser(
        "catalog",
        help="make a configured catalog from a source's discover output",
        description=(
            "Reads `<source> discover` output (a file, or - for stdin) and prints a configured catalog: "
            "each stream incremental by its cursor when it has one (else full refresh), append_dedup by "
            "its primary key when it has one (else append). Example: uv run source-warehouse-model "
            "discover --config source.json | uv run retl catalog - > catalog.json"
        ),
    )
    catalog.add_argument("discover", metavar="FILE", help="discover output, or - for stdin")
    catalog.add_argument(
        "--stream", action="append", default=[], metavar="NAME", help="only this stream (repeatable)"
    )
    catalog.add_argument("--sync-mode", choices=["incremental", "full_refresh"], help="for every stream")
    catalog.add_argument(
        "--destination-sync-mode", metavar="MODE", help="append_dedup, append, update, soft_delete…"
    )
    catalog.add_argument(
        "--cursor",
        action="append",
        default=[],
        metavar="STREAM=COLUMN",
        help="a stream's cursor (repeatable)",
    )
    catalog.add_argument(
        "--primary-key",
        action="append",
        default=[],
        metavar="STREAM=COL[,COL]",
        help="a stream's key (repeatable)",
    )
    catalog.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout")
    catalog.set_defaults(handler=_catalog)


def _catalog(args: argparse.Namespace) -> int:
    from retl_shared.configure import Choices, configured_catalog, discovered_streams
    from retl_shared.errors import ConfigError

    try:
        text = sys.stdin.buffer.read() if args.discover == "-" else Path(args.discover).read_bytes()
        choices = Choices(
            streams=args.stream,
            sync_mode=args.sync_mode,
            destination_sync_mode=args.destination_sync_mode,
            cursors=dict(_pair(item, "--cursor") for item in args.cursor),
            primary_keys={
                name: value.split(",")
                for name, value in (_pair(i, "--primary-key") for i in args.primary_key)
            },
        )
        catalog = configured_catalog(discovered_streams(text), choices)
    except (ConfigError, OSError) as exc:
        print(f"retl: error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    text_out = json.dumps(catalog, indent=2) + "\n"
    if args.output:
        args.output.write_text(text_out)
    else:
        sys.stdout.write(text_out)
    return 0


def _pair(text: str, flag: str) -> tuple[str, str]:
    from retl_shared.errors import ConfigError

    name, _, value = text.partition("=")
    if not name or not value:
        raise ConfigError(f"{flag} takes STREAM=VALUE, not {text!r}")
    return name, value


def _add_airbyte(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`retl airbyte register|apply|sync|status`; handlers live in retl_shared.airbyte.commands."""
    # The connection options go on every subcommand (argparse would let a subcommand's defaults
    # overwrite them if they were on `airbyte` too), so they can follow the subcommand's name.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("Airbyte API (flags win over the environment variables)")
    group.add_argument(
        "--url",
        metavar="URL",
        help="API base: https://api.airbyte.com/v1 (Cloud, the default) or https://HOST/api/public/v1 "
        "(self-managed); env AIRBYTE_API_URL",
    )
    group.add_argument("--workspace", metavar="ID", help="workspace id; env AIRBYTE_WORKSPACE_ID")
    group.add_argument("--client-id", metavar="ID", help="application client id; env AIRBYTE_CLIENT_ID")
    group.add_argument(
        "--client-secret",
        metavar="SECRET",
        help="application client secret; env AIRBYTE_CLIENT_SECRET (preferred: flags show in `ps`)",
    )
    group.add_argument(
        "--token", metavar="TOKEN", help="a bearer token instead of client credentials; env AIRBYTE_TOKEN"
    )

    airbyte = commands.add_parser(
        "airbyte",
        help="register connectors, apply connections from YAML and run syncs through Airbyte's API",
        description="Drive an Airbyte workspace through its Public API. Exit codes: 0 ok, 1 job failed, "
        "2 error (usage, configuration, refused request), 3 job cancelled, 4 timeout, 5 API unavailable.",
    )
    sub = airbyte.add_subparsers(dest="airbyte_command", required=True, metavar="COMMAND")

    register = sub.add_parser(
        "register",
        parents=[common],
        help="create or re-tag our connector definitions in the workspace",
        description="Creates the custom source/destination definitions from the connectors' metadata.yaml, "
        "or updates their image tag; a definition is matched by name.",
    )
    register.add_argument(
        "--tag", metavar="TAG", help="image tag for every definition (default: metadata.yaml's)"
    )
    register.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only this connector (folder, definition name or repository); repeatable",
    )
    register.add_argument("--root", type=Path, metavar="DIR", help="folder holding the connector folders")
    register.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")

    apply = sub.add_parser(
        "apply",
        parents=[common],
        help="create or update sources, destinations and connections from a YAML file",
        description="Prints a plan (create/update/unchanged per resource, secrets masked), then applies it. "
        "${NAME} in the file is replaced by environment variable NAME. See docs/airbyte-api.md.",
    )
    apply.add_argument("file", type=_existing_file, metavar="FILE")
    apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    apply.add_argument(
        "--force",
        action="store_true",
        help="update every existing source and destination (the API masks secrets, so a rotated one "
        "cannot be detected)",
    )

    sync = sub.add_parser(
        "sync",
        parents=[common],
        help="run a connection's sync and follow it to the end",
        description="Triggers a sync job and polls it until it succeeds, fails or is cancelled "
        "(incomplete is followed on: Airbyte retries). Exit 0 succeeded, 1 failed, 3 cancelled, "
        "4 still running at --timeout (the job goes on).",
    )
    sync.add_argument("connection", metavar="CONNECTION", help="connection name or id")
    sync.add_argument(
        "--poll-interval",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds between polls (10)",
    )
    sync.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=3600.0,
        metavar="S",
        help="stop following after S s (3600)",
    )

    status = sub.add_parser(
        "status", parents=[common], help="latest jobs of a connection, or of every connection"
    )
    status.add_argument("connection", nargs="?", metavar="CONNECTION", help="connection name or id")
    status.add_argument(
        "--limit", type=_job_limit, default=5, metavar="N", help="jobs per connection, 1-100 (5)"
    )
    airbyte.set_defaults(handler=_airbyte)


def _airbyte(args: argparse.Namespace) -> int:
    from retl_shared.airbyte.commands import run

    return run(args)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text}")
    return value


def _job_limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 100: {text}")
    return int(text)


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
