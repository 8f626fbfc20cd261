"""destination-hubspot against the HubSpot fake on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destination_hubspot.client import HubSpotClient
from destination_hubspot.config import HubSpotConfig
from destination_hubspot.destination import DestinationHubSpot
from retl_shared.redaction import Redactor
from tests.fakes.hubspot import HubSpotFake
from tests.harness import Run, configured_catalog, record_line, run_destination, state_line

TOKEN = "pat-good"


def seed_contact_properties(fake: HubSpotFake) -> None:
    fake.add_property("contacts", "total_orders", "number")
    fake.add_property("contacts", "lifetime_value", "number")
    fake.add_property("contacts", "customer_tier", "enumeration", options=["bronze", "silver", "gold"])
    fake.add_property("contacts", "last_order_date", "date")
    fake.add_property("contacts", "vip", "bool")


def config(fake: HubSpotFake, *streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "credentials": {"auth_type": "private_app", "access_token": TOKEN},
        "api_base_url": fake.url,
        "streams": list(streams),
        **extra,
    }


def write(
    fake: HubSpotFake,
    tmp_path: Path,
    streams: list[dict[str, Any]],
    lines: list[bytes],
    stream: str = "contacts",
    sync_mode: str = "append_dedup",
    **extra: Any,
) -> Run:
    return run_destination(
        DestinationHubSpot,
        tmp_path,
        "write",
        config(fake, *streams, **extra),
        configured_catalog(stream, sync_mode=sync_mode),
        lines,
    )


def contact(email: str, **properties: Any) -> bytes:
    return record_line("contacts", {"email": email, **properties})


# --- spec, check, discover ---------------------------------------------------------------------


def test_spec_marks_credentials_secret() -> None:
    spec = DestinationHubSpot().spec()["connectionSpecification"]
    options = spec["properties"]["credentials"]["oneOf"]
    secrets = {name for o in options for name, p in o["properties"].items() if p.get("airbyte_secret")}
    assert secrets == {"service_key", "access_token", "client_secret", "refresh_token"}
    assert [o["properties"]["auth_type"]["const"] for o in options] == ["service_key", "private_app", "oauth"]
    assert spec["properties"]["rate_limit_per_10s"]["enum"] == [100, 190, 250]
    assert spec["properties"]["api_version"]["enum"] == ["2026-09", "2026-03", "legacy"]
    assert spec["properties"]["api_version"]["default"] == "2026-09"


def status(run: Run) -> dict[str, Any]:
    return run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]


def test_check_passes_and_reports_bad_tokens_and_scopes(make_hubspot_fake: Any, tmp_path: Path) -> None:
    fake = make_hubspot_fake(tokens={TOKEN: None, "pat-contacts-read": ["crm.objects.contacts.read"]})
    assert (
        status(run_destination(DestinationHubSpot, tmp_path, "check", config(fake)))["status"] == "SUCCEEDED"
    )
    bad = {**config(fake), "credentials": {"auth_type": "private_app", "access_token": "pat-wrong-123"}}
    failed = status(run_destination(DestinationHubSpot, tmp_path, "check", bad))
    assert failed["status"] == "FAILED" and "HubSpot refused the credentials" in failed["message"]
    assert "pat-wrong-123" not in failed["message"]
    weak = {
        **config(fake, {"stream": "contacts", "object": "contacts"}),
        "credentials": {"auth_type": "private_app", "access_token": "pat-contacts-read"},
    }
    scoped = status(run_destination(DestinationHubSpot, tmp_path, "check", weak))
    assert scoped["status"] == "FAILED"
    assert "lacks the scope crm.schemas.custom.read" in scoped["message"]


def test_a_missing_write_scope_is_a_config_error_naming_it(make_hubspot_fake: Any, tmp_path: Path) -> None:
    reader = ["crm.objects.contacts.read", "crm.schemas.custom.read", "crm.schemas.contacts.read"]
    fake = make_hubspot_fake(tokens={"pat-reader": reader})
    cfg = {"credentials": {"auth_type": "private_app", "access_token": "pat-reader"}}
    run = write(fake, tmp_path, [{"stream": "contacts", "object": "contacts"}], [contact("w@x.com")], **cfg)
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "lacks the scope crm.objects.contacts.write" in run.error["message"]


def test_check_lists_unknown_properties_with_closest_names(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    seed_contact_properties(hubspot_fake)
    mapping = {
        "stream": "contacts",
        "object": "contacts",
        "fields": {"first": "firstnme", "ltv": "lifetime_valu"},
    }
    failed = status(run_destination(DestinationHubSpot, tmp_path, "check", config(hubspot_fake, mapping)))
    assert failed["status"] == "FAILED"
    assert "firstnme (closest: firstname" in failed["message"]
    assert "lifetime_valu (closest: lifetime_value" in failed["message"]
    read_only = {"stream": "contacts", "object": "contacts", "static_values": {"hs_email_domain": "x.com"}}
    refused = status(run_destination(DestinationHubSpot, tmp_path, "check", config(hubspot_fake, read_only)))
    assert "read-only or calculated properties cannot be written: hs_email_domain" in refused["message"]


def test_discover_lists_objects_operations_and_keys(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    hubspot_fake.add_property("companies", "external_id", "string", has_unique_value=True)
    run = run_destination(DestinationHubSpot, tmp_path, "discover", config(hubspot_fake))
    operations = run.of_type("DESTINATION_CATALOG")[0]["destination_catalog"]["operations"]
    by = {(o["object_name"], o["sync_mode"]): o for o in operations}
    assert by[("contacts", "append_dedup")]["matching_keys"] == [["email"]]
    assert by[("contacts", "update")]["matching_keys"][0] == ["hs_object_id"]
    assert by[("companies", "append_dedup")]["matching_keys"] == [["external_id"]]
    contact_fields = by[("contacts", "append_dedup")]["json_schema"]["properties"]
    assert contact_fields["lifecyclestage"]["enum"] and "hs_email_domain" not in contact_fields
    assert {o for o, _ in by} >= {"contacts", "companies", "deals", "tickets", "products", "line_items"}


# --- operations ----------------------------------------------------------------------------------


def test_upsert_by_email_creates_and_updates_case_insensitively(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    seed_contact_properties(hubspot_fake)
    existing = hubspot_fake.add_record("contacts", {"email": "ada@x.com", "firstname": "Ada"})
    lines = [
        contact("ADA@x.com", lastname="Lovelace", total_orders=3),
        contact("grace@x.com", firstname="Grace", lifetime_value=0.1 + 0.2),
        contact("Ada@X.com", lastname="King", total_orders=4),  # same contact: last wins
        state_line("contacts", 1),
    ]
    run = write(hubspot_fake, tmp_path, [{"stream": "contacts", "object": "contacts"}], lines)
    assert run.code == 0, run.error
    ada = hubspot_fake.record("contacts", existing)
    assert ada is not None and ada.properties["lastname"] == "King" and ada.properties["total_orders"] == "4"
    grace = hubspot_fake.find("contacts", "email", "grace@x.com")
    assert grace is not None and grace.properties["lifetime_value"] == "0.30000000000000004"
    assert len(hubspot_fake.objects("contacts")) == 2
    assert run.states[0]["destinationStats"] == {"recordCount": 3.0, "rejectedRecordCount": 0}
    assert hubspot_fake.call_count("objects.batch/upsert", "contacts") == 1
    assert hubspot_fake.schema_violations == []


def test_update_by_record_id_never_creates(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    seed_contact_properties(hubspot_fake)
    known = hubspot_fake.add_record("contacts", {"email": "a@x.com"})
    mapping = {
        "stream": "contacts_enriched",
        "object": "contacts",
        "fields": {"hubspot_contact_id": "hs_object_id"},
        "unmapped_columns": "drop",
    }
    mapping["fields"].update({"customer_tier": "customer_tier", "total_orders": "total_orders"})
    lines = [
        record_line(
            "contacts_enriched",
            {"hubspot_contact_id": int(known), "customer_tier": "gold", "total_orders": 7},
        ),
        record_line(
            "contacts_enriched", {"hubspot_contact_id": 999999, "customer_tier": "gold", "total_orders": 1}
        ),
        state_line("contacts_enriched", 1),
    ]
    run = write(
        hubspot_fake,
        tmp_path,
        [mapping],
        lines,
        stream="contacts_enriched",
        sync_mode="update",
        max_rejected_ratio=0.5,
    )
    assert run.code == 0, run.error
    assert hubspot_fake.record("contacts", known).properties["customer_tier"] == "gold"  # type: ignore[union-attr]
    assert len(hubspot_fake.objects("contacts")) == 1
    assert run.states[0]["destinationStats"]["rejectedRecordCount"] == 1
    assert any("hs_object_id='999999'" in line or "999999" in line for line in run.logs if "rejected" in line)
    assert any("update never creates" in line for line in run.logs)


def test_create_conflicts_are_rejections(make_hubspot_fake: Any, tmp_path: Path) -> None:
    fake = make_hubspot_fake(validation_errors="batch")  # HubSpot's whole-batch 409
    fake.add_record("contacts", {"email": "taken@x.com"})
    lines = [contact(f"new{i}@x.com") for i in range(5)] + [contact("taken@x.com"), state_line("contacts", 1)]
    run = write(
        fake,
        tmp_path,
        [{"stream": "contacts", "object": "contacts", "operation": "create"}],
        lines,
        sync_mode="append",
        max_rejected_ratio=0.5,
    )
    assert run.code == 0, run.error
    assert len(fake.objects("contacts")) == 6
    assert run.states[0]["destinationStats"]["rejectedRecordCount"] == 1
    assert any("CONFLICT" in line and "already exists" in line for line in run.logs)


def test_archive_by_record_id(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    ids = [hubspot_fake.add_record("deals", {"dealname": f"d{i}"}) for i in range(3)]
    mapping = {
        "stream": "deals",
        "object": "deals",
        "fields": {"deal_id": "hs_object_id"},
        "unmapped_columns": "drop",
    }
    lines = [record_line("deals", {"deal_id": ids[0]}), record_line("deals", {"deal_id": ids[2]})]
    run = write(hubspot_fake, tmp_path, [mapping], lines, stream="deals", sync_mode="soft_delete")
    assert run.code == 0, run.error
    assert [r.archived for r in (hubspot_fake.record("deals", i) for i in ids)] == [True, False, True]  # type: ignore[union-attr]


# --- values and partial failures --------------------------------------------------------------------


def test_values_are_formatted_per_property_type(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    seed_contact_properties(hubspot_fake)
    line = contact(
        "v@x.com", last_order_date="2024-03-01T23:30:00-05:00", vip=1, total_orders="12", lifetime_value=1e-7
    )
    run = write(hubspot_fake, tmp_path, [{"stream": "contacts", "object": "contacts"}], [line])
    assert run.code == 0, run.error
    props = hubspot_fake.find("contacts", "email", "v@x.com").properties  # type: ignore[union-attr]
    assert props["last_order_date"] == "2024-03-02"
    assert props["vip"] == "true"
    assert props["total_orders"] == "12"
    assert props["lifetime_value"] == "0.0000001"


def test_unknown_enumeration_options_reject_the_record(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    seed_contact_properties(hubspot_fake)
    lines = [
        contact("a@x.com", customer_tier="gold"),
        contact("b@x.com", customer_tier="platinum"),
        state_line("contacts", 1),
    ]
    run = write(
        hubspot_fake, tmp_path, [{"stream": "contacts", "object": "contacts"}], lines, max_rejected_ratio=0.5
    )
    assert run.code == 0
    assert hubspot_fake.find("contacts", "email", "b@x.com") is None
    assert hubspot_fake.find("contacts", "email", "a@x.com") is not None
    assert any(
        "customer_tier" in line and "not one of the property's options (bronze, gold, silver)" in line
        for line in run.logs
    )
    assert run.states[0]["destinationStats"]["rejectedRecordCount"] == 1


@pytest.mark.parametrize("mode", ["per_input", "batch"])
def test_invalid_values_are_isolated_207_or_whole_batch_400(
    make_hubspot_fake: Any, tmp_path: Path, mode: str
) -> None:
    fake = make_hubspot_fake(validation_errors=mode)
    fake.add_property("contacts", "score", "string")
    fake.add_property("contacts", "signup", "date")
    good = [contact(f"ok{i}@x.com", score=str(i)) for i in range(30)]
    bad = [contact("bad1@x.com", phone="x", signup="2024-02-30"), contact("bad2@x.com", signup="nope")]
    mapping = {"stream": "contacts", "object": "contacts", "field_types": {"signup": "string"}}
    run = write(
        fake,
        tmp_path,
        [mapping],
        [*good[:10], bad[0], *good[10:], bad[1], state_line("contacts", 1)],
        max_rejected_ratio=0.5,
    )
    assert run.code == 0, run.error
    assert len(fake.objects("contacts")) == 30
    assert run.states[0]["destinationStats"] == {"recordCount": 32.0, "rejectedRecordCount": 2}
    rejected = [line for line in run.logs if line.startswith("rejected contacts record")]
    assert len(rejected) == 2 and all("VALIDATION_ERROR" in line or "INVALID" in line for line in rejected)


def test_batches_hold_at_most_100_inputs(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    lines = [contact(f"u{i}@x.com", firstname=f"U{i}") for i in range(250)]
    run = write(hubspot_fake, tmp_path, [{"stream": "contacts", "object": "contacts"}], lines)
    assert run.code == 0, run.error
    assert hubspot_fake.call_count("objects.batch/upsert", "contacts") == 3
    assert len(hubspot_fake.objects("contacts")) == 250


# --- properties, associations --------------------------------------------------------------------


def test_create_missing_properties_types_them_from_the_stream_schema(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    catalog = configured_catalog("contacts")
    catalog["streams"][0]["stream"]["json_schema"] = {
        "type": "object",
        "properties": {
            "email": {"type": "string"},
            "churn_risk": {"type": "number"},
            "trial_ends": {"type": "string", "format": "date"},
            "is_paying": {"type": "boolean"},
        },
    }
    cfg = config(hubspot_fake, {"stream": "contacts", "object": "contacts"}, create_missing_properties=True)
    line = contact("p@x.com", churn_risk=0.25, trial_ends="2025-01-31", is_paying=True)
    run = run_destination(DestinationHubSpot, tmp_path, "write", cfg, catalog, [line])
    assert run.code == 0, run.error
    assert hubspot_fake.property("contacts", "churn_risk")["type"] == "number"  # type: ignore[index]
    assert hubspot_fake.property("contacts", "trial_ends")["type"] == "date"  # type: ignore[index]
    assert hubspot_fake.property("contacts", "is_paying")["groupName"] == "retl_suite"  # type: ignore[index]
    props = hubspot_fake.find("contacts", "email", "p@x.com").properties  # type: ignore[union-attr]
    assert (props["churn_risk"], props["trial_ends"], props["is_paying"]) == ("0.25", "2025-01-31", "true")
    without = run_destination(
        DestinationHubSpot,
        tmp_path,
        "write",
        config(hubspot_fake, {"stream": "contacts", "object": "contacts"}),
        {
            **catalog,
            "streams": [
                {
                    **catalog["streams"][0],
                    "stream": {
                        **catalog["streams"][0]["stream"],
                        "json_schema": {"properties": {"email": {}, "seats": {"type": "integer"}}},
                    },
                }
            ],
        },
        [line],
    )
    assert without.error is not None and without.error["failure_type"] == "config_error"
    assert "has no properties seats" in without.error["message"]


def test_contacts_associate_with_companies_by_domain(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    acme = hubspot_fake.add_record("companies", {"name": "Acme", "domain": "acme.com"})
    mapping = {
        "stream": "contacts",
        "object": "contacts",
        "associations": [{"to_object": "companies", "column": "company_domain", "to_property": "domain"}],
    }
    lines = [
        contact("a@acme.com", company_domain="ACME.com"),
        contact("b@nowhere.io", company_domain="nowhere.io"),
        state_line("contacts", 1),
    ]
    run = write(hubspot_fake, tmp_path, [mapping], lines, max_rejected_ratio=0.5)
    assert run.code == 0, run.error
    a = hubspot_fake.find("contacts", "email", "a@acme.com")
    assert a is not None and "company_domain" not in a.properties
    assert hubspot_fake.associated("contacts", a.id, "companies") == [acme]
    assert any("no companies record has domain='nowhere.io'" in line for line in run.logs)
    assert run.states[0]["destinationStats"]["rejectedRecordCount"] == 1


# --- auth, rate limits ------------------------------------------------------------------------------


OAUTH = {
    "auth_type": "oauth",
    "client_id": "client-id",
    "client_secret": "client-secret",
    "refresh_token": "refresh-good",
}


def test_oauth_refreshes_on_start_and_after_a_401(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    run = write(
        hubspot_fake,
        tmp_path,
        [{"stream": "contacts", "object": "contacts"}],
        [contact("o@x.com")],
        credentials=OAUTH,
    )
    assert run.code == 0, run.error
    assert hubspot_fake.find("contacts", "email", "o@x.com") is not None
    assert b"refresh-good" not in run.raw and b"client-secret" not in run.raw

    client = HubSpotClient(HubSpotConfig.model_validate(config(hubspot_fake, credentials=OAUTH)), Redactor())
    tokens_before = hubspot_fake.call_count("oauth.token")
    hubspot_fake.expire_access_tokens()
    response = client.request("GET", client.path("objects", "contacts"), params={"limit": 1})
    assert response.status_code == 200  # the 401 for the expired token was answered by a refresh
    assert hubspot_fake.call_count("oauth.token") == tokens_before + 1


def test_a_revoked_refresh_token_is_a_config_error(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    mapping = [{"stream": "contacts", "object": "contacts"}]
    run = write(
        hubspot_fake,
        tmp_path,
        mapping,
        [contact("o@x.com")],
        credentials={**OAUTH, "refresh_token": "revoked"},
    )
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "refused the OAuth refresh token" in run.error["message"] and "revoked" not in run.error["message"]


def test_ten_secondly_429_is_retried_daily_429_stops(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    body = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    hubspot_fake.inject(
        status=429, body=body, headers={"Retry-After": "0"}, times=2, path_regex=".*batch/upsert"
    )
    mapping = [{"stream": "contacts", "object": "contacts"}]
    run = write(hubspot_fake, tmp_path, mapping, [contact("r@x.com"), state_line("contacts", 1)])
    assert run.code == 0, run.error
    assert hubspot_fake.find("contacts", "email", "r@x.com") is not None
    hubspot_fake.exhaust_daily_limit()
    before = len(hubspot_fake.requests)
    daily = write(hubspot_fake, tmp_path, mapping, [contact("d@x.com"), state_line("contacts", 2)])
    assert daily.code == 1 and daily.error is not None
    assert daily.error["failure_type"] == "transient_error" and "daily API limit" in daily.error["message"]
    assert daily.states == []
    assert len(hubspot_fake.requests) - before <= 3  # no retry storm: schemas, properties, one write


def test_dry_run_previews_creates_and_updates(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    hubspot_fake.add_record("contacts", {"email": "old@x.com"})
    lines = [contact("old@x.com", firstname="O"), contact("new@x.com"), state_line("contacts", 1)]
    run = write(hubspot_fake, tmp_path, [{"stream": "contacts", "object": "contacts"}], lines, dry_run=True)
    assert run.code == 0, run.error
    assert run.states == []
    assert hubspot_fake.call_count("objects.batch/upsert", "contacts") == 0
    assert any("would write 2" in line and "create 1, update 1" in line for line in run.logs)


# --- what cannot work fails before anything is sent; what is ambiguous is never resent --------------


def test_a_stream_without_a_mapping_is_refused_not_written_to_whatever_object_was_loaded(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    catalog = {
        "streams": [*configured_catalog("contacts")["streams"], *configured_catalog("ghost")["streams"]]
    }
    run = run_destination(
        DestinationHubSpot,
        tmp_path,
        "write",
        config(hubspot_fake, {"stream": "contacts", "object": "contacts"}),
        catalog,
        [contact("a@x.com"), record_line("ghost", {"email": "boo@x.com"}), state_line("contacts", 1)],
    )
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "stream 'ghost' is in the catalog but has no entry in `streams`" in run.error["message"]
    assert hubspot_fake.objects("contacts") == {} and run.states == []


def test_an_unknown_object_names_the_closest_and_every_object(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    mapping = {"stream": "contacts", "object": "contact"}
    run = write(hubspot_fake, tmp_path, [mapping], [contact("a@x.com")])
    assert run.error is not None
    assert "unknown object 'contact' (did you mean 'contacts'? the objects are: " in run.error["message"]
    assert "companies" in run.error["message"]


@pytest.mark.parametrize("fault", ["reset", "server_error"])
def test_a_create_whose_answer_is_lost_is_rejected_as_outcome_unknown_never_resent(
    hubspot_fake: HubSpotFake, tmp_path: Path, fault: str
) -> None:
    seed_contact_properties(hubspot_fake)
    if fault == "reset":
        hubspot_fake.inject_reset(path_regex=r".*/batch/create", after_apply=True)
    else:
        hubspot_fake.inject(status=502, path_regex=r".*/batch/create", after_apply=True)
    mapping = {
        "stream": "deals",
        "object": "deals",
        "operation": "create",
        "unmapped_columns": "pass_through",
    }
    lines = [record_line("deals", {"dealname": f"deal {i}"}) for i in range(5)] + [state_line("deals", 1)]
    run = write(
        hubspot_fake, tmp_path, [mapping], lines, stream="deals", sync_mode="append", max_rejected_ratio=1
    )
    assert run.code == 0, run.error
    assert len(hubspot_fake.objects("deals")) == 5  # created once by the lost request, never again
    assert hubspot_fake.call_count("objects.batch/create", "deals") == 1
    assert run.states[0]["destinationStats"] == {"recordCount": 5.0, "rejectedRecordCount": 5}
    assert any("rejected 5 × outcome unknown: sent, no answer" in line for line in run.logs)
