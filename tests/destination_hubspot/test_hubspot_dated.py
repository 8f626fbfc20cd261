"""destination-hubspot on HubSpot's date-versioned API: the paths of each version, service keys and what
check can tell about write access, 2026-09 validation rules, idempotent creates by retl_source_key, and
properties typed from schemas or values."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from destination_hubspot.client import HubSpotClient, _scope_for
from destination_hubspot.config import HubSpotConfig
from destination_hubspot.destination import DestinationHubSpot
from retl_shared.redaction import Redactor
from tests.destination_hubspot.test_hubspot_write import TOKEN, config, status
from tests.fakes.hubspot import DEFAULT_CLIENT_ID, LEGACY, HubSpotFake, OAuthApp, all_scopes
from tests.harness import Run, configured_catalog, record_line, run_destination, state_line
from tests.stress import last_window, write_killed

READ_ONLY = ["crm.objects.contacts.read", "crm.schemas.custom.read", "crm.schemas.contacts.read"]
CONTACTS = {"stream": "contacts", "object": "contacts"}
SERVICE_KEY = "sk-na1-test"


def client(version: str, **credentials: Any) -> HubSpotClient:
    raw = {
        "credentials": credentials or {"auth_type": "service_key", "service_key": SERVICE_KEY},
        "api_version": version,
    }
    return HubSpotClient(HubSpotConfig.model_validate(raw), Redactor())


def run(fake: HubSpotFake, tmp_path: Path, command: str, *streams: Any, **extra: Any) -> Run:
    return run_destination(DestinationHubSpot, tmp_path, command, config(fake, *streams, **extra))


def write(
    fake: HubSpotFake,
    tmp_path: Path,
    mapping: dict[str, Any],
    lines: list[bytes],
    catalog: dict[str, Any] | None = None,
    **extra: Any,
) -> Run:
    stream = mapping["stream"]
    catalog = catalog or configured_catalog(stream)
    return run_destination(
        DestinationHubSpot,
        tmp_path,
        "write",
        config(fake, mapping, **extra),
        catalog,
        [*lines, state_line(stream, 1)],
    )


def rejections(run: Run) -> list[str]:
    return [line for line in run.logs if line.startswith("rejected ")]


# --- one path builder ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "2026-09",
            [
                "/crm/objects/2026-09/deals/batch/upsert",
                "/crm/properties/2026-09/deals/groups",
                "/crm-object-schemas/2026-09/schemas",
                "/crm/associations/2026-09/contacts/companies/batch/associate/default",
                "/oauth/2026-09/token/introspect",
            ],
        ),
        (
            "2026-03",
            [
                "/crm/objects/2026-03/deals/batch/upsert",
                "/crm/properties/2026-03/deals/groups",
                "/crm-object-schemas/2026-03/schemas",
                "/crm/associations/2026-03/contacts/companies/batch/associate/default",
                "/oauth/2026-03/token/introspect",
            ],
        ),
        (
            "legacy",
            [
                "/crm/v3/objects/deals/batch/upsert",
                "/crm/v3/properties/deals/groups",
                "/crm/v3/schemas",
                "/crm/v4/associations/contacts/companies/batch/associate/default",
                "/oauth/v3/token/introspect",
            ],
        ),
    ],
)
def test_every_family_has_its_path_in_each_version(version: str, expected: list[str]) -> None:
    api = client(version)
    paths = [
        api.path("objects", "deals", "batch", "upsert"),
        api.path("properties", "deals", "groups"),
        api.path("schemas"),
        api.path("associations", "contacts", "companies", "batch", "associate/default"),
        api.path("oauth", "token", "introspect"),
    ]
    assert paths == expected


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("POST", "/crm/objects/2026-09/deals/batch/create", "crm.objects.deals.write"),
        ("POST", "/crm/v3/objects/deals/batch/create", "crm.objects.deals.write"),
        ("POST", "/crm/objects/2026-03/companies/search", "crm.objects.companies.read"),
        ("POST", "/crm/objects/2026-09/contacts/batch/read", "crm.objects.contacts.read"),
        ("POST", "/crm/objects/2026-09/2-12345/batch/upsert", "crm.objects.custom.write"),
        ("POST", "/crm/objects/2026-09/0-5/batch/update", "crm.objects.tickets.write"),
        ("POST", "/crm/properties/2026-09/deals/batch/create", "crm.schemas.deals.write"),
        ("GET", "/crm/properties/2026-09/p_123_cars?archived=false", "crm.schemas.custom.read"),
        ("GET", "/crm-object-schemas/2026-09/schemas", "crm.schemas.custom.read"),
        ("GET", "/crm/v3/schemas", "crm.schemas.custom.read"),
        ("POST", "/crm/associations/2026-09/contacts/companies/batch/create", "crm.objects.contacts.write"),
    ],
)
def test_the_scope_a_refused_request_needs_is_read_from_dated_paths(
    method: str, path: str, scope: str
) -> None:
    assert _scope_for(method, f"https://api.hubapi.com{path}") == [scope]


# --- other API versions ------------------------------------------------------------------------------


@pytest.mark.api_version("2026-03 and legacy")
@pytest.mark.parametrize("version", ["2026-03", LEGACY])
def test_a_sync_on_another_version_uses_only_its_paths(
    hubspot_fake: HubSpotFake, tmp_path: Path, version: str
) -> None:
    acme = hubspot_fake.add_record("companies", {"name": "Acme", "domain": "acme.com"})
    mapping = {
        **CONTACTS,
        "associations": [{"to_object": "companies", "column": "company_domain", "to_property": "domain"}],
    }
    catalog = configured_catalog("contacts")
    schema = {"email": {"type": "string"}, "company_domain": {}, "is_paying": {"type": "boolean"}}
    catalog["streams"][0]["stream"]["json_schema"] = {"properties": schema}
    lines = [
        record_line("contacts", {"email": "a@acme.com", "company_domain": "acme.com", "is_paying": True})
    ]
    oauth = {"auth_type": "oauth", "client_id": "client-id", "client_secret": "client-secret"}
    credentials = {**oauth, "refresh_token": "refresh-good"}
    run = write(
        hubspot_fake,
        tmp_path,
        mapping,
        lines,
        catalog,
        api_version=version,
        create_missing_properties=True,
        credentials=credentials,
    )
    assert run.code == 0, run.error
    written = hubspot_fake.find("contacts", "email", "a@acme.com")
    assert written is not None and written.properties["is_paying"] == "true"
    assert hubspot_fake.associated("contacts", written.id, "companies") == [acme]
    assert set(hubspot_fake.calls_by_version()) == {version}
    assert hubspot_fake.schema_violations == []  # options carry displayOrder, as 2026-03 requires


def test_the_default_is_2026_09_for_every_call_of_a_sync(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    acme = hubspot_fake.add_record("companies", {"name": "Acme", "domain": "acme.com"})
    mapping = {
        **CONTACTS,
        "associations": [{"to_object": "companies", "column": "company_domain", "to_property": "domain"}],
    }
    oauth = {"auth_type": "oauth", "client_id": "client-id", "client_secret": "client-secret"}
    lines = [record_line("contacts", {"email": "a@acme.com", "company_domain": "acme.com", "city": "Oslo"})]
    run = write(
        hubspot_fake, tmp_path, mapping, lines, credentials={**oauth, "refresh_token": "refresh-good"}
    )
    assert run.code == 0, run.error
    contact = hubspot_fake.find("contacts", "email", "a@acme.com")
    assert contact is not None and hubspot_fake.associated("contacts", contact.id, "companies") == [acme]
    assert hubspot_fake.calls_by_version() == Counter({"2026-09": hubspot_fake.calls.total()})
    for endpoint in ("oauth.token", "schemas.list", "objects.search", "associations.batch/associate/default"):
        assert hubspot_fake.calls_by_version(endpoint)["2026-09"] >= 1, endpoint


def test_2026_09_partial_failures_answered_with_a_success_status_reject_their_records(
    make_hubspot_fake: Any, tmp_path: Path
) -> None:
    fake = make_hubspot_fake(validation_errors="per_input", partial_failures_2026_09="success_status")
    fake.add_property("contacts", "signup", "date")
    lines = [
        record_line("contacts", {"email": f"u{i}@x.com", "signup": "2024-01-0" + str(i)}) for i in range(1, 6)
    ]
    lines.append(record_line("contacts", {"email": "bad@x.com", "signup": "someday"}))
    run = write(
        fake, tmp_path, {**CONTACTS, "field_types": {"signup": "string"}}, lines, max_rejected_ratio=0.5
    )
    assert run.code == 0, run.error
    assert len(fake.objects("contacts")) == 5
    assert run.states[0]["destinationStats"] == {"recordCount": 6.0, "rejectedRecordCount": 1}
    [rejected] = rejections(run)
    assert "INVALID_DATE" in rejected or "VALIDATION_ERROR" in rejected


# --- credentials: service keys, and write access told in check ---------------------------------------


def service_key(**more: Any) -> dict[str, Any]:
    return {"credentials": {"auth_type": "service_key", "service_key": SERVICE_KEY}, **more}


def test_a_service_key_writes(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    hubspot_fake.add_service_key(SERVICE_KEY, all_scopes())
    run = write(
        hubspot_fake, tmp_path, CONTACTS, [record_line("contacts", {"email": "k@x.com"})], **service_key()
    )
    assert run.code == 0, run.error
    assert hubspot_fake.find("contacts", "email", "k@x.com") is not None
    assert SERVICE_KEY.encode() not in run.raw


def test_check_names_a_missing_write_scope_of_a_private_app_token(
    make_hubspot_fake: Any, tmp_path: Path
) -> None:
    fake = make_hubspot_fake(tokens={TOKEN: READ_ONLY})
    failed = status(run(fake, tmp_path, "check", CONTACTS))
    assert failed["status"] == "FAILED"
    assert "private app token lacks scopes this sync needs: crm.objects.contacts.write" in failed["message"]
    assert "Private apps" in failed["message"]
    assert fake.call_count("objects.batch/upsert") == 0


def test_check_names_what_each_option_needs(make_hubspot_fake: Any, tmp_path: Path) -> None:
    reader = [*READ_ONLY, "crm.schemas.deals.read", "crm.schemas.companies.read"]
    writer = ["crm.objects.contacts.write", "crm.objects.deals.write", *reader]
    fake = make_hubspot_fake(tokens={TOKEN: writer})
    linked = {
        "stream": "deals",
        "object": "deals",
        "operation": "update",
        "match_key": ["hs_object_id"],
        "fields": {"id": "hs_object_id", "deal_score": "deal_score"},
        "associations": [{"to_object": "companies", "column": "org", "to_property": "domain"}],
    }
    failed = status(run(fake, tmp_path, "check", CONTACTS, linked, create_missing_properties=True))
    assert failed["status"] == "FAILED"
    assert "crm.schemas.deals.write (stream 'deals' → deals.update: creating properties)" in failed["message"]
    assert (
        "crm.objects.companies.read (stream 'deals' → deals.update: finding org's records)"
        in failed["message"]
    )
    assert "crm.objects.contacts.write" not in failed["message"]


def test_check_passes_a_token_with_every_scope_needed(make_hubspot_fake: Any, tmp_path: Path) -> None:
    fake = make_hubspot_fake(tokens={TOKEN: [*READ_ONLY, "crm.objects.contacts.write"]})
    passed = status(run(fake, tmp_path, "check", CONTACTS))
    assert passed == {"status": "SUCCEEDED", "message": "Connected; every stream mapping is valid."}


def test_check_names_a_missing_write_scope_of_an_oauth_app(make_hubspot_fake: Any, tmp_path: Path) -> None:
    app = OAuthApp(DEFAULT_CLIENT_ID, "client-secret", "refresh-good", frozenset(READ_ONLY))
    fake = make_hubspot_fake(oauth_apps=[app])
    oauth = {"auth_type": "oauth", "client_id": DEFAULT_CLIENT_ID, "client_secret": "client-secret"}
    failed = status(
        run(fake, tmp_path, "check", CONTACTS, credentials={**oauth, "refresh_token": "refresh-good"})
    )
    assert failed["status"] == "FAILED"
    assert "OAuth app lacks scopes this sync needs: crm.objects.contacts.write" in failed["message"]
    assert fake.calls_by_version("oauth.introspect") == Counter({"2026-09": 1})


@pytest.mark.parametrize("described", [False, True])
def test_check_on_a_read_only_service_key(make_hubspot_fake: Any, tmp_path: Path, described: bool) -> None:
    """HubSpot documents no way to read a service key's scopes; if the private apps' token info describes
    it (UNCONFIRMED: the fake's switch), check uses it, else it says the first write will tell."""
    fake = make_hubspot_fake(service_key_token_info=described)
    fake.add_service_key(SERVICE_KEY, READ_ONLY)
    answer = status(run(fake, tmp_path, "check", CONTACTS, **service_key()))
    if described:
        assert answer["status"] == "FAILED"
        assert "service key lacks scopes this sync needs: crm.objects.contacts.write" in answer["message"]
        assert "Service keys" in answer["message"]
    else:
        assert answer["status"] == "SUCCEEDED"
        assert (
            "HubSpot does not tell which scopes a service key has, so write access "
            "(crm.objects.contacts.write) is verified at the first write." in answer["message"]
        )
        sync = write(
            fake, tmp_path, CONTACTS, [record_line("contacts", {"email": "w@x.com"})], **service_key()
        )
        assert sync.error is not None and sync.error["failure_type"] == "config_error"
        assert "service key lacks the scope crm.objects.contacts.write" in sync.error["message"]


# --- unknown objects ---------------------------------------------------------------------------------


def test_an_unknown_object_lists_every_object_without_reading_their_properties(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    hubspot_fake.add_custom_object("cars", [{"name": "plate", "has_unique_value": True}])
    failed = status(run(hubspot_fake, tmp_path, "check", {**CONTACTS, "object": "contact"}))
    assert (
        "unknown object 'contact' (did you mean 'contacts'? the objects are: cars, companies, contacts"
        in (failed["message"])
    )
    assert hubspot_fake.call_count("properties.list") == 0
    assert hubspot_fake.call_count("schemas.list") == 1


def test_a_custom_object_is_written_by_its_type_id(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    type_id = hubspot_fake.add_custom_object("cars", [{"name": "plate", "has_unique_value": True}])
    mapping = {"stream": "cars", "object": type_id, "match_key": ["plate"]}
    run_ = write(hubspot_fake, tmp_path, mapping, [record_line("cars", {"plate": "AB-123"})])
    assert run_.code == 0, run_.error
    assert hubspot_fake.find("cars", "plate", "AB-123") is not None


# --- 2026-09 validation rules ---------------------------------------------------------------------------


DEALS = {"stream": "deals", "object": "deals", "operation": "upsert", "match_key": ["deal_key"]}


def deals_fake(make_hubspot_fake: Any, mode: str) -> HubSpotFake:
    fake: HubSpotFake = make_hubspot_fake(validation_rule_errors=mode)
    fake.add_property("deals", "deal_key", "string", has_unique_value=True)
    fake.require_properties("deals", ["pipeline"])
    return fake


def deal(key: str, **properties: Any) -> bytes:
    return record_line("deals", {"deal_key": key, "dealname": f"Deal {key}", **properties})


@pytest.mark.parametrize("mode", ["hubspot", "batch", "per_input"])
def test_records_refused_by_a_required_property_rule_are_rejected_alone(
    make_hubspot_fake: Any, tmp_path: Path, mode: str
) -> None:
    fake = deals_fake(make_hubspot_fake, mode)
    good = [deal(f"d{i}", pipeline="default") for i in range(40)]
    lines = [*good[:15], deal("no-pipeline-1"), *good[15:], deal("no-pipeline-2")]
    run_ = write(fake, tmp_path, DEALS, lines, configured_catalog("deals"), max_rejected_ratio=0.5)
    assert run_.code == 0, run_.error
    assert sorted(p["deal_key"] for p in fake.objects("deals").values()) == sorted(f"d{i}" for i in range(40))
    assert run_.states[0]["destinationStats"] == {"recordCount": 42.0, "rejectedRecordCount": 2}
    rejected = rejections(run_)
    assert len(rejected) == 2
    assert all("Some required properties were not set. (required: pipeline)" in line for line in rejected)
    assert all("field 'pipeline'" in line for line in rejected)
    assert fake.calls_by_version("objects.batch/upsert") == Counter(
        {"2026-09": fake.call_count("objects.batch/upsert")}
    )
    if mode == "batch":
        # the 40 innocent records go again at once; the two suspects are split apart, each refused alone
        assert fake.call_count("objects.batch/upsert") <= 5


def test_a_conditional_rule_refuses_only_the_updates_that_bring_it_about(
    make_hubspot_fake: Any, tmp_path: Path
) -> None:
    fake = make_hubspot_fake(validation_rule_errors="batch")
    fake.add_property("deals", "deal_key", "string", has_unique_value=True)
    for i in range(6):
        fake.add_record(
            "deals", {"deal_key": f"d{i}", "dealname": f"Deal {i}", "dealstage": "qualifiedtobuy"}
        )
    fake.require_properties("deals", ["closedate"], when={"dealstage": "closedwon"})
    lines = [
        deal("d0", dealstage="closedwon", closedate="2026-09-30"),
        deal("d1", dealstage="closedwon"),  # no close date: refused
        deal("d2", dealstage="contractsent"),
        deal("d3", amount=5),
        deal("d4", dealstage="closedwon", closedate="2026-10-01"),
        deal("d5", amount=7),
    ]
    run_ = write(fake, tmp_path, DEALS, lines, configured_catalog("deals"), max_rejected_ratio=0.5)
    assert run_.code == 0, run_.error
    stages = {p["deal_key"]: p.get("dealstage") for p in fake.objects("deals").values()}
    assert stages == {
        "d0": "closedwon",
        "d1": "qualifiedtobuy",
        "d2": "contractsent",
        "d3": "qualifiedtobuy",
        "d4": "closedwon",
        "d5": "qualifiedtobuy",
    }
    [rejected] = rejections(run_)
    assert "d1" in rejected and "(required: closedate)" in rejected


@pytest.mark.api_version("2026-03")
def test_2026_03_does_not_enforce_the_rules(make_hubspot_fake: Any, tmp_path: Path) -> None:
    fake = deals_fake(make_hubspot_fake, "hubspot")
    run_ = write(fake, tmp_path, DEALS, [deal("d1")], configured_catalog("deals"), api_version="2026-03")
    assert run_.code == 0, run_.error
    assert len(fake.objects("deals")) == 1
    assert set(fake.calls_by_version()) == {"2026-03"}


# --- idempotent creates ----------------------------------------------------------------------------------


NEW_DEALS = {
    "stream": "new_deals",
    "object": "deals",
    "operation": "create",
    "unmapped_columns": "pass_through",
}


def new_deal(key: int, **more: Any) -> bytes:
    return record_line(
        "new_deals", {"order_id": key, "dealname": f"Order {key}", "pipeline": "default", **more}
    )


def keyed_catalog() -> dict[str, Any]:
    return configured_catalog("new_deals", sync_mode="append", primary_key=["order_id"])


@pytest.mark.parametrize("fault", ["reset", "server_error"])
def test_a_create_whose_answer_is_lost_is_resent_and_written_once_by_its_source_key(
    hubspot_fake: HubSpotFake, tmp_path: Path, fault: str
) -> None:
    if fault == "reset":
        hubspot_fake.inject_reset(path_regex=r".*/deals/batch/upsert", after_apply=True)
    else:
        hubspot_fake.inject(status=502, path_regex=r".*/deals/batch/upsert", after_apply=True)
    lines = [new_deal(i) for i in range(5)]
    run_ = write(hubspot_fake, tmp_path, NEW_DEALS, lines, keyed_catalog(), create_missing_properties=True)
    assert run_.code == 0, run_.error
    deals = hubspot_fake.objects("deals")
    assert len(deals) == 5  # the lost request wrote them; the retry found them by retl_source_key
    assert sorted(p["retl_source_key"] for p in deals.values()) == sorted(
        orjson.dumps(["new_deals", str(i)]).decode() for i in range(5)
    )
    assert all("order_id" not in p for p in deals.values())  # the key feeds retl_source_key only
    assert hubspot_fake.call_count("objects.batch/upsert", "deals") == 2
    assert hubspot_fake.call_count("objects.batch/create", "deals") == 0
    assert run_.states[0]["destinationStats"] == {"recordCount": 5.0, "rejectedRecordCount": 0}
    key = hubspot_fake.property("deals", "retl_source_key")
    assert key is not None and key["hasUniqueValue"] and key["type"] == "string"


def test_a_killed_create_sync_resumed_creates_no_duplicates(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    orders = list(range(600))
    windows = [orders[i : i + 150] for i in range(0, len(orders), 150)]
    lines = [
        line
        for n, window in enumerate(windows)
        for line in [*map(new_deal, window), state_line("new_deals", {"window": n})]
    ]
    cfg = {**config(hubspot_fake, NEW_DEALS), "create_missing_properties": True, "max_concurrency": 4}
    states = write_killed(
        "destination-hubspot", tmp_path, cfg, keyed_catalog(), lines, hubspot_fake, after_requests=8
    )
    resumed_from = last_window(states)
    assert resumed_from < len(windows) - 1, "the sync finished before it was killed"
    rest = [
        line
        for n, window in enumerate(windows)
        if n > resumed_from
        for line in [*map(new_deal, window), state_line("new_deals", {"window": n})]
    ]
    resumed = run_destination(DestinationHubSpot, tmp_path, "write", cfg, keyed_catalog(), rest)
    assert resumed.code == 0, resumed.error
    names = Counter(p["dealname"] for p in hubspot_fake.objects("deals").values())
    assert names == Counter(f"Order {i}" for i in orders)  # each order once: nothing duplicated


def test_creates_without_a_source_key_are_at_least_once_and_check_says_so(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    mapping = {**NEW_DEALS, "unmapped_columns": "drop", "fields": {"order_id": "dealname"}}
    note = status(run(hubspot_fake, tmp_path, "check", mapping))["message"]
    assert "Stream 'new_deals': creates are at-least-once" in note
    assert "set create_missing_properties: true (with a primary key on the stream)" in note
    keyed = status(run(hubspot_fake, tmp_path, "check", mapping, create_missing_properties=True))["message"]
    assert "Stream 'new_deals': creates are upserts by retl_source_key" in keyed
    hubspot_fake.inject_reset(path_regex=r".*/deals/batch/create", after_apply=True)
    run_ = write(hubspot_fake, tmp_path, mapping, [new_deal(1)], keyed_catalog(), max_rejected_ratio=1)
    assert run_.code == 0, run_.error
    assert len(hubspot_fake.objects("deals")) == 1
    assert hubspot_fake.call_count("objects.batch/create", "deals") == 1  # never resent
    assert any("creates are at-least-once" in line for line in run_.logs)
    assert any("outcome unknown: sent, no answer" in line for line in run_.logs)


def test_an_existing_source_key_is_used_without_creating_properties(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    hubspot_fake.add_property("deals", "retl_source_key", "string", has_unique_value=True)
    mapping = {
        **NEW_DEALS,
        "unmapped_columns": "drop",
        "fields": {"order_id": "order_id", "name": "dealname"},
    }
    lines = [record_line("new_deals", {"order_id": 7, "name": "Seven"})] * 2
    first = write(hubspot_fake, tmp_path, mapping, lines[:1], keyed_catalog())
    second = write(hubspot_fake, tmp_path, mapping, lines[1:], keyed_catalog())
    assert first.code == second.code == 0, (first.error, second.error)
    assert [p["dealname"] for p in hubspot_fake.objects("deals").values()] == ["Seven"]
    assert hubspot_fake.call_count("properties.batch/create") == 0


def test_a_source_key_without_unique_values_is_refused(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    hubspot_fake.add_property("deals", "retl_source_key", "string")
    failed = status(run(hubspot_fake, tmp_path, "check", NEW_DEALS))
    assert failed["status"] == "FAILED"
    assert "has a property retl_source_key without unique values" in failed["message"]


# --- creating properties: typed from the schema, the mapping's types, or the values ----------------------


def schemaless(*streams: str) -> dict[str, Any]:
    catalog = configured_catalog(*streams)
    for stream in catalog["streams"]:
        stream["stream"]["json_schema"] = {"type": "object"}
    return catalog


def test_properties_of_a_catalog_without_schemas_are_typed_from_their_values(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    mapping = {
        **CONTACTS,
        "unmapped_columns": "drop",
        "fields": {
            "email": "email",
            "total_orders": "total_orders",
            "vip": "vip",
            "note": "note",
            "ltv": "ltv",
        },
    }
    lines = [
        record_line("contacts", {"email": "a@x.com", "total_orders": 12, "vip": True, "note": None}),
        record_line("contacts", {"email": "b@x.com", "total_orders": 3, "ltv": 10.5, "note": "hi"}),
    ]
    run_ = write(
        hubspot_fake, tmp_path, mapping, lines, schemaless("contacts"), create_missing_properties=True
    )
    assert run_.code == 0, run_.error
    types = {
        name: (hubspot_fake.property("contacts", name) or {}).get("type")
        for name in ("total_orders", "vip", "note", "ltv")
    }
    assert types == {"total_orders": "number", "vip": "bool", "note": "string", "ltv": "number"}
    a = hubspot_fake.find("contacts", "email", "a@x.com")
    assert a is not None and (a.properties["total_orders"], a.properties["vip"]) == ("12", "true")


def test_pass_through_fields_seen_only_in_records_are_created_when_a_value_shows_up(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    mapping = {**CONTACTS, "unmapped_columns": "pass_through"}
    first = [record_line("contacts", {"email": f"u{i}@x.com", "seats": None}) for i in range(100)]
    lines = [*first, record_line("contacts", {"email": "z@x.com", "seats": 4})]
    run_ = write(
        hubspot_fake, tmp_path, mapping, lines, schemaless("contacts"), create_missing_properties=True
    )
    assert run_.code == 0, run_.error
    assert (hubspot_fake.property("contacts", "seats") or {}).get("type") == "number"
    z = hubspot_fake.find("contacts", "email", "z@x.com")
    assert z is not None and z.properties["seats"] == "4"
    assert len(hubspot_fake.objects("contacts")) == 101


def test_field_types_type_a_created_property(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    mapping = {**CONTACTS, "field_types": {"renewal": "date"}}
    lines = [record_line("contacts", {"email": "a@x.com", "renewal": "2026-12-01T10:00:00Z"})]
    catalog = configured_catalog("contacts")
    catalog["streams"][0]["stream"]["json_schema"] = {"properties": {"email": {}, "renewal": {}}}
    run_ = write(hubspot_fake, tmp_path, mapping, lines, catalog, create_missing_properties=True)
    assert run_.code == 0, run_.error
    assert (hubspot_fake.property("contacts", "renewal") or {}).get("type") == "date"


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([{"plan": "pro"}], "their values are objects, lists, or of several kinds"),
        ([1, "one"], "their values are objects, lists, or of several kinds"),
    ],
)
def test_a_property_that_cannot_be_typed_is_named_not_created(
    hubspot_fake: HubSpotFake, tmp_path: Path, values: list[Any], why: str
) -> None:
    mapping = {**CONTACTS, "unmapped_columns": "pass_through"}
    lines = [record_line("contacts", {"email": f"u{i}@x.com", "extra": v}) for i, v in enumerate(values)]
    run_ = write(
        hubspot_fake, tmp_path, mapping, lines, schemaless("contacts"), create_missing_properties=True
    )
    assert run_.error is not None and run_.error["failure_type"] == "config_error"
    assert "cannot create HubSpot contacts properties extra: " + why in run_.error["message"]
    assert hubspot_fake.property("contacts", "extra") is None
    assert hubspot_fake.objects("contacts") == {}


def test_a_column_holding_objects_is_named_before_anything_is_sent(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    catalog = configured_catalog("contacts")
    schema = {"properties": {"email": {"type": "string"}, "settings": {"type": ["null", "object"]}}}
    catalog["streams"][0]["stream"]["json_schema"] = schema
    run_ = write(
        hubspot_fake,
        tmp_path,
        {**CONTACTS, "unmapped_columns": "pass_through"},
        [record_line("contacts", {"email": "a@x.com", "settings": {"a": 1}})],
        catalog,
        create_missing_properties=True,
    )
    assert run_.error is not None
    assert (
        "cannot create HubSpot contacts properties settings: their columns hold objects or lists"
        in (run_.error["message"])
    )
    assert hubspot_fake.call_count("objects.batch/upsert") == 0
