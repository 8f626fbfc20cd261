"""How the destinations' console scripts end."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import NoReturn


def run_console(main: Callable[[], int | None]) -> NoReturn:
    """Run a connector's command and exit with its code, leaving out the interpreter's last cleanup.

    At exit the interpreter tears every module down and its garbage collector frees, one by one, the
    cycles they leave (classes, functions and their globals, pydantic's validators): about 0.08 s of
    every ``spec``, ``check`` and ``write`` process on the 2-core machine, for memory the process hands
    back whole a moment later. Frozen objects are out of the collector's reach, so that work is skipped;
    everything else about exiting is unchanged (atexit handlers, flushing stdout and stderr, objects
    freed by their reference count, such as open files). Only for the process's last moment: a frozen
    object is never collected. Not for the source: DuckDB's binding (nanobind) checks at exit that
    its objects were freed, and would report every frozen one as a leak on stderr.
    """
    try:
        code: int | str | None = main()
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    gc.freeze()
    sys.exit(code)
