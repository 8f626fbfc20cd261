"""How the destinations' console scripts end (``retl_shared.console.run_console``): the command's exit
code and output intact, only the interpreter's last garbage collection left out."""

from __future__ import annotations

import subprocess
import sys

import pytest


def console(body: str) -> subprocess.CompletedProcess[str]:
    script = f"from retl_shared.console import run_console\ndef main():\n{body}\nrun_console(main)\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("body", "code", "stderr"),
    [
        ("    return 0", 0, ""),
        ("    return 3", 3, ""),
        ("    return None", 0, ""),
        ("    raise SystemExit(2)", 2, ""),  # argparse's usage errors
        ("    raise SystemExit('usage: say what to fix')", 1, "usage: say what to fix\n"),
    ],
)
def test_the_exit_code_is_the_commands(body: str, code: int, stderr: str) -> None:
    done = console(body)
    assert (done.returncode, done.stderr) == (code, stderr)


def test_buffered_output_and_atexit_handlers_still_run() -> None:
    body = (
        "    import atexit, sys\n"
        "    atexit.register(lambda: print('at exit'))\n"
        "    sys.stdout.write('unflushed')"
    )
    done = console(body)
    assert (done.returncode, done.stdout) == (0, "unflushedat exit\n")
