"""destination-webhook on bad inputs: each case runs the real console script against the receiver on
127.0.0.1, with the planted secret in every secret field (bearer token, basic password, API key,
header values, signing secrets). ``tests/bad_input.py`` asserts what every bad input must get.

One case a line: the table is data, so its lines are as long as a case is.
"""
# ruff: noqa: E501

from __future__ import annotations

import base64
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from destination_webhook.destination import DestinationWebhook
from tests.bad_input import SECRET, Case, protocol_cases, run_case
from tests.fakes.tls import make_certificates
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, run_destination

SIGNING = "whsec_" + base64.b64encode(SECRET.encode()).decode()  # the secret inside valid base64
BEARER = {"auth_type": "bearer", "token": "{secret}"}
BASIC = {"auth_type": "basic", "username": "user", "password": "{secret}"}
API_KEY = {"auth_type": "api_key", "header": "X-Api-Key", "api_key": "{secret}"}
CATALOG = configured_catalog("contacts", primary_key=["id"])


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UNREACHABLE = f"http://127.0.0.1:{_closed_port()}/hooks"


def settings(auth: dict[str, Any] = BEARER, **changes: Any) -> dict[str, Any]:
    """A valid config holding the secret in every secret field; ``changes`` replace or add settings."""
    return {
        "url": "{url}/hooks",
        "auth": auth,
        "headers": {"X-Extra": "{secret}"},
        "signing_secrets": [SIGNING],
        **changes,
    }


def rec(n: int, **data: Any) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": "contacts", "data": {"id": n, **data}, "emitted_at": 0}}


def state(n: int) -> dict[str, Any]:
    descriptor = {"stream_descriptor": {"name": "contacts"}, "stream_state": {"n": n}}
    return {"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}}


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def echo(status: int, header: str = "Authorization", at: int = 270) -> Any:
    """The receiver refuses with a body echoing ``header`` from character ``at``: placed so that a
    message's excerpt (300 characters, 200 for record refusals) would cut the secret in its middle."""
    return lambda fake: fake.refuse_with_echo(status, header, at)


def inject(status: int, body: Any = None, **headers: str) -> Any:
    return lambda fake: fake.inject(status, body, headers, times=1000)


def self_signed(fake: WebhookReceiver) -> None:
    fake.tls = make_certificates(self_signed=True).context


@dataclass
class WebhookCase(Case):
    delivered: list[int] | None = None  # the record ids the receiver must hold afterwards


TWO = [rec(1), rec(2), state(1)]  # two records and the state after them
HTML = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>nginx</body></html>"


def check(name: str, fragment: str, config: Any, **more: Any) -> WebhookCase:
    """``check`` answers CONNECTION_STATUS FAILED (exit 0)."""
    return WebhookCase(f"check: {name}", "check", fragment, None, config=config, **more)


def discover(name: str, fragment: str, config: Any) -> WebhookCase:
    return WebhookCase(f"discover: {name}", "discover", fragment, config=config)


def write(
    name: str, fragment: str, failure_type: str = "config_error", config: Any = None, **more: Any
) -> WebhookCase:
    """``write`` of the contacts stream, by default two records and a state with a valid config."""
    more.setdefault("stdin", TWO)
    more.setdefault("catalog", CATALOG)
    return WebhookCase(f"write: {name}", "write", fragment, failure_type, config=config or settings(), **more)


def rejected(name: str, fragment: str, record: Any, config: Any = None) -> WebhookCase:
    """One record rejected alone, the others written; one in three is past max_rejected_ratio, so the
    sync fails and the state is withheld."""
    stdin = [rec(1), record, rec(3), state(1)]
    return write(name, fragment, config=config, stdin=stdin, delivered=[1, 3])


CASES = [
    # --- config files and values: check answers FAILED (exit 0), discover and write a config_error
    check("config not JSON", "is not valid JSON", '{"url": '),
    write("config not JSON", "is not valid JSON", config="{secret}"),
    check("config not an object", "must be a JSON object", ["{secret}"]),
    discover("config not an object", "must be a JSON object", "null"),
    check("unknown key", "urll: Extra inputs are not permitted", settings(urll="x")),
    discover("wrong type", "batch_size: Input should be a valid integer", settings(batch_size="ten")),
    write("url missing", "url: Field required", config={"auth": BEARER}),
    check("url not a url", "'not a url' holds a space", settings(url="not a url")),
    check("url without host", "'http://' has no host name", settings(url="http://")),
    discover("url not http", "'ftp://x' is not an http:// or https:// URL", settings(url="ftp://x")),
    write("url not http", "'ftp://x' is not an http:// or https:// URL", config=settings(url="ftp://x")),
    check("url with a password", "'https://****@127.0.0.1/x' holds a user name or password", settings(url="https://user:{secret}@127.0.0.1/x")),
    write("url with a password", "holds a user name or password", config=settings(url="http://user:{secret}@127.0.0.1:1/x")),
    check("templated host", "has no fixed host name", settings(url="https://{{ record.host }}/x")),
    check("stream url templated host", "has no fixed host name", settings(streams=[{"stream": "contacts", "url": "http://{{ record.h }}.x/y"}])),
    check("token with a trailing newline", "token: contains a line break", settings({**BEARER, "token": "{secret}\n"})),
    discover("token with CR-LF", "token: contains a line break", settings({**BEARER, "token": "{secret}\r\n"})),
    write("password with CR-LF", "password: contains a line break", config=settings({**BASIC, "password": "{secret}\r\n"})),
    check("password with a trailing space", "password: contains a space at its start or end", settings({**BASIC, "password": "{secret} "})),
    check("api key with a space", "api_key: contains a space", settings({**API_KEY, "api_key": "{secret} x"})),
    write("api key with a tab", "api_key: contains a control character", config=settings({**API_KEY, "api_key": "{secret}\t"})),
    check("header value with a newline", "headers.X-Extra: contains a line break", settings(headers={"X-Extra": "{secret}\n"})),
    write("header value with a tab", "headers.X-Extra: contains a control character", config=settings(headers={"X-Extra": "a\t{secret}"})),
    check("header name with a colon", "'X-Bad:Name' is not a valid header name", settings(headers={"X-Bad:Name": "{secret}"})),
    discover("api key header name with a space", "'X Api Key' is not a valid header name", settings({**API_KEY, "header": "X Api Key"})),
    check("signing secret not base64", "not whsec_<base64>", settings(signing_secrets=["whsec_{secret}"])),
    discover("signing secret not base64", "not whsec_<base64>", settings(signing_secrets=["whsec_{secret}"])),
    write("signing secret with a newline", "signing_secrets.0: contains a line break", config=settings(signing_secrets=[SIGNING + "\n"])),
    check("bad api_base_url", "'ftp://****' is not an http:// or https:// URL", settings(api_base_url="ftp://{secret}")),
    # --- check: unreachable, untrusted, refusing or redirecting endpoints (no "will retry")
    check("nothing listens", "connection refused", settings(url=UNREACHABLE)),
    check("self-signed certificate", "certificate verify failed: self-signed certificate", settings(), prepare=self_signed),
    check("token refused", "answered HTTP 401: the receiver refused the credentials", settings(), prepare=echo(401)),
    check("basic password refused", "answered HTTP 403: the receiver refused the credentials", settings(BASIC), prepare=echo(403)),
    check("redirect", "redirects are not followed", settings(), prepare=inject(302, None, Location=f"https://127.0.0.1:9/?next={SECRET}")),
    # --- credentials refused while writing, the secret echoed in a long body where excerpts are cut
    write("bearer token refused", "refused the credentials (HTTP 401)", prepare=echo(401)),
    write("basic password refused", "refused the credentials (HTTP 401)", config=settings(BASIC), prepare=echo(401)),
    write("api key refused", "refused the credentials (HTTP 403)", config=settings(API_KEY), prepare=echo(403, "X-Api-Key", 277)),
    write("records refused, header echoed", "HTTP 400: ....", prepare=echo(400, "X-Extra", 177)),
    write("self-signed certificate", "certificate verify failed: self-signed certificate", prepare=self_signed),
    # --- catalogs and protocol lines: a clean stop after the states before them
    *protocol_cases(
        WebhookCase, CATALOG, TWO, after=[rec(3), state(2)], written={"delivered": [1, 2]}, config=settings()
    ),
    # --- records rejected alone
    rejected("record nested 300 levels", "cannot be written as JSON", json.dumps(rec(2, deep=nested(300))).encode()),
    rejected("record larger than max_body_bytes", "the API accepts at most 2046", rec(2, note="x" * 4000), settings(max_body_bytes=2048)),
    rejected("payload template fails for a record", "payload template did not render valid JSON", rec(2, note="oops"), settings(payload_template='{"id": {{ record.id }}, "note": {{ record.get("note", 0) }}}')),
    # --- server answers
    write("404", "answered HTTP 404 (nothing is there", prepare=inject(404, {"error": SECRET})),
    write("405", "answered HTTP 405 (the endpoint does not accept POST", prepare=inject(405)),
    write("410", "answered HTTP 410 (the endpoint is gone", prepare=inject(410)),
    write("413 for every body", "too large (HTTP 413", prepare=lambda fake: setattr(fake, "max_body_bytes", 1)),
    write("500 forever", "Gave up after 7 attempts: HTTP 500", "transient_error", stdin=[rec(1), state(1)], prepare=inject(500, {"error": SECRET}, **{"Retry-After": "0"})),
    write("HTML error page", "502 Bad Gateway", "transient_error", prepare=inject(502, HTML, **{"Retry-After": "0", "Content-Type": "text/html"})),
    write("HTML refusal of the records", "HTTP 400: <html>", prepare=inject(400, HTML, **{"Content-Type": "text/html"})),
    write("redirect", "redirects are not followed", prepare=inject(301, None, Location=f"https://127.0.0.1:9/?token={SECRET}")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case: WebhookCase, tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    if case.prepare is not None:
        case.prepare(receiver)  # switches, TLS included, before it starts
    with receiver:
        outcome = run_case("destination-webhook", case, tmp_path, receiver.url)
        if case.command == "check":  # no sync follows a check for the platform to retry
            assert outcome.status is not None and "will retry" not in outcome.status["message"]
        if case.delivered is not None:
            assert sorted(r["id"] for r in receiver.received_records()) == case.delivered


def test_check_trusts_the_configured_ca(tmp_path: Path) -> None:
    """The counterpart of the untrusted-certificate cases: with the receiver's CA configured, check passes."""
    certificates = make_certificates()
    receiver = WebhookReceiver()
    receiver.tls = certificates.context
    with receiver:
        config = {"url": f"{receiver.url}/hooks", "ca_certificate": certificates.ca_pem}
        run = run_destination(DestinationWebhook, tmp_path, "check", config)
    assert run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"] == "SUCCEEDED"
    assert [request.method for request in receiver.requests] == ["HEAD"]
