"""Handlers behind `retl airbyte ...` (the parser is `_add_airbyte` in retl_shared.cli).

Every line printed goes through one Redactor that knows the client secret, every access token
fetched and every secret the YAML file took from the environment, so secrets cannot reach a
terminal or a CI log even inside an error message echoed from the API.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from retl_shared.airbyte import apply, jobs, register
from retl_shared.airbyte.client import AirbyteError, Client, ExitCode, Settings
from retl_shared.redaction import Redactor


class Output:
    """Results to stdout, progress and errors to stderr, both redacted. Streams are looked up per
    call, so a caller that swaps sys.stdout (tests, tools) gets the output."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def say(self, text: str) -> None:
        print(self.redactor.redact(text), file=sys.stdout, flush=True)

    def note(self, text: str) -> None:
        print(self.redactor.redact(text), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    redactor = Redactor()
    output = Output(redactor)
    handler = COMMANDS[args.airbyte_command]
    try:
        return int(handler(args, redactor, output))
    except AirbyteError as exc:
        output.note(f"retl airbyte: error: {exc}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        output.note("retl airbyte: interrupted")
        return int(ExitCode.INTERRUPTED)


def _client(args: argparse.Namespace, redactor: Redactor, workspace: str | None = None) -> Client:
    settings = Settings.resolve(
        url=args.url,
        workspace_id=args.workspace or workspace,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token=args.token,
    )
    return Client(settings, redactor)


def register_command(args: argparse.Namespace, redactor: Redactor, output: Output) -> ExitCode:
    connectors = register.select(
        register.read_connectors(args.root or register.default_root()), args.only, args.tag
    )
    client = _client(args, redactor)
    changes = register.plan(client, connectors)
    output.say(f"Definitions in workspace {client.settings.workspace()}:")
    for change in changes:
        output.say(change.describe())
    counts = {a: sum(c.action == a for c in changes) for a in ("create", "update", "unchanged")}
    if args.dry_run:
        output.say("Dry run: nothing changed.")
        return ExitCode.OK
    register.execute(client, changes)
    output.say(
        f"Done: {counts['create']} created, {counts['update']} updated, {counts['unchanged']} unchanged."
    )
    return ExitCode.OK


def apply_command(args: argparse.Namespace, redactor: Redactor, output: Output) -> ExitCode:
    spec = apply.load(args.file, os.environ, redactor)
    client = _client(args, redactor, workspace=spec.workspace_id)
    plan = apply.plan(client, spec, force=args.force)
    for line in plan.describe():
        output.say(line)
    if args.dry_run:
        output.say("Dry run: nothing changed.")
        return ExitCode.OK
    apply.execute(client, plan, output.say)
    output.say(f"Applied: {plan.summary(done=True)}.")
    return ExitCode.OK


def sync_command(args: argparse.Namespace, redactor: Redactor, output: Output) -> ExitCode:
    return jobs.sync(
        _client(args, redactor),
        args.connection,
        poll_interval=args.poll_interval,
        timeout=args.timeout,
        say=output.say,
        note=output.note,
    )


def status_command(args: argparse.Namespace, redactor: Redactor, output: Output) -> ExitCode:
    return jobs.status(_client(args, redactor), args.connection, limit=args.limit, say=output.say)


COMMANDS: dict[str, Callable[[argparse.Namespace, Redactor, Output], ExitCode]] = {
    "register": register_command,
    "apply": apply_command,
    "sync": sync_command,
    "status": status_command,
}
