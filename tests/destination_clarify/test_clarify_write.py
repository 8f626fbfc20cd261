"""destination-clarify against the Clarify fake on 127.0.0.1: check, discover, and every write path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from destination_clarify.destination import DestinationClarify
from tests.fakes.clarify import ClarifyFake
from tests.harness import Run, configured_catalog, record_line, run_destination, state_line

KEY = "clarify-key-good"
PEOPLE = {"stream": "people", "object": "person", "fields": {"email": "email_addresses"}}
COMPANIES = {"stream": "companies", "object": "company", "fields": {"domain": "domains"}}


def config(fake: ClarifyFake, *streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "workspace_slug": "acme",
        "api_key": KEY,
        "api_base_url": fake.url,
        "requests_per_second": 100,  # the default (2) would make every test wait on the limiter
        "streams": list(streams),
        **extra,
    }


def write(
    fake: ClarifyFake,
    tmp_path: Path,
    streams: list[dict[str, Any]],
    lines: list[bytes],
    stream: str = "people",
    sync_mode: str = "append_dedup",
    **extra: Any,
) -> Run:
    catalog = configured_catalog(stream, sync_mode=sync_mode)
    return run_destination(
        DestinationClarify, tmp_path, "write", config(fake, *streams, **extra), catalog, lines
    )


def person(email: str, **attributes: Any) -> bytes:
    return record_line("people", {"email": email, **attributes})


def status(run: Run) -> dict[str, Any]:
    return run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]


def rejections(run: Run) -> list[str]:
    return [line for line in run.logs if line.startswith("rejected ")]


def summary(run: Run) -> dict[str, Any]:
    """The destination's end-of-write summary (its ANALYTICS trace) of the one stream written."""
    [trace] = [m["trace"] for m in run.of_type("TRACE") if m["trace"]["type"] == "ANALYTICS"]
    value: dict[str, Any] = orjson.loads(trace["analytics"]["value"])
    return value


# --- spec, check, discover ---------------------------------------------------------------------


def test_spec_marks_the_api_key_secret() -> None:
    spec = DestinationClarify().spec()["connectionSpecification"]
    secrets = {name for name, p in spec["properties"].items() if p.get("airbyte_secret")}
    assert secrets == {"api_key"}
    assert set(spec["required"]) == {"workspace_slug", "api_key"}
    assert spec["properties"]["requests_per_second"]["default"] == 1  # Clarify's recommendation


def test_check_passes_and_names_the_auth_scheme_or_the_slug(
    clarify_fake: ClarifyFake, tmp_path: Path
) -> None:
    ok = run_destination(DestinationClarify, tmp_path, "check", config(clarify_fake, PEOPLE))
    assert status(ok)["status"] == "SUCCEEDED"
    assert clarify_fake.requests[0].headers["Authorization"] == f"api-key {KEY}"

    bad_key = {**config(clarify_fake), "api_key": "clarify-key-wrong"}
    refused = run_destination(DestinationClarify, tmp_path, "check", bad_key)
    assert status(refused)["status"] == "FAILED"
    assert (
        "HTTP 401" in status(refused)["message"]
        and "Authorization: api-key <KEY>" in status(refused)["message"]
    )
    assert b"clarify-key-wrong" not in refused.raw

    bad_slug = {**config(clarify_fake), "workspace_slug": "acme-typo"}
    missing = status(run_destination(DestinationClarify, tmp_path, "check", bad_slug))
    assert missing["status"] == "FAILED" and "workspace slug not found ('acme-typo')" in missing["message"]


def test_check_refuses_fields_the_object_lacks(clarify_fake: ClarifyFake, tmp_path: Path) -> None:
    mapping = {**PEOPLE, "fields": {"email": "email_addresses", "full_name": "nmae", "tier": "tier"}}
    failed = status(run_destination(DestinationClarify, tmp_path, "check", config(clarify_fake, mapping)))
    assert failed["status"] == "FAILED"
    assert "Clarify person has no writable fields nmae (closest: name); tier" in failed["message"]
    deals = {"stream": "deals", "object": "deal", "operation": "upsert"}
    no_upsert = status(run_destination(DestinationClarify, tmp_path, "check", config(clarify_fake, deals)))
    assert "deal has no operation upsert (it has: create, update)" in no_upsert["message"]


def test_discover_lists_objects_operations_keys_and_field_types(
    clarify_fake: ClarifyFake, tmp_path: Path
) -> None:
    clarify_fake.add_custom_object(
        "investor", {"name": {"type": "text", "unique": True}, "fund_size": {"type": "number"}}
    )
    run = run_destination(DestinationClarify, tmp_path, "discover", config(clarify_fake))
    operations = run.of_type("DESTINATION_CATALOG")[0]["destination_catalog"]["operations"]
    by = {(o["object_name"], o["sync_mode"]): o for o in operations}
    assert by[("person", "append_dedup")]["matching_keys"] == [["email_addresses"]]
    assert by[("company", "append_dedup")]["matching_keys"] == [["domains"]]
    assert by[("person", "update")]["matching_keys"] == [["id"]]
    assert by[("c_investor", "append_dedup")]["matching_keys"] == [["name"]]
    assert ("deal", "append_dedup") not in by and ("deal", "append") in by
    fields = by[("person", "append_dedup")]["json_schema"]["properties"]
    assert fields["stage"] == {"type": "string", "enum": ["Lead", "Qualified", "Customer"]}
    assert fields["email_addresses"]["type"] == ["string", "array"]
    assert fields["last_order_date"] == {"type": "string", "format": "date"}
    assert "_created_at" not in fields


# --- upsert under each of Clarify's possible duplicate behaviours --------------------------------


BEHAVIOURS = [
    ("create", "indexed", 400),
    ("match_on", "indexed", 400),
    ("reject", "indexed", 400),
    ("reject", "indexed", 409),
    ("reject", "indexed", 422),  # the status of the docs' own error example
    ("reject", "unindexed", 422),
    ("reject", "none", 400),
    ("reject", "none", 422),
]


@pytest.mark.parametrize(("upsert", "pointers", "duplicate_status"), BEHAVIOURS)
def test_upsert_people_leaves_no_duplicates(
    make_clarify_fake: Any, tmp_path: Path, upsert: str, pointers: str, duplicate_status: int
) -> None:
    fake = make_clarify_fake(upsert=upsert, pointers=pointers, duplicate_status=duplicate_status)
    ada = fake.add_record("person", {"email_addresses": ["ada@x.com", "ada@work.io"], "name": "Ada"})
    emails = ["ADA@x.com"] + [f"p{i}@x.com" for i in range(29)]
    for score in (1, 2):  # the second sync finds every person already there
        lines = [person(e, name=f"N{score}", lead_score=score) for e in emails] + [
            state_line("people", score)
        ]
        run = write(fake, tmp_path, [PEOPLE], lines)
        assert run.code == 0, run.error
        assert run.states[-1]["destinationStats"] == {"recordCount": 30.0, "rejectedRecordCount": 0}
    people = fake.records("person")
    assert len(people) == 30
    assert all(len(fake.find_all("person", "email_addresses", e)) == 1 for e in emails)
    assert {(p["name"], p["lead_score"]) for p in people} == {("N2", 2)}
    assert fake.record("person", ada)["email_addresses"] == ["ada@x.com", "ada@work.io"]
    assert all(
        r.json().get("match_on") == "email_addresses" for r in fake.requests_matching("POST", ".*/bulk")
    )
    looked_up = fake.call_count("GET", "/objects/person/resources")
    assert (looked_up > 0) == (upsert == "reject")


@pytest.mark.parametrize("upsert", ["create", "match_on", "reject"])
def test_upsert_companies_by_domain(make_clarify_fake: Any, tmp_path: Path, upsert: str) -> None:
    fake = make_clarify_fake(upsert=upsert)
    acme = fake.add_record("company", {"name": "Acme", "domains": ["acme.com"], "tier": "bronze"})
    lines = [
        record_line(
            "companies", {"domain": "ACME.com", "name": "Acme Inc", "tier": "gold", "employee_count": 120}
        ),
        record_line("companies", {"domain": "globex.com", "name": "Globex", "employee_count": "45"}),
        state_line("companies", 1),
    ]
    run = write(fake, tmp_path, [COMPANIES], lines, stream="companies")
    assert run.code == 0, run.error
    assert len(fake.records("company")) == 2
    updated = fake.record("company", acme)
    assert updated is not None and (updated["name"], updated["tier"], updated["domains"]) == (
        "Acme Inc",
        "gold",
        ["acme.com"],
    )
    globex = fake.find("company", "domains", "globex.com")
    assert globex is not None and globex["employee_count"] == 45  # coerced from the schema's number type


def test_custom_objects_upsert_by_their_unique_field(make_clarify_fake: Any, tmp_path: Path) -> None:
    fake = make_clarify_fake(upsert="reject")
    c_investor = fake.add_custom_object(
        "investor", {"name": {"type": "text", "unique": True}, "fund_size": {"type": "number"}}
    )
    fake.add_record(c_investor, {"name": "Sequoia", "fund_size": 1})
    mapping = {"stream": "investors", "object": c_investor}
    lines = [record_line("investors", {"name": n, "fund_size": 9}) for n in ("Sequoia", "Accel")]
    run = write(fake, tmp_path, [mapping], lines, stream="investors")
    assert run.code == 0, run.error
    assert sorted((r["name"], r["fund_size"]) for r in fake.records(c_investor)) == [
        ("Accel", 9),
        ("Sequoia", 9),
    ]


# --- atomic batches, limits, operations ----------------------------------------------------------


@pytest.mark.parametrize("pointers", ["indexed", "unindexed", "none"])
def test_one_bad_record_fails_its_atomic_batch_but_only_it_is_rejected(
    make_clarify_fake: Any, tmp_path: Path, pointers: str
) -> None:
    fake = make_clarify_fake(pointers=pointers)
    emails = [f"u{i}@x.com" for i in range(25)]
    emails[3] = "not-an-email"
    lines = [person(e, name="U") for e in emails] + [state_line("people", 1)]
    run = write(fake, tmp_path, [PEOPLE], lines, max_rejected_ratio=0.5)
    assert run.code == 0, run.error
    assert (
        len(fake.records("person")) == 24 and fake.find("person", "email_addresses", "not-an-email") is None
    )
    assert run.states[0]["destinationStats"] == {"recordCount": 25.0, "rejectedRecordCount": 1}
    [rejected] = rejections(run)
    assert "Validation Error: email_addresses has an invalid email address: 'not-an-email'" in rejected
    sizes = fake.bulk_sizes("person")
    assert max(sizes) <= 25
    if pointers == "indexed":
        assert sizes == [25, 24]  # the bad one dropped, the rest resent at once
        assert "field 'email_addresses'" in rejected
    else:
        assert len(sizes) > 2  # the kernel bisected to find it


@pytest.mark.parametrize("bulk_limit", [25, 100])
def test_bulk_requests_hold_at_most_25_records(
    make_clarify_fake: Any, tmp_path: Path, bulk_limit: int
) -> None:
    fake = make_clarify_fake(bulk_limit=bulk_limit)
    run = write(fake, tmp_path, [PEOPLE], [person(f"b{i}@x.com") for i in range(60)])
    assert run.code == 0, run.error
    assert sorted(fake.bulk_sizes("person")) == [10, 25, 25]
    assert len(fake.records("person")) == 60


def test_update_by_record_id_never_creates(clarify_fake: ClarifyFake, tmp_path: Path) -> None:
    known = clarify_fake.add_record("person", {"email_addresses": ["k@x.com"], "stage": "Lead"})
    mapping = {"stream": "enriched", "object": "person", "fields": {"clarify_id": "id"}}
    lines = [
        record_line("enriched", {"clarify_id": known, "stage": "Customer", "is_vip": "yes"}),
        record_line("enriched", {"clarify_id": "per_999999", "stage": "Customer"}),
        state_line("enriched", 1),
    ]
    run = write(
        clarify_fake,
        tmp_path,
        [mapping],
        lines,
        stream="enriched",
        sync_mode="update",
        max_rejected_ratio=0.5,
    )
    assert run.code == 0, run.error
    updated = clarify_fake.record("person", known)
    assert updated is not None and (updated["stage"], updated["is_vip"]) == ("Customer", True)
    assert updated["email_addresses"] == ["k@x.com"] and len(clarify_fake.records("person")) == 1
    assert clarify_fake.bulk_sizes("person", method="PATCH") == [2, 1]
    [rejected] = rejections(run)
    assert "per_999999" in rejected and "update never creates records" in rejected


def test_create_appends_and_the_api_names_missing_required_fields(
    clarify_fake: ClarifyFake, tmp_path: Path
) -> None:
    lines = [
        record_line(
            "deals", {"name": "Big deal", "amount": "12500.50", "close_date": "2025-03-01T23:30:00-05:00"}
        ),
        record_line("deals", {"amount": 10}),
        record_line("deals", {"name": "Odd", "stage": "Maybe"}),
        state_line("deals", 1),
    ]
    mapping = {"stream": "deals", "object": "deal"}
    run = write(
        clarify_fake, tmp_path, [mapping], lines, stream="deals", sync_mode="append", max_rejected_ratio=0.9
    )
    assert run.code == 0, run.error
    [deal] = clarify_fake.records("deal")
    assert (deal["name"], deal["amount"], deal["close_date"]) == ("Big deal", 12500.5, "2025-03-02")
    reasons = "\n".join(rejections(run))
    assert "Validation Error: name is required" in reasons
    assert "stage" in reasons and "not one of the field's options (Open, Won, Lost)" in reasons
    assert clarify_fake.bulk_sizes("deal") == [2, 1]  # the bad option never left the sink


# --- rate limits, dry run, secrets ----------------------------------------------------------------


def test_429_pauses_and_retries_after_retry_after(clarify_fake: ClarifyFake, tmp_path: Path) -> None:
    clarify_fake.throttle(2, per_seconds=1.0)
    lines = [person(f"r{i}@x.com") for i in range(60)] + [state_line("people", 1)]
    run = write(clarify_fake, tmp_path, [PEOPLE], lines)
    assert run.code == 0, run.error
    assert len(clarify_fake.records("person")) == 60
    assert any(r.fault == "rate_limit" and r.status == 429 for r in clarify_fake.requests)
    assert run.states[0]["destinationStats"]["rejectedRecordCount"] == 0


def test_dry_run_previews_creates_and_updates(make_clarify_fake: Any, tmp_path: Path) -> None:
    fake = make_clarify_fake(upsert="reject")
    fake.add_record("person", {"email_addresses": ["old@x.com"]})
    lines = [person("OLD@x.com", name="O"), person("new@x.com"), state_line("people", 1)]
    run = write(fake, tmp_path, [PEOPLE], lines, dry_run=True)
    assert run.code == 0, run.error
    assert run.states == [] and fake.bulk_sizes("person") == [] and len(fake.records("person")) == 1
    assert any("would write 2" in line and "create 1, update 1" in line for line in run.logs)


def test_secrets_never_reach_the_output(clarify_fake: ClarifyFake, tmp_path: Path) -> None:
    echo = {"errors": [{"status": "422", "title": "Validation Error", "detail": f"bad request from {KEY}"}]}
    clarify_fake.inject(status=422, body=echo, path_regex=".*/records/bulk")
    run = write(
        clarify_fake, tmp_path, [PEOPLE], [person("s@x.com"), state_line("people", 1)], max_rejected_ratio=1
    )
    assert run.code == 0, run.error
    assert KEY.encode() not in run.raw and "bad request from ****" in rejections(run)[0]


def test_the_fake_refuses_bearer_and_unknown_objects(clarify_fake: ClarifyFake) -> None:
    base = f"{clarify_fake.url}/v1/workspaces/acme"
    bearer = requests.get(f"{base}/schemas", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert bearer.status_code == 401 and "api-key" in bearer.json()["errors"][0]["detail"]
    nowhere = requests.get(
        f"{base}/objects/ghost/resources", headers={"Authorization": f"api-key {KEY}"}, timeout=5
    )
    assert nowhere.status_code == 404


# --- lookups: the documented filter form, every page, exact matches ---------------------------------------


@pytest.mark.parametrize("filter_form", ["operator", "bare", "both"])
def test_lookups_find_the_record_behind_look_alikes_on_later_pages(
    make_clarify_fake: Any, tmp_path: Path, filter_form: str
) -> None:
    fake = make_clarify_fake(upsert="reject", filter_form=filter_form)
    for i in range(130):  # "Contains ada@x.com" finds all of these first: more than a page of 100
        fake.add_record("person", {"email_addresses": [f"{i}ada@x.com"], "name": f"Look-alike {i}"})
    ada = fake.add_record("person", {"email_addresses": ["Ada@X.com"], "name": "Ada"})
    run = write(fake, tmp_path, [PEOPLE], [person("ada@x.com", name="Ada L."), state_line("people", 1)])
    assert run.code == 0, run.error
    assert fake.record("person", ada)["name"] == "Ada L."  # type: ignore[index]
    assert len(fake.records("person")) == 131
    lookups = fake.requests_matching("GET", r".*/objects/person/resources")
    if filter_form == "bare":  # the operator form refused once, then the bare form from then on
        assert lookups[0].status == 400 and [next(iter(r.query)) for r in lookups[1:]] == [
            "filter[email_addresses]"
        ] * (len(lookups) - 1)
        assert any("lookups use the form filter[field]=value from now on" in line for line in run.logs)
    else:
        assert lookups[0].query == {"filter[email_addresses][Contains]": "ada@x.com", "page[limit]": "100"}
        assert len(lookups) == 2 and lookups[1].query["page[offset]"] == "100"  # followed links.next


def test_a_lookup_refused_in_both_forms_is_a_config_error(make_clarify_fake: Any, tmp_path: Path) -> None:
    fake = make_clarify_fake(upsert="reject", filter_form="operator")
    fake.add_record("person", {"email_addresses": ["a@x.com"]})
    fake.inject(400, {"errors": [{"status": "400", "title": "Bad Request", "detail": "no filters today"}]},
                path_regex=".*/resources", times=2)  # fmt: skip
    run = write(fake, tmp_path, [PEOPLE], [person("a@x.com", name="A")])
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "refused a person lookup by email_addresses in both documented forms" in run.error["message"]


def test_a_next_link_to_another_host_is_not_followed() -> None:
    """The API key goes with every request: a `links.next` elsewhere is ignored, the offset used."""
    from destination_clarify.client import ClarifyClient
    from destination_clarify.config import ClarifyConfig
    from retl_shared.redaction import Redactor

    client = ClarifyClient(
        ClarifyConfig(workspace_slug="acme", api_key="k", api_base_url="https://api.clarify.test"), Redactor()
    )
    answer = requests.Response()
    answer.request = requests.Request(
        "GET", "https://api.clarify.test/v1/workspaces/acme/objects/person/resources",
        params={"filter[name][Contains]": "x", "page[limit]": "100"},
    ).prepare()  # fmt: skip
    elsewhere = {"links": {"next": "https://evil.test/steal?page[offset]=100"}}
    url, params = client._next_page(answer, elsewhere, 100) or ("", None)
    assert url == "https://api.clarify.test/v1/workspaces/acme/objects/person/resources"
    assert params == {"filter[name][Contains]": "x", "page[limit]": "100", "page[offset]": "100"}
    relative = {"links": {"next": "/v1/workspaces/acme/objects/person/resources?page[offset]=100"}}
    assert client._next_page(answer, relative, 100) == (
        "https://api.clarify.test/v1/workspaces/acme/objects/person/resources?page[offset]=100",
        None,
    )
    assert client._next_page(answer, {"meta": {"total_records": 100}}, 100) is None
    assert client._next_page(answer, {}, 42) is None  # a page that is not full is the last


# --- schemas: both documented layouts, anything else a config error --------------------------------------


@pytest.mark.parametrize("layout", ["dict", "list"])
def test_both_schema_layouts_are_read(make_clarify_fake: Any, tmp_path: Path, layout: str) -> None:
    fake = make_clarify_fake(schemas_layout=layout)
    assert status(run_destination(DestinationClarify, tmp_path, "check", config(fake, PEOPLE)))["status"] == (
        "SUCCEEDED"
    )
    run = write(fake, tmp_path, [PEOPLE], [person("a@x.com", stage="Lead", lead_score="7")])
    assert run.code == 0, run.error
    assert fake.find("person", "email_addresses", "a@x.com")["lead_score"] == 7  # type: ignore[index]


def test_json_schema_attributes_under_entities_are_read_as_clarify_types(
    clarify_fake: ClarifyFake, tmp_path: Path
) -> None:
    """The list layout's `entities/person`, JSON Schema in `attributes` (the skill's prose; unconfirmed)."""
    person_schema = {
        "properties": {
            "email_addresses": {"type": "array", "items": {"type": "string"}},
            "stage": {"type": "string", "enum": ["Lead", "Customer"]},
            "last_order_date": {"type": ["null", "string"], "format": "date"},
            "lead_score": {"type": "number"},
        }
    }
    body = {"data": [{"id": "entities/person", "type": "schema", "attributes": person_schema}]}
    clarify_fake.inject(200, body, path_regex=".*/schemas")
    run = run_destination(DestinationClarify, tmp_path, "discover", config(clarify_fake))
    [upsert] = [
        o for o in run.of_type("DESTINATION_CATALOG")[0]["destination_catalog"]["operations"]
        if o["sync_mode"] == "append_dedup"
    ]  # fmt: skip
    assert (upsert["object_name"], upsert["matching_keys"]) == ("person", [["email_addresses"]])
    fields = upsert["json_schema"]["properties"]
    assert fields["stage"]["enum"] == ["Lead", "Customer"]
    assert fields["last_order_date"] == {"type": "string", "format": "date"}


@pytest.mark.parametrize(
    "body", [{"data": "schemas"}, {"data": [{"id": "core/person", "attributes": {"properties": ["email"]}}]}]
)
def test_schemas_in_another_layout_are_a_config_error_quoting_them(
    clarify_fake: ClarifyFake, tmp_path: Path, body: dict[str, Any]
) -> None:
    clarify_fake.inject(200, body, path_regex=".*/schemas")
    failed = status(run_destination(DestinationClarify, tmp_path, "check", config(clarify_fake, PEOPLE)))
    assert failed["status"] == "FAILED"
    assert "GET /schemas answered in a layout this destination does not read" in failed["message"]
    assert json.dumps(body)[:20] in failed["message"]  # what came back, quoted


# --- rate ---------------------------------------------------------------------------------------------------


def test_no_429_when_clarify_enforces_exactly_the_configured_rate(
    make_clarify_fake: Any, tmp_path: Path
) -> None:
    fake = make_clarify_fake(requests_per_second=10)
    lines = [person(f"r{i}@x.com") for i in range(30)] + [state_line("people", 1)]
    run = write(fake, tmp_path, [PEOPLE], lines, requests_per_second=10, batch_size=1, max_concurrency=2)
    assert run.code == 0, run.error
    assert len(fake.records("person")) == 30
    assert [r.status for r in fake.requests if r.status == 429] == []


# --- domains ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("domain_matching", ["exact", "normalised"])
@pytest.mark.parametrize("upsert", ["create", "reject"])
def test_domains_are_normalised_before_matching_and_merging(
    make_clarify_fake: Any, tmp_path: Path, domain_matching: str, upsert: str
) -> None:
    fake = make_clarify_fake(domain_matching=domain_matching, upsert=upsert)
    acme = fake.add_record("company", {"name": "Acme", "domains": ["acme.com"]})
    lines = [
        record_line("companies", {"domain": "https://www.Acme.com/about", "name": "Acme 1"}),
        record_line("companies", {"domain": "ACME.com/", "name": "Acme 2", "tier": "gold"}),
        record_line("companies", {"domain": "http://globex.com:8080/x?y", "name": "Globex"}),
        state_line("companies", 1),
    ]
    run = write(fake, tmp_path, [COMPANIES], lines, stream="companies")
    assert run.code == 0, run.error
    assert any("merged 1" in line for line in run.logs)  # the two Acme rows are one company
    assert sorted((c["name"], tuple(c["domains"])) for c in fake.records("company")) == [
        ("Acme 2", ("acme.com",)),
        ("Globex", ("globex.com",)),
    ]
    assert fake.record("company", acme)["tier"] == "gold"  # type: ignore[index]


# --- people related to their companies --------------------------------------------------------------------

EMPLOYEES = {"stream": "people", "object": "person",
             "fields": {"email": "email_addresses", "employer": "company_domain"}}  # fmt: skip


@pytest.mark.parametrize(
    ("upsert", "duplicate_status"), [("create", 400), ("match_on", 400), ("reject", 422)]
)
def test_people_are_related_to_the_company_with_their_domain(
    make_clarify_fake: Any, tmp_path: Path, upsert: str, duplicate_status: int
) -> None:
    fake = make_clarify_fake(upsert=upsert, duplicate_status=duplicate_status)
    acme = fake.add_record("company", {"name": "Acme", "domains": ["acme.com"]})
    initech = fake.add_record("company", {"name": "Initech", "domains": ["initech.com"]})
    ada = fake.add_record("person", {"email_addresses": ["ada@x.com"]})
    fake.links[("person", ada, "companies")] = [initech]  # related in Clarify already: kept
    lines = [
        person("ada@x.com", employer="acme.com", name="Ada"),
        person("bob@x.com", employer="https://www.ACME.com/", name="Bob"),
        person("cy@x.com", employer="globex.com", name="Cy"),
        person("di@x.com", name="Di"),
        state_line("people", 1),
    ]
    run = write(fake, tmp_path, [EMPLOYEES], lines)
    assert run.code == 0, run.error
    bob = fake.find("person", "email_addresses", "bob@x.com")
    cy = fake.find("person", "email_addresses", "cy@x.com")
    assert bob is not None and cy is not None and "company_domain" not in bob
    assert fake.related("person", ada, "companies") == [initech, acme]
    assert fake.related("person", bob["id"], "companies") == [acme]
    assert fake.related("person", cy["id"], "companies") == [] and len(fake.records("company")) == 2
    done = summary(run)
    assert (done["written"], done["rejected"]) == (4, 0)
    assert done["notes"] == [
        ["written, not related to a company: no company has its domain (create_missing_companies is off)", 1]
    ]
    again = write(fake, tmp_path, [EMPLOYEES], lines)  # already related: read, not written again
    assert again.code == 0, again.error
    assert fake.related("person", ada, "companies") == [initech, acme]
    patches = fake.requests_matching("PATCH", r".*/relationships/companies")
    assert len(patches) == 2


def test_missing_companies_are_created_first_then_people_then_relationships(
    clarify_fake: ClarifyFake, tmp_path: Path
) -> None:
    mapping = {**EMPLOYEES, "create_missing_companies": True}
    lines = [person("cy@x.com", employer="Globex.com", name="Cy"), person("dee@x.com", employer="globex.com")]
    run = write(clarify_fake, tmp_path, [mapping], [*lines, state_line("people", 1)])
    assert run.code == 0, run.error
    [globex] = clarify_fake.records("company")
    assert (globex["name"], globex["domains"]) == ("globex.com", ["globex.com"])
    people = {p["email_addresses"][0]: p["id"] for p in clarify_fake.records("person")}
    assert all(clarify_fake.related("person", p, "companies") == [globex["id"]] for p in people.values())
    order = [
        ("company" if "/company/" in r.path else "person" if "/records/bulk" in r.path else "relationship")
        for r in clarify_fake.requests
        if r.method in ("POST", "PATCH")
    ]
    assert order == ["company", "person", "relationship", "relationship"]
    assert summary(run)["notes"] == []


def test_company_settings_are_checked(clarify_fake: ClarifyFake, tmp_path: Path) -> None:
    wrong = {**COMPANIES, "create_missing_companies": True}
    failed = status(run_destination(DestinationClarify, tmp_path, "check", config(clarify_fake, wrong)))
    assert "create_missing_companies is for person streams only" in failed["message"]
    deals = {
        "stream": "deals",
        "object": "deal",
        "operation": "create",
        "fields": {"account": "company_domain"},
    }
    failed = status(run_destination(DestinationClarify, tmp_path, "check", config(clarify_fake, deals)))
    assert "Clarify deal has no writable fields company_domain" in failed["message"]
