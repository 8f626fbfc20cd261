"""destination-customerio on bad inputs: each case runs the real console script against the Customer.io
fake on 127.0.0.1, with the planted secret as the Track API key (site id "site-1", so the Basic auth
header carries the base64 of ``site-1:<secret>``). ``tests/bad_input.py`` asserts what every bad input
must get.

One case a line: the table is data, so its lines are as long as a case is.
"""
# ruff: noqa: E501

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.bad_input import SECRET, Case, protocol_cases, run_case
from tests.fakes.customerio import CustomerIoFake
from tests.fakes.tls import make_certificates
from tests.harness import configured_catalog

PEOPLE = {"stream": "users", "object": "person", "fields": {"user_id": "id"}}
EVENTS = {
    "stream": "orders",
    "object": "event",
    "fields": {"user_id": "id"},
    "static_values": {"name": "purchase"},
}
ACCOUNTS = {
    "stream": "accounts",
    "object": "object",
    "object_type_id": "1",
    "fields": {"account_id": "object_id"},
    "relationship": {"column": "members"},
}
CATALOG = configured_catalog("users")


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UNREACHABLE = f"http://127.0.0.1:{_closed_port()}"


def settings(**changes: Any) -> dict[str, Any]:
    """A valid config holding the secret as the API key; ``changes`` replace or add settings."""
    return {
        "site_id": "site-1",
        "api_key": "{secret}",
        "api_base_url": "{url}",
        "streams": [PEOPLE, EVENTS, ACCOUNTS],
        **changes,
    }


def rec(n: int, stream: str = "users", **data: Any) -> dict[str, Any]:
    key = "account_id" if stream == "accounts" else "user_id"
    return {
        "type": "RECORD",
        "record": {"stream": stream, "data": {key: f"{stream[0]}{n}", **data}, "emitted_at": 0},
    }


def state(n: int, stream: str = "users") -> dict[str, Any]:
    descriptor = {"stream_descriptor": {"name": stream}, "stream_state": {"n": n}}
    return {"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}}


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def echo(status: int, at: int = 262) -> Any:
    """The fake refuses with an error echoing the Basic auth header from character ``at``: placed so
    that a message's excerpt (300 characters) would cut the base64 of ``site-1:<secret>`` in its middle."""
    return lambda fake: fake.refuse_with_echo(status, at)


def inject(status: int, body: Any = None, **headers: str) -> Any:
    return lambda fake: fake.inject(status, body, headers, times=1000)


def self_signed(fake: CustomerIoFake) -> None:
    fake.tls = make_certificates(self_signed=True).context


def other_keys(fake: CustomerIoFake) -> None:
    fake.credentials = {"site-1": "another-key"}


@dataclass
class CustomerIoCase(Case):
    written: list[str] | None = None  # the people and objects the fake must hold afterwards


TWO = [rec(1), rec(2), state(1)]  # two people and the state after them
HTML = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>nginx</body></html>"


def check(name: str, fragment: str, config: Any, **more: Any) -> CustomerIoCase:
    """``check`` answers CONNECTION_STATUS FAILED (exit 0)."""
    return CustomerIoCase(f"check: {name}", "check", fragment, None, config=config, **more)


def discover(name: str, fragment: str, config: Any) -> CustomerIoCase:
    return CustomerIoCase(f"discover: {name}", "discover", fragment, config=config)


def write(
    name: str, fragment: str, failure_type: str = "config_error", config: Any = None, **more: Any
) -> CustomerIoCase:
    """``write`` of the users stream, by default two people and a state with a valid config."""
    more.setdefault("stdin", TWO)
    more.setdefault("catalog", CATALOG)
    return CustomerIoCase(
        f"write: {name}", "write", fragment, failure_type, config=config or settings(), **more
    )


def rejected(name: str, fragment: str, record: Any, stream: str = "users") -> CustomerIoCase:
    """One record rejected alone, the others of its stream written; one in three is past
    max_rejected_ratio, so the sync fails and the state is withheld."""
    stdin = [rec(1, stream), record, rec(3, stream), state(1, stream)]
    written = [f"{stream[0]}1", f"{stream[0]}3"]
    return write(name, fragment, catalog=configured_catalog(stream), stdin=stdin, written=written)


CASES = [
    # --- config files and values: check answers FAILED (exit 0), discover and write a config_error
    check("config not JSON", "is not valid JSON", '{"site_id": '),
    write("config not JSON", "is not valid JSON", config="{secret}"),
    check("config not an object", "must be a JSON object", ["{secret}"]),
    check("unknown key", "apikey: Extra inputs are not permitted", settings(apikey="{secret}")),
    discover("wrong type", "max_concurrency: Input should be a valid integer", settings(max_concurrency="many")),
    check("api key missing", "api_key: Field required", {"site_id": "site-1"}),
    discover("site id missing", "site_id: Field required", {"api_key": "{secret}"}),
    check("unknown region", "region: Input should be 'us' or 'eu'", settings(region="mars")),
    write("unknown region", "region: Input should be 'us' or 'eu'", config=settings(region="EU ")),
    check("api_base_url not a url", "'not a url' holds a space", settings(api_base_url="not a url")),
    check("api_base_url without host", "'http://' has no host name", settings(api_base_url="http://")),
    discover("api_base_url not http", "'ftp://x' is not an http:// or https:// URL", settings(api_base_url="ftp://x")),
    check("api_base_url with a password", "'https://****@127.0.0.1' holds a user name or password", settings(api_base_url="https://site-1:{secret}@127.0.0.1")),
    check("api_base_url templated host", "has no fixed host name", settings(api_base_url="https://{{ record.region }}.example")),
    check("api key with a trailing newline", "api_key: contains a line break", settings(api_key="{secret}\n")),
    discover("api key with CR-LF", "api_key: contains a line break", settings(api_key="{secret}\r\n")),
    write("api key with a trailing space", "api_key: contains a space at its start or end", config=settings(api_key="{secret} ")),
    check("api key with a tab", "api_key: contains a control character", settings(api_key="\t{secret}")),
    check("site id with a newline", "site_id: contains a line break", settings(site_id="site-1\n")),
    # --- check: unreachable, untrusted, refusing or strange answers (no "will retry")
    check("nothing listens", "connection refused", settings(api_base_url=UNREACHABLE)),
    check("self-signed certificate", "certificate verify failed: self-signed certificate", settings(), prepare=self_signed),
    check("api key refused", "rejected the site id / API key (HTTP 401)", settings(), prepare=other_keys),
    check("api key refused, echoed", "rejected the site id / API key (HTTP 403)", settings(), prepare=echo(403)),
    check("region answered 400, echoed", "Is the API base URL a Track API?", settings(), prepare=echo(400)),
    check("region answered 200 not JSON", "not Customer.io's Track API", settings(), prepare=inject(200, HTML, **{"Content-Type": "text/html"})),
    check("wrong region", "set region to 'us'", settings(region="eu")),
    check("500 forever", "Gave up after 7 tries: HTTP 500", settings(), prepare=inject(500, {"error": SECRET}, **{"Retry-After": "0"})),
    check("redirect", "redirects are not followed", settings(), prepare=inject(302, None, Location=f"https://127.0.0.1:9/?key={SECRET}")),
    check("unknown object", "unknown object 'persons' (did you mean 'person'?", settings(streams=[{**PEOPLE, "object": "persons"}])),
    # --- credentials and TLS while writing
    write("api key refused", "rejected the site id / API key (HTTP 401)", prepare=other_keys),
    write("api key refused, echoed", "rejected the site id / API key (HTTP 401)", prepare=echo(401)),
    write("self-signed certificate", "certificate verify failed: self-signed certificate", prepare=self_signed),
    # --- catalogs and protocol lines: a clean stop after the states before them
    write("stream not in the config", "stream 'leads' is in the catalog but has no entry in `streams`", catalog=configured_catalog("users", "leads")),
    *protocol_cases(
        CustomerIoCase, CATALOG, TWO, after=[rec(3), state(2)], written={"written": ["u1", "u2"]}, config=settings()
    ),
    # --- records rejected alone
    rejected("attribute nested 300 levels", "cannot be written as JSON", json.dumps(rec(2, deep=nested(300))).encode()),
    rejected("event data nested 300 levels", "cannot be written as JSON", json.dumps(rec(2, "orders", deep=nested(300))).encode(), "orders"),
    rejected("object identifier", "the match key holds an object", rec(2, user_id={"nested": "id"})),
    rejected("list identifier", "the match key holds a list", rec(2, "orders", user_id=["u2", "u3"]), "orders"),
    rejected("object in a relationship column", "members: holds an object", rec(2, "accounts", members=[{"id": "u1"}]), "accounts"),
    rejected("record larger than an entry may be", "the API accepts at most 32000", rec(2, **{f"a{i}": "x" * 900 for i in range(40)})),
    # --- server answers
    write("404", "answered HTTP 404 (nothing is there", prepare=echo(404, 216)),  # the raw JSON body is cut
    write("405", "answered HTTP 405 (the endpoint does not accept POST", prepare=inject(405)),
    write("410", "answered HTTP 410 (the endpoint is gone", prepare=inject(410)),
    write("413 for every body", "too large (HTTP 413", prepare=inject(413)),
    write("400 echoing the credentials", "HTTP 400: ....", prepare=echo(400)),
    write("500 forever", "Gave up after 7 attempts: HTTP 500", "transient_error", stdin=[rec(1), state(1)], prepare=inject(500, {"error": SECRET}, **{"Retry-After": "0"})),
    write("HTML error page", "502 Bad Gateway", "transient_error", prepare=inject(502, HTML, **{"Retry-After": "0", "Content-Type": "text/html"})),
    write("200 naming failed entries", "not_found: no person has cio_id", config=settings(streams=[{**PEOPLE, "fields": {"user_id": "cio_id"}, "match_key": "cio_id"}]), prepare=lambda fake: setattr(fake, "partial_status", 200), written=[]),
    write("200 not JSON", "not Customer.io's Track API", prepare=inject(200, HTML, **{"Content-Type": "text/html"})),
    write("redirect", "redirects are not followed", prepare=inject(307, None, Location=f"https://127.0.0.1:9/?key={SECRET}")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case: CustomerIoCase, tmp_path: Path) -> None:
    fake = CustomerIoFake(credentials={"site-1": SECRET})
    if case.prepare is not None:
        case.prepare(fake)  # switches, TLS included, before it starts
    with fake:
        outcome = run_case("destination-customerio", case, tmp_path, fake.url)
        if case.command == "check":  # no sync follows a check for the platform to retry
            assert outcome.status is not None and "will retry" not in outcome.status["message"]
        if case.written is not None:
            people = [person.id or "" for person in fake.people.values()]
            assert sorted(people + [key[1] for key in fake.objects]) == case.written
