"""destination-clarify on bad inputs, through its console script against the Clarify fake (see
tests/bad_input.py for what every case must get). The planted secret is the API key.

One case per line; the config problems at the top run through check, discover and write each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from destination_clarify.destination import DestinationClarify
from tests.bad_input import SECRET, Case, fill, protocol_cases, run_case
from tests.fakes.clarify import DEFAULT_SLUG, ClarifyFake
from tests.fakes.tls import make_certificates
from tests.harness import configured_catalog, run_destination

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
PEOPLE = {"stream": "people", "object": "person", "fields": {"email": "email_addresses"}}
COMPANIES = {"stream": "companies", "object": "company", "fields": {"domain": "domains"}}
CATALOG = configured_catalog("people")
BOTH = configured_catalog("people", "companies")
# A refused key's detail quotes the Authorization header 457 characters in: Clarify's reason is
# "Unauthorized: " + detail, cut at 500 characters, so a cut before masking would end inside the key
# (after "api-key "), past its distinctive part.
ECHO = 457


def config(*streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "workspace_slug": DEFAULT_SLUG,
        "api_key": "{secret}",
        "api_base_url": "{url}",
        "requests_per_second": 100,  # the default (2) would make every case wait on the limiter
        "streams": list(streams),
        **extra,
    }


def row(stream: str, **data: Any) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}}


def person(email: Any, **data: Any) -> dict[str, Any]:
    return row("people", email=email, **data)


def state(n: int, stream: str = "people") -> dict[str, Any]:
    descriptor = {"stream_descriptor": {"name": stream}, "stream_state": {"n": n}}
    return {"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}}


def deep_person(email: str, depth: int) -> bytes:
    """A RECORD whose `name` is a list nested `depth` levels deep (orjson reads 1024, writes 254)."""
    value = b"[" * depth + b"]" * depth
    data = b'{"email":"' + email.encode() + b'","name":' + value + b"}"
    return b'{"type":"RECORD","record":{"stream":"people","data":' + data + b',"emitted_at":0}}'


GOOD = [person("a@x.com", name="A"), state(1)]


# --- fake switches, applied before the fake starts ---------------------------------------------------


def answer(status: int, body: Any = None, path: str = ".*", times: int = 1, **headers: str) -> Any:
    def prepare(fake: ClarifyFake) -> None:
        fake.inject(status, body, {k.replace("_", "-"): v for k, v in headers.items()}, times, path)

    return prepare


def then(*steps: Any) -> Any:
    def prepare(fake: ClarifyFake) -> None:
        for step in steps:
            step(fake)

    return prepare


def self_signed(fake: ClarifyFake) -> None:
    fake.tls = make_certificates(self_signed=True).context


def existing_person(fake: ClarifyFake) -> None:
    fake.add_record("person", {"email_addresses": ["a@x.com"], "name": "Old"})


BULK = r".*/objects/person/records/bulk"
SCHEMAS = r".*/schemas"
FOREVER = 1000
HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
)
GARBAGE = f"<html>Welcome to the hotel network. Session {SECRET}</html>"
REFUSED = {
    "errors": [
        {"status": "403", "title": "Forbidden", "detail": f"{'.' * ECHO}api-key {SECRET} lacks access"}
    ]
}


@dataclass
class ClarifyCase(Case):
    fake: dict[str, Any] = field(default_factory=dict)  # ClarifyFake switches (api_keys, upsert, echo…)
    written: int | None = None  # people the fake holds afterwards


def each_command(
    name: str,
    config_: Any,
    fragment: str,
    commands: tuple[str, ...] = ("check", "discover", "write"),
    **fake: Any,
) -> list[ClarifyCase]:
    """A config problem through check (CONNECTION_STATUS FAILED), discover and write (config_error)."""
    cases = {
        "check": ClarifyCase(f"{name}-check", "check", fragment, None, config_, fake=fake),
        "discover": ClarifyCase(f"{name}-discover", "discover", fragment, config=config_, fake=fake),
        "write": ClarifyCase(
            f"{name}-write", "write", fragment, config=config_, catalog=CATALOG, stdin=GOOD, fake=fake
        ),
    }
    return [cases[command] for command in commands]


MAPPING = ("check", "write")  # discover lists every object whatever the mapping says


CONFIG_CASES = [
    *each_command("config_not_json", '{"api_key": "{secret}"', "is not valid JSON"),
    *each_command("config_not_object", '"{secret}"', "The config must be a JSON object of settings"),
    *each_command("unknown_key", config(PEOPLE, apikey="{secret}"), "apikey: Extra inputs are not permitted"),
    *each_command("wrong_type", config(requests_per_second="fast"), "requests_per_second: Input should be"),
    *each_command(
        "no_api_key", {"workspace_slug": "acme", "api_base_url": "{url}"}, "api_key: Field required"
    ),
    *each_command(
        "no_slug", {"api_key": "{secret}", "api_base_url": "{url}"}, "workspace_slug: Field required"
    ),
    *each_command(
        "slug_a_url",
        config(workspace_slug="https://app.clarify.ai/workspaces/acme"),
        "is not a workspace slug: use only the part after /workspaces/",
    ),
    *each_command(
        "url_not_a_url", config(api_base_url="not a url"), "'not a url' holds a space or line break"
    ),
    *each_command("url_without_host", config(api_base_url="http://"), "'http://' has no host name"),
    *each_command("url_ftp", config(api_base_url="ftp://x"), "'ftp://x' is not an http:// or https:// URL"),
    *each_command(
        "url_with_password",
        config(api_base_url="https://me:pw-CANARY@x.test"),
        "'https://****@x.test' holds a user name or password",
    ),
    *each_command(
        "key_with_newline", config(api_key="{secret}\n"), "api_key: contains a line break: paste it"
    ),
    *each_command(
        "key_with_crlf", config(api_key="{secret}\r\n"), "api_key: contains a line break: paste it"
    ),
    *each_command(
        "key_with_space", config(api_key=" {secret}"), "api_key: contains a space at its start or end"
    ),
    *each_command(
        "key_refused",
        config(PEOPLE),
        "Clarify refused the API key (HTTP 401",
        api_keys=(),
        echo_credentials=ECHO,
    ),
    *each_command(
        "unknown_workspace", config(PEOPLE, workspace_slug="acne"), "workspace slug not found ('acne')"
    ),
]

MAPPING_CASES = [
    *each_command("unknown_object", config({**PEOPLE, "object": "persn"}), "did you mean 'person'?", MAPPING),
    *each_command(
        "unknown_field",
        config({**PEOPLE, "fields": {"email": "email_adresses"}}),
        "email_adresses (closest: email_addresses",
        MAPPING,
    ),
    ClarifyCase(
        "stream_without_mapping",
        "write",
        "stream 'companies' is in the catalog but has no entry in `streams`",
        config=config(PEOPLE),
        catalog=BOTH,
        stdin=GOOD,
    ),
]

REACH_CASES = [
    ClarifyCase(
        "unreachable-check", "check", "cannot connect to 127.0.0.1:9", None, config(api_base_url=UNREACHABLE)
    ),
    ClarifyCase(
        "self_signed-check", "check", "self-signed certificate", None, config(PEOPLE), prepare=self_signed
    ),
    ClarifyCase(
        "self_signed-write",
        "write",
        "self-signed certificate",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=self_signed,
    ),
    ClarifyCase(
        "key_without_access",
        "write",
        "Clarify refused the API key access to this workspace (HTTP 403",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(403, REFUSED, BULK),
        written=0,
    ),
]

INPUT_CASES = [
    *protocol_cases(ClarifyCase, CATALOG, GOOD, written={"written": 1}, config=config(PEOPLE)),
    ClarifyCase(
        "record_nested_300_deep",
        "write",
        "name: the value is nested more than 254 levels deep",
        config=config({**PEOPLE, "fields": {"email": "email_addresses", "name": "name"}}),
        catalog=CATALOG,
        stdin=[
            person("a@x.com", name="A"),
            deep_person("deep@x.com", 300),
            person("c@x.com", name="C"),
            state(1),
        ],
        written=2,
    ),
    ClarifyCase(
        "email_an_object",
        "write",
        "email_addresses: the match key holds a list or an object, not one value",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=[person("a@x.com"), person({"nested": "b@x.com"}), person("c@x.com"), state(1)],
        written=2,
    ),
    ClarifyCase(
        "email_a_list_of_objects",
        "write",
        "email_addresses: the match key holds a list or an object, not one value",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=[person("a@x.com"), person(["b@x.com", {"x": 1}]), person("c@x.com"), state(1)],
        written=2,
    ),
    ClarifyCase(
        "value_too_large_for_the_gateway",
        "write",
        "Payload Too Large",  # 413: split until the one record stands alone, rejected with the reason
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=[person("a@x.com"), person("b@x.com", name="x" * 200_000), person("c@x.com"), state(1)],
        fake={"max_body_bytes": 100_000},
        written=2,
    ),
]

ANSWER_CASES = [
    ClarifyCase(
        "bulk_404",
        "write",
        "answered HTTP 404 (nothing is there: check the URL",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(404, path=BULK),
        written=0,
    ),
    ClarifyCase(
        "bulk_405",
        "write",
        "answered HTTP 405 (the endpoint does not accept POST",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(405, path=BULK),
        written=0,
    ),
    ClarifyCase(
        "bulk_500_forever",
        "write",
        "Gave up after 7 attempts: HTTP 500",
        "transient_error",
        config(PEOPLE, COMPANIES),
        catalog=BOTH,
        stdin=[*GOOD, row("companies", domain="x.com", name="X"), state(2, "companies")],
        states=1,  # the people's state: its records were written
        prepare=answer(500, path=".*/company/records/bulk", times=FOREVER, Retry_After="0"),
        written=1,
    ),
    ClarifyCase(
        "bulk_html_error_page",
        "write",
        "HTTP 502 from POST",
        "transient_error",
        config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(502, HTML, BULK, FOREVER, Retry_After="0", Content_Type="text/html"),
    ),
    ClarifyCase(
        "bulk_200_not_json",
        "write",
        "answered HTTP 200 with a body that is not JSON",
        "transient_error",
        config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(200, GARBAGE, BULK),
    ),
    ClarifyCase(
        "create_answered_200_not_json",
        "write",
        "outcome unknown: sent, no answer (POST",  # a create that may have taken effect is never resent
        config=config({**PEOPLE, "operation": "create"}),
        catalog=configured_catalog("people", sync_mode="append"),
        stdin=GOOD,
        prepare=answer(200, GARBAGE, BULK),
    ),
    ClarifyCase(
        "bulk_redirect",
        "write",
        "redirects (HTTP 307) to http://127.0.0.1:9/elsewhere",
        config=config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(307, path=BULK, Location="http://127.0.0.1:9/elsewhere"),
        written=0,
    ),
    ClarifyCase(
        "schemas_not_json-check",
        "check",
        "/schemas answered HTTP 200 with a body that is not JSON",
        None,
        config(PEOPLE),
        prepare=answer(200, GARBAGE, SCHEMAS),
    ),
    ClarifyCase(
        "schemas_not_json-discover",
        "discover",
        "answered HTTP 200 with a body that is not JSON",
        "transient_error",
        config(),
        prepare=answer(200, GARBAGE, SCHEMAS),
    ),
    ClarifyCase(
        "schemas_unexpected_shape",  # JSON of another layout: retrying would not change it
        "write",
        "GET /schemas answered in a layout this destination does not read",
        "config_error",
        config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(200, {"data": {"core/person": {"properties": ["email_addresses", SECRET]}}}, SCHEMAS),
    ),
    ClarifyCase(
        "lookup_200_not_json",
        "write",
        "answered HTTP 200 with a body that is not JSON",
        "transient_error",
        config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        fake={"upsert": "reject"},  # a duplicate is refused: the sink looks the person up
        prepare=then(existing_person, answer(200, GARBAGE, r".*/objects/person/resources")),
    ),
    ClarifyCase(
        "lookup_unexpected_shape",
        "write",
        "`data` that is not a list of records with an id each",
        "transient_error",
        config(PEOPLE),
        catalog=CATALOG,
        stdin=GOOD,
        fake={"upsert": "reject"},
        prepare=then(
            existing_person, answer(200, {"data": [{"attributes": SECRET}]}, r".*/person/resources")
        ),
    ),
]

CASES = CONFIG_CASES + MAPPING_CASES + REACH_CASES + INPUT_CASES + ANSWER_CASES


def run(case: ClarifyCase, tmp_path: Path) -> ClarifyFake:
    fake = ClarifyFake(**{"api_keys": (SECRET,), **case.fake})
    if case.prepare is not None:
        case.prepare(fake)
    with fake:
        run_case("destination-clarify", case, tmp_path, fake.url)
    return fake


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case: ClarifyCase, tmp_path: Path) -> None:
    fake = run(case, tmp_path)
    if case.written is not None:
        assert len(fake.records("person")) == case.written


def test_schemas_in_the_list_layout_are_read_too(make_clarify_fake: Any, tmp_path: Path) -> None:
    """The other layout of `GET /schemas` in Clarify's material is an answer to read, not a garbled one."""
    fake = make_clarify_fake(schemas_layout="list", api_keys=(SECRET,))
    lines = [orjson.dumps(line) for line in GOOD]
    done = run_destination(
        DestinationClarify, tmp_path, "write", fill(config(PEOPLE), fake.url), CATALOG, lines
    )
    assert done.error is None and len(done.states) == 1
    assert fake.find("person", "email_addresses", "a@x.com") is not None


def test_the_table_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 28
    assert len({case.name for case in CASES}) == len(CASES)
