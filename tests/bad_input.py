"""Bad inputs, run through the real console scripts with a planted secret: one line of data per case.

Each connector's ``tests/<connector>/test_bad_input.py`` holds a table of ``Case``s and calls
``run_case``, which runs ``<console script> <command>`` on the case's files and stdin exactly as the
platform does, then asserts what every bad input must get:

- the expected exit code, and the expected ``failure_type`` (a TRACE error) or a CONNECTION_STATUS
  FAILED (``check`` answers that for every config problem, exit 0);
- a message fragment that names the fix;
- only protocol JSON on stdout;
- no STATE past the records the case says were written (``states``);
- no form of the planted secret anywhere in stdout or stderr: as typed, cut, escaped, URL-encoded, or
  base64 (alone or in a ``user:secret`` pair).

Strings in a case's config, catalog, state and stdin may hold ``{url}`` (the case's fake server) and
``{secret}`` (the planted secret); they are filled in at run time.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from tests.harness import BIN

# Distinctive, so that any piece of it in the output is found; every secret field of a case holds it.
SECRET = "SECRET-CANARY-7f3a9c1e5b2d"
MARKER = "CANARY"
PROTOCOL_TYPES = {
    "RECORD",
    "STATE",
    "LOG",
    "TRACE",
    "SPEC",
    "CONNECTION_STATUS",
    "CATALOG",
    "DESTINATION_CATALOG",
}


@dataclass
class Case:
    """One bad input. ``config``, ``catalog`` and ``state`` are JSON values written to files (a ``str`` is
    written as it is: malformed files); ``stdin`` lines are bytes or JSON values."""

    name: str
    command: str
    fragment: str  # a piece of the message that says what to fix
    failure_type: str | None = "config_error"  # None: check's CONNECTION_STATUS FAILED
    config: Any = None
    catalog: Any = None
    state: Any = None
    stdin: list[Any] = field(default_factory=list)
    exit_code: int | None = None  # default: 0 for check, 1 otherwise
    states: int = 0  # STATE messages allowed out (those whose records were written)
    # switches on the fake (e.g. inject a 404); the connector's module applies it before running the case
    prepare: Callable[[Any], None] | None = None
    extra_args: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.name


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.messages if m["type"] == "STATE"]

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [
            m["trace"]["error"]
            for m in self.messages
            if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"
        ]
        return errors[-1] if errors else None

    @property
    def status(self) -> dict[str, Any] | None:
        found = [m["connectionStatus"] for m in self.messages if m["type"] == "CONNECTION_STATUS"]
        return found[0] if found else None


C = TypeVar("C", bound=Case)


def protocol_cases(
    case: Callable[..., C],
    catalog: dict[str, Any],
    before: list[Any],
    after: list[Any] | None = None,
    written: dict[str, Any] | None = None,
    **common: Any,
) -> list[C]:
    """What every destination's ``write`` answers alike: a configured catalog that is not JSON, that is
    ``discover`` output, or that names an unknown destination sync mode (config errors, nothing sent);
    then lines that are not Airbyte messages after ``before`` (records and the state after them: those
    are written and that state leaves, then the sync stops cleanly, a platform or source fault:
    ``system_error``) and before ``after``.

    ``case`` builds one (the destination's Case class, or a function of the same signature); ``written``
    holds the destination's own expectation of what the records of ``before`` left in its fake;
    ``common`` the rest (its config, its fake's switches).
    """
    configured = catalog["streams"][0]
    stream = configured["stream"]["name"]
    unconfigured = {
        "streams": [{"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh"]}]
    }
    position = len(before) + 1
    bad_lines = [
        ("not_json", b"{not json", "invalid JSON"),
        (
            "without_type",
            {"record": {"stream": stream, "data": {}}},
            'expected a JSON object with a "type" field',
        ),
        (
            "record_data_a_list",
            {"type": "RECORD", "record": {"stream": stream, "data": [1]}},
            "a RECORD needs",
        ),
        (
            "state_a_string",
            {"type": "STATE", "state": "{secret}"},
            'a STATE needs "state": {...} as an object',
        ),
        (
            "unknown_stream",
            {"type": "RECORD", "record": {"stream": "orders", "data": {}, "emitted_at": 0}},
            "stream 'orders' is not in the configured catalog",
        ),
    ]
    return [
        case("catalog_not_json", "write", "is not valid JSON", catalog="{streams", stdin=before, **common),
        case(
            "catalog_is_discover_output",
            "write",
            "is a stream of `discover` output",
            catalog=unconfigured,
            stdin=before,
            **common,
        ),
        case(
            "catalog_unknown_sync_mode",
            "write",
            "destination_sync_mode is 'upsert'; it must be one of",
            catalog={"streams": [{**configured, "destination_sync_mode": "upsert"}]},
            stdin=before,
            **common,
        ),
        *[
            case(
                f"line_{name}",
                "write",
                f"Stopped at line {position} is not a valid Airbyte message: {fragment}",
                "system_error",
                catalog=catalog,
                stdin=[*before, line, *(after or [])],
                states=1,
                **(written or {}),
                **common,
            )
            for name, line, fragment in bad_lines
        ],
    ]


def fill(value: Any, url: str) -> Any:
    """``{url}`` and ``{secret}`` filled in, through strings, lists and objects."""
    if isinstance(value, str):
        return value.replace("{url}", url).replace("{secret}", SECRET)
    if isinstance(value, list):
        return [fill(item, url) for item in value]
    if isinstance(value, dict):
        return {fill(key, url): fill(item, url) for key, item in value.items()}
    return value


def _file(path: Path, value: Any) -> str:
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def run_case(script: str, case: Case, tmp_path: Path, url: str = "http://127.0.0.1:9") -> Outcome:
    """Run the console script on the case and assert everything a bad input must get."""
    argv = [str(BIN / script), case.command]
    if case.config is not None:
        argv += ["--config", _file(tmp_path / "config.json", fill(case.config, url))]
    if case.catalog is not None:
        argv += ["--catalog", _file(tmp_path / "catalog.json", fill(case.catalog, url))]
    if case.state is not None:
        argv += ["--state", _file(tmp_path / "state.json", fill(case.state, url))]
    argv += case.extra_args
    lines = [fill(line, url) for line in case.stdin]
    stdin = b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines)
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=120)
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    messages = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AssertionError(
                f"stdout holds a line that is not a protocol message: {line[:200]!r}"
            ) from None
        assert isinstance(message, dict) and message.get("type") in PROTOCOL_TYPES, line[:200]
        messages.append(message)
    outcome = Outcome(done.returncode, stdout, stderr, messages)

    assert_no_secret(stdout, "stdout")
    assert_no_secret(stderr, "stderr")
    expected_code = case.exit_code if case.exit_code is not None else (0 if case.command == "check" else 1)
    assert outcome.code == expected_code, (
        f"exit {outcome.code}, expected {expected_code}: {stdout[-600:]}{stderr[-600:]}"
    )
    if case.failure_type is None:
        assert outcome.status is not None and outcome.status["status"] == "FAILED", stdout[-600:]
        message = outcome.status.get("message", "")
    else:
        assert outcome.error is not None, f"no TRACE error: {stdout[-600:]}{stderr[-600:]}"
        assert outcome.error["failure_type"] == case.failure_type, outcome.error
        message = outcome.error["message"]
    assert case.fragment in message, f"{case.fragment!r} not in {message!r}"
    assert len(outcome.states) <= case.states, f"{len(outcome.states)} states out: {outcome.states}"
    return outcome


def secret_forms(secret: str = SECRET, users: tuple[str, ...] = ("", "site-1", "user")) -> list[str]:
    """Pieces of the secret's encodings that must never show: 12-character windows of its base64 (alone
    and after a ``user:``), and the distinctive marker (which also shows through cuts, escapes and
    URL-encoding, since those keep its letters)."""
    pieces = {MARKER}
    for user in users:
        encoded = base64.b64encode(f"{user}:{secret}".encode() if user else secret.encode()).decode()
        # from the first character that depends only on the secret's bytes
        start = (len(user) + 1) // 3 * 4 + 4 if user else 0
        pieces |= {encoded[i : i + 12] for i in range(start, len(encoded) - 12, 4)}
    return sorted(pieces)


def assert_no_secret(text: str, where: str) -> None:
    for piece in secret_forms():
        assert piece not in text, (
            f"a form of the secret ({piece!r}) reached {where}: …{_around(text, piece)}…"
        )


def _around(text: str, piece: str) -> str:
    at = text.index(piece)
    return text[max(0, at - 80) : at + 80]
