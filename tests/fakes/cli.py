"""`python -m tests.fakes.<vendor>`: one fake in the foreground on a fixed port, optionally seeded.

Each vendor module's `main()` builds its parser with `parser()`, adds its own options, and hands the fake
to `serve()`, which loads the seed file, adds the inspection route, binds and prints one line.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from tests.fakes.server import Handler, Reply, Request

INSPECT_PATH = "/_fake/contents"


class Seedable(Protocol):
    """A fake that can start with data (`load_seed`) and show what it holds (`contents`), both in its
    documented seed shape."""

    @property
    def url(self) -> str: ...

    def load_seed(self, seed: Mapping[str, Any]) -> None: ...

    def contents(self) -> dict[str, Any]: ...

    def route(self, method: str, path_regex: str, handler: Handler) -> None: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...


def parser(vendor: str, port: int, description: str, seed_shape: str) -> argparse.ArgumentParser:
    """The options every fake takes: --port and --seed."""
    cli = argparse.ArgumentParser(
        prog=f"python -m tests.fakes.{vendor}",
        description=f"{description} GET {INSPECT_PATH} answers what the fake holds, in the seed's shape.",
    )
    cli.add_argument(
        "--port", type=int, default=port, help=f"port on 127.0.0.1 (default {port}; 0 picks a free one)"
    )
    cli.add_argument(
        "--seed", type=Path, metavar="FILE", help=f"JSON file the fake starts with: {seed_shape}"
    )
    return cli


def serve(
    fake: Seedable, cli: argparse.ArgumentParser, args: argparse.Namespace, title: str, credentials: str
) -> int:
    """Seed, serve until Ctrl-C or SIGTERM; exit 2 with a reason when the seed or the port is unusable."""
    if args.seed is not None:
        try:
            seed = json.loads(args.seed.read_text())
            if not isinstance(seed, dict):
                raise ValueError("it is not a JSON object")
            fake.load_seed(seed)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            cli.error(f"cannot load the seed {args.seed}: {exc}")

    def inspect(request: Request) -> Reply:
        return 200, fake.contents()

    fake.route("GET", INSPECT_PATH, inspect)
    try:
        fake.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        cli.error(f"port {args.port} on 127.0.0.1 is in use: stop what listens there, or pass another --port")
    signal.signal(signal.SIGTERM, _interrupt)
    seeded = f"; seeded from {args.seed}" if args.seed is not None else ""
    print(
        f"{title} on {fake.url} ({credentials}{seeded}). What it holds: GET {INSPECT_PATH}. "
        f"Stop: Ctrl-C or kill {os.getpid()}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        fake.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (kill, or a shell ending a background job) stops the fake like Ctrl-C does."""
    raise KeyboardInterrupt
