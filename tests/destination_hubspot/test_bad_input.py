"""destination-hubspot on bad inputs, through its console script against the HubSpot fake (see
tests/bad_input.py for what every case must get). The planted secret is in every secret field: the
private app's access token and the OAuth app's client secret and refresh token.

One case per line; the config problems at the top run through check, discover and write each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.bad_input import SECRET, Case, protocol_cases, run_case
from tests.destination_hubspot.conftest import legacy_calls
from tests.fakes.hubspot import DEFAULT_CLIENT_ID, HubSpotFake, OAuthApp, all_scopes
from tests.fakes.tls import make_certificates
from tests.harness import configured_catalog

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
PRIVATE_APP = {"auth_type": "private_app", "access_token": "{secret}"}
SERVICE_KEY = {"auth_type": "service_key", "service_key": "{secret}"}
OAUTH = {
    "auth_type": "oauth",
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": "{secret}",
    "refresh_token": "{secret}",
}
CONTACTS = {"stream": "contacts", "object": "contacts", "fields": {"name": "firstname"}}
COMPANIES = {"stream": "companies", "object": "companies", "match_key": "external_id"}
LINKED = {**CONTACTS, "associations": [{"to_object": "companies", "column": "org", "to_property": "domain"}]}
CATALOG = configured_catalog("contacts")
BOTH = configured_catalog("contacts", "companies")
# A server echoing the credentials 272 characters into its message: an excerpt cut at 300 characters
# before masking would end inside the secret, after its distinctive part.
ECHO_IN_MESSAGE = 272
# The token endpoint's answer is quoted as a whole body: `{"status": "BAD_REFRESH_TOKEN", "message": "`
# comes first (44 characters).
ECHO_IN_BODY = ECHO_IN_MESSAGE - 44


def config(*streams: dict[str, Any], credentials: Any = PRIVATE_APP, **extra: Any) -> dict[str, Any]:
    return {"credentials": credentials, "api_base_url": "{url}", "streams": list(streams), **extra}


def row(stream: str, **data: Any) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}}


def record(email: Any, **data: Any) -> dict[str, Any]:
    return row("contacts", email=email, **data)


def state(n: int, stream: str = "contacts") -> dict[str, Any]:
    descriptor = {"stream_descriptor": {"name": stream}, "stream_state": {"n": n}}
    return {"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}}


def deep_record(email: str, depth: int) -> bytes:
    """A RECORD whose `name` is a list nested `depth` levels deep (orjson reads 1024, writes 254)."""
    value = b"[" * depth + b"]" * depth
    data = b'{"email":"' + email.encode() + b'","name":' + value + b"}"
    return b'{"type":"RECORD","record":{"stream":"contacts","data":' + data + b',"emitted_at":0}}'


GOOD = [record("a@x.com", name="A"), state(1)]
THREE = [record("a@x.com", name="A"), record("b@x.com", name="B"), record("c@x.com", name="C"), state(1)]


# --- fake switches, applied before the fake starts ---------------------------------------------------


def answer(status: int, body: Any = None, path: str = ".*", times: int = 1, **headers: str) -> Any:
    def prepare(fake: HubSpotFake) -> None:
        fake.inject(status, body, {k.replace("_", "-"): v for k, v in headers.items()}, times, path)

    return prepare


def then(*steps: Any) -> Any:
    def prepare(fake: HubSpotFake) -> None:
        for step in steps:
            step(fake)

    return prepare


def company_ids(fake: HubSpotFake) -> None:
    fake.add_property("companies", "external_id", "string", has_unique_value=True)


def self_signed(fake: HubSpotFake) -> None:
    fake.tls = make_certificates(self_signed=True).context


BATCH = r".*/batch/upsert"
TOKEN = r"/oauth/2026-09/token"
FOREVER = 1000
HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
)
GARBAGE = f"<html>Welcome to the hotel network. Session {SECRET}</html>"


@dataclass
class HubSpotCase(Case):
    fake: dict[str, Any] = field(default_factory=dict)  # HubSpotFake switches (tokens, oauth_apps, echo…)
    written: int | None = None  # contacts the fake holds afterwards


def each_command(name: str, config_: Any, fragment: str, **fake: Any) -> list[HubSpotCase]:
    """A config problem through check (CONNECTION_STATUS FAILED), discover and write (config_error)."""
    return [
        HubSpotCase(f"{name}-check", "check", fragment, None, config_, fake=fake),
        HubSpotCase(f"{name}-discover", "discover", fragment, config=config_, fake=fake),
        HubSpotCase(
            f"{name}-write", "write", fragment, config=config_, catalog=CATALOG, stdin=GOOD, fake=fake
        ),
    ]


CONFIG_CASES = [
    *each_command("config_not_json", '{"credentials": {"access_token": "{secret}"', "is not valid JSON"),
    *each_command("config_not_object", '["{secret}"]', "The config must be a JSON object of settings"),
    *each_command("unknown_key", config(CONTACTS, acces_token="{secret}"), "acces_token: Extra inputs"),
    *each_command(
        "wrong_type", config(CONTACTS, max_concurrency="eight"), "max_concurrency: Input should be"
    ),
    *each_command("no_credentials", {"api_base_url": "{url}"}, "credentials: Field required"),
    *each_command(
        "unknown_auth_type",
        config(credentials={**PRIVATE_APP, "auth_type": "key"}),
        "does not match any of the",
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
        "token_with_newline",
        config(credentials={**PRIVATE_APP, "access_token": "{secret}\n"}),
        "access_token: contains a line break: paste it again",
    ),
    *each_command(
        "client_secret_with_crlf",
        config(credentials={**OAUTH, "client_secret": "{secret}\r\n"}),
        "client_secret: contains a line break: paste it again",
    ),
    *each_command(
        "refresh_token_with_space",
        config(credentials={**OAUTH, "refresh_token": "{secret} "}),
        "refresh_token: contains a space at its start or end",
    ),
    *each_command(
        "credentials_refused",
        config(CONTACTS),
        "HubSpot refused the credentials (HTTP 401",
        tokens={},
        echo_credentials=ECHO_IN_MESSAGE,
    ),
    *each_command(
        "service_key_refused",
        config(CONTACTS, credentials=SERVICE_KEY),
        "HubSpot refused the credentials (HTTP 401",
        tokens={},
        echo_credentials=ECHO_IN_MESSAGE,
    ),
    *each_command(
        "oauth_refresh_token_refused",
        config(CONTACTS, credentials=OAUTH),
        "HubSpot refused the OAuth refresh token (HTTP 400",
        oauth_apps=[OAuthApp(DEFAULT_CLIENT_ID, SECRET, "refresh-other", all_scopes())],
        echo_credentials=ECHO_IN_BODY,
    ),
]

MAPPING_CASES = [
    HubSpotCase(
        "unknown_object-check",
        "check",
        "unknown object 'contact' (did you mean 'contacts'?",
        None,
        config({**CONTACTS, "object": "contact"}),
    ),
    HubSpotCase(
        "unknown_object-write",
        "write",
        "unknown object 'contact' (did you mean 'contacts'?",
        config=config({**CONTACTS, "object": "contact"}),
        catalog=CATALOG,
        stdin=GOOD,
    ),
    HubSpotCase(
        "unknown_property-check",
        "check",
        "has no properties firstnme (closest: firstname",
        None,
        config({**CONTACTS, "fields": {"name": "firstnme"}}),
    ),
    HubSpotCase(
        "unknown_property-write",
        "write",
        "has no properties firstnme (closest: firstname",
        config=config({**CONTACTS, "fields": {"name": "firstnme"}}),
        catalog=CATALOG,
        stdin=GOOD,
    ),
    HubSpotCase(
        "stream_without_mapping",
        "write",
        "stream 'companies' is in the catalog but has no entry in `streams`",
        config=config(CONTACTS),
        catalog=BOTH,
        stdin=GOOD,
    ),
]

REACH_CASES = [
    HubSpotCase(
        "unreachable-check", "check", "cannot connect to 127.0.0.1:9", None, config(api_base_url=UNREACHABLE)
    ),
    HubSpotCase(
        "oauth_unreachable-check",
        "check",
        "cannot connect to 127.0.0.1:9",
        None,
        config(credentials=OAUTH, api_base_url=UNREACHABLE),
    ),
    HubSpotCase(
        "self_signed-check", "check", "self-signed certificate", None, config(CONTACTS), prepare=self_signed
    ),
    HubSpotCase(
        "self_signed-write",
        "write",
        "self-signed certificate",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=self_signed,
    ),
    HubSpotCase(
        "missing_scope",
        "write",
        "lacks the scope crm.objects.contacts.write",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        fake={
            "tokens": {
                SECRET: ["crm.objects.contacts.read", "crm.schemas.custom.read", "crm.schemas.contacts.read"]
            },
            "echo_credentials": ECHO_IN_MESSAGE,
        },
    ),
    HubSpotCase(
        "missing_write_scope-check",
        "check",
        "private app token lacks scopes this sync needs: crm.objects.contacts.write",
        None,
        config(CONTACTS),
        fake={
            "tokens": {
                SECRET: ["crm.objects.contacts.read", "crm.schemas.custom.read", "crm.schemas.contacts.read"]
            },
            "echo_credentials": ECHO_IN_MESSAGE,
        },
    ),
    HubSpotCase(
        "oauth_refresh_500_then_garbage",
        "write",
        "not JSON",
        "transient_error",
        config(CONTACTS, credentials=OAUTH),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=then(answer(500, path=TOKEN, Retry_After="0"), answer(200, GARBAGE, path=TOKEN)),
    ),
    HubSpotCase(
        "oauth_refresh_without_access_token",
        "write",
        "no access_token",
        "transient_error",
        config(CONTACTS, credentials=OAUTH),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(200, {"token_type": "bearer", "refresh_token": SECRET, "expires_in": 1800}, TOKEN),
    ),
]

INPUT_CASES = [
    *protocol_cases(HubSpotCase, CATALOG, GOOD, written={"written": 1}, config=config(CONTACTS)),
    HubSpotCase(
        "record_nested_300_deep",
        "write",
        "firstname: the value is nested more than 254 levels deep",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=[
            record("a@x.com", name="A"),
            deep_record("deep@x.com", 300),
            record("c@x.com", name="C"),
            state(1),
        ],
        written=2,
    ),
    HubSpotCase(
        "email_an_object",
        "write",
        "email: the match key holds an object, not one value",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=[record("a@x.com"), record({"nested": "b@x.com"}), record("c@x.com"), state(1)],
        written=2,
    ),
    HubSpotCase(
        "value_too_long",
        "write",
        "firstname: 70000 characters; HubSpot keeps at most 65536",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=[record("a@x.com"), record("b@x.com", name="x" * 70_000), record("c@x.com"), state(1)],
        written=2,
    ),
]

ANSWER_CASES = [
    HubSpotCase(
        "batch_404",
        "write",
        "answered HTTP 404 (nothing is there: check the URL",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(404, path=BATCH),
        written=0,
    ),
    HubSpotCase(
        "batch_405",
        "write",
        "answered HTTP 405 (the endpoint does not accept POST",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(405, path=BATCH),
        written=0,
    ),
    HubSpotCase(
        "batch_413_to_one_record",
        "write",
        "the API refused the request as too large (HTTP 413",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=[record("a@x.com"), record("b@x.com"), state(1)],
        prepare=answer(413, path=BATCH, times=2),
        written=1,
    ),
    HubSpotCase(
        "batch_500_forever",
        "write",
        "Gave up after 7 attempts: HTTP 500",
        "transient_error",
        config(CONTACTS, COMPANIES),
        catalog=BOTH,
        stdin=[*GOOD, row("companies", external_id="c1"), state(2, "companies")],
        states=1,  # the contacts' state: its records were written
        prepare=then(
            company_ids, answer(500, path=".*companies/batch/upsert", times=FOREVER, Retry_After="0")
        ),
        written=1,
    ),
    HubSpotCase(
        "batch_html_error_page",
        "write",
        "HTTP 502 from POST",
        "transient_error",
        config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(502, HTML, BATCH, FOREVER, Retry_After="0", Content_Type="text/html"),
    ),
    HubSpotCase(
        "batch_200_not_json",
        "write",
        "not JSON",
        "transient_error",
        config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(200, GARBAGE, BATCH),
    ),
    HubSpotCase(
        "create_answered_207_garbled",
        "write",
        "outcome unknown: sent, no answer (POST",  # a create that may have taken effect is never resent
        config=config({**CONTACTS, "operation": "create"}),
        catalog=configured_catalog("contacts", sync_mode="append"),
        stdin=GOOD,
        prepare=answer(207, {"results": "?", "errors": SECRET}, r".*/batch/create"),
    ),
    HubSpotCase(
        "batch_redirect",
        "write",
        "redirects (HTTP 302) to http://127.0.0.1:9/elsewhere",
        config=config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(302, path=BATCH, Location="http://127.0.0.1:9/elsewhere"),
        written=0,
    ),
    HubSpotCase(
        "search_200_not_json",
        "write",
        "not JSON",
        "transient_error",
        config(LINKED),
        catalog=CATALOG,
        stdin=[record("a@x.com", org="x.com"), state(1)],
        prepare=answer(200, GARBAGE, r".*/companies/search"),
    ),
    HubSpotCase(
        "properties_200_not_json-check",
        "check",
        "not JSON",
        None,
        config(CONTACTS),
        prepare=answer(200, GARBAGE, r"/crm/properties/2026-09/contacts"),
    ),
    HubSpotCase(
        "properties_200_not_json-write",
        "write",
        "not JSON",
        "transient_error",
        config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(200, GARBAGE, r"/crm/properties/2026-09/contacts"),
    ),
    HubSpotCase(
        "schemas_unexpected_shape",
        "write",
        "that are not a list of objects with a 'name' each",
        "transient_error",
        config(CONTACTS),
        catalog=CATALOG,
        stdin=GOOD,
        prepare=answer(200, {"results": {"name": SECRET}}, r".*/schemas"),
    ),
    HubSpotCase(
        "properties_unexpected_shape",
        "discover",
        "that are not a list of objects with a 'name' each",
        "transient_error",
        config(),
        prepare=answer(200, {"results": [{"label": "no name"}]}, r".*/properties/.*"),
    ),
]

CASES = CONFIG_CASES + MAPPING_CASES + REACH_CASES + INPUT_CASES + ANSWER_CASES


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case: HubSpotCase, tmp_path: Path) -> None:
    fake = HubSpotFake(
        **{
            "tokens": {SECRET: None},
            "oauth_apps": [OAuthApp(DEFAULT_CLIENT_ID, SECRET, SECRET, all_scopes())],
            **case.fake,
        }
    )
    if case.prepare is not None:
        case.prepare(fake)
    with fake:
        run_case("destination-hubspot", case, tmp_path, fake.url)
        if case.written is not None:
            assert len(fake.objects("contacts")) == case.written
        assert legacy_calls(fake) == 0, fake.calls_by_version()


def test_the_table_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 28
    assert len({case.name for case in CASES}) == len(CASES)
