"""destination-customerio against the Customer.io fake on 127.0.0.1."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from destination_customerio.client import CustomerIoClient
from destination_customerio.config import CustomerIoConfig
from destination_customerio.destination import DestinationCustomerIo
from tests.fakes.customerio import API_KEY, SITE_ID, CustomerIoFake
from tests.harness import Run, configured_catalog, record_line, run_destination, state_line

ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
PEOPLE = {"stream": "users", "object": "person", "fields": {"user_id": "id"}}
EVENTS = {
    "stream": "orders",
    "object": "event",
    "fields": {"user_id": "id"},
    "static_values": {"name": "purchase"},
}


def config(fake: CustomerIoFake, *streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "site_id": SITE_ID,
        "api_key": API_KEY,
        "api_base_url": fake.url,
        "streams": list(streams),
        **extra,
    }


def write(
    fake: CustomerIoFake,
    tmp_path: Path,
    mapping: dict[str, Any],
    lines: list[bytes],
    sync_mode: str = "append_dedup",
    **extra: Any,
) -> Run:
    catalog = configured_catalog(mapping["stream"], sync_mode=sync_mode)
    return run_destination(
        DestinationCustomerIo, tmp_path, "write", config(fake, mapping, **extra), catalog, lines
    )


def user(**data: Any) -> bytes:
    return record_line("users", data)


def order(**data: Any) -> bytes:
    return record_line("orders", data)


def status(run: Run) -> dict[str, Any]:
    return run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]


def rejections(run: Run) -> list[str]:
    return [line for line in run.logs if line.startswith("rejected ")]


# --- spec, check, discover ---------------------------------------------------------------------


def test_spec_marks_the_api_key_secret_and_regions_pick_the_url() -> None:
    spec = DestinationCustomerIo().spec()["connectionSpecification"]
    secrets = {name for name, p in spec["properties"].items() if p.get("airbyte_secret")}
    assert secrets == {"api_key"}
    assert spec["properties"]["region"]["enum"] == ["us", "eu"]
    assert set(spec["required"]) == {"site_id", "api_key"}
    base = {"site_id": "s", "api_key": "k"}
    assert CustomerIoConfig.model_validate(base).track_url == "https://track.customer.io"
    assert (
        CustomerIoConfig.model_validate({**base, "region": "eu"}).track_url == "https://track-eu.customer.io"
    )
    override = {**base, "region": "eu", "api_base_url": "http://127.0.0.1:1"}
    assert CustomerIoConfig.model_validate(override).track_url == "http://127.0.0.1:1"


def test_check_passes_and_reports_bad_keys(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    ok = run_destination(DestinationCustomerIo, tmp_path, "check", config(customerio_fake, PEOPLE))
    assert status(ok)["status"] == "SUCCEEDED"
    bad = {**config(customerio_fake), "api_key": "key-wrong-4711"}
    failed = run_destination(DestinationCustomerIo, tmp_path, "check", bad)
    assert status(failed)["status"] == "FAILED"
    assert "site id / API key" in status(failed)["message"]
    assert b"key-wrong-4711" not in failed.raw
    assert customerio_fake.requests[0].path == "/api/v1/accounts/region"


def test_check_reports_the_wrong_region_and_invalid_mappings(
    make_customerio_fake: Any, tmp_path: Path
) -> None:
    eu = make_customerio_fake(data_center="eu")
    wrong = status(run_destination(DestinationCustomerIo, tmp_path, "check", config(eu)))
    assert (
        wrong["status"] == "FAILED" and "account is in the EU region: set region to 'eu'" in wrong["message"]
    )
    assert (
        status(run_destination(DestinationCustomerIo, tmp_path, "check", config(eu, region="eu")))["status"]
        == "SUCCEEDED"
    )
    mappings: list[dict[str, Any]] = [
        {"stream": "accounts", "object": "object"},
        {"stream": "users", "object": "person", "match_key": ["phone"]},
        {"stream": "users2", "object": "person", "object_type_id": "1"},
    ]
    problems = status(
        run_destination(DestinationCustomerIo, tmp_path, "check", config(eu, *mappings, region="eu"))
    )
    assert problems["status"] == "FAILED"
    assert "set object_type_id" in problems["message"]
    assert "match_key must be one of id, email, cio_id" in problems["message"]
    assert "object_type_id and relationship are for object streams only" in problems["message"]


def test_discover_lists_objects_operations_and_identifiers(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    run = run_destination(DestinationCustomerIo, tmp_path, "discover", config(customerio_fake))
    operations = run.of_type("DESTINATION_CATALOG")[0]["destination_catalog"]["operations"]
    by = {(o["object_name"], o["sync_mode"]): o for o in operations}
    assert set(by) == {
        ("person", "append_dedup"),
        ("person", "soft_delete"),
        ("event", "append"),
        ("object", "append_dedup"),
    }
    assert by[("person", "append_dedup")]["matching_keys"] == [["id"], ["email"], ["cio_id"]]
    assert by[("object", "append_dedup")]["matching_keys"] == [["object_id"]]
    assert {"name", "timestamp", "event_id"} <= set(by[("event", "append")]["json_schema"]["properties"])


def test_sync_modes_without_an_operation_are_config_errors(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    run = write(customerio_fake, tmp_path, EVENTS, [order(user_id="u1")], sync_mode="soft_delete")
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "event has no operation one for sync mode 'soft_delete' (it has: track)" in run.error["message"]
    assert customerio_fake.batches == []


# --- people ------------------------------------------------------------------------------------------


def test_identify_people_by_id_in_append_and_dedup_modes(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    lines = [
        user(user_id=42, email="ada@x.com", plan="pro", seats=3),
        user(user_id="u2", plan="free"),
        user(user_id=42, plan="enterprise"),  # same person in the batch: merged, the later value wins
        state_line("users", 1),
    ]
    run = write(customerio_fake, tmp_path, PEOPLE, lines)
    assert run.code == 0, run.error
    ada = customerio_fake.person(id="42")  # ids are sent as strings
    assert ada is not None and ada.attributes == {"email": "ada@x.com", "plan": "enterprise", "seats": 3}
    assert customerio_fake.person(id="u2").attributes == {"plan": "free"}  # type: ignore[union-attr]
    assert run.states[0]["destinationStats"] == {"recordCount": 3.0, "rejectedRecordCount": 0}
    assert customerio_fake.batches == [
        [
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": "42"},
                "attributes": {"email": "ada@x.com", "plan": "enterprise", "seats": 3},
            },
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": "u2"},
                "attributes": {"plan": "free"},
            },
        ]
    ]
    appended = write(customerio_fake, tmp_path, PEOPLE, [user(user_id="u3", plan="x")], sync_mode="append")
    assert appended.code == 0, appended.error
    assert customerio_fake.person(id="u3") is not None


def test_identify_by_email_matches_case_insensitively(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    customerio_fake.add_person(email="Ada@X.com", plan="free")
    mapping = {"stream": "users", "object": "person", "match_key": "email"}
    lines = [
        user(email="ADA@x.com", plan="pro"),
        user(email="grace@x.com", plan="free"),
        user(email="ada@X.COM", plan="enterprise"),  # the same person: merged, the later value wins
        state_line("users", 1),
    ]
    run = write(customerio_fake, tmp_path, mapping, lines)
    assert run.code == 0, run.error
    assert len(customerio_fake.people) == 2
    assert customerio_fake.person(email="ada@x.com").attributes == {"plan": "enterprise"}  # type: ignore[union-attr]
    assert any("merged 1" in line for line in run.logs)
    assert [e["identifiers"] for e in customerio_fake.batches[0]] == [
        {"email": "ada@X.COM"},
        {"email": "grace@x.com"},
    ]


def test_delete_people_in_soft_delete_mode(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    for name in ("u1", "u2", "u3"):
        customerio_fake.add_person(id=name)
    run = write(
        customerio_fake, tmp_path, PEOPLE, [user(user_id="u1"), user(user_id="u3")], sync_mode="soft_delete"
    )
    assert run.code == 0, run.error
    assert [p.id for p in customerio_fake.people.values()] == ["u2"]
    assert customerio_fake.batches[0][0] == {
        "type": "person",
        "action": "delete",
        "identifiers": {"id": "u1"},
    }


def test_null_policy_clear_sends_nulls(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    customerio_fake.add_person(id="u1", plan="pro", trial_ends="2025-01-01")
    run = write(
        customerio_fake,
        tmp_path,
        {**PEOPLE, "nulls": "clear"},
        [user(user_id="u1", plan="free", trial_ends=None)],
    )
    assert run.code == 0, run.error
    assert customerio_fake.batches[0][0]["attributes"] == {"plan": "free", "trial_ends": None}
    assert customerio_fake.person(id="u1").attributes == {"plan": "free"}  # type: ignore[union-attr]


# --- events --------------------------------------------------------------------------------------------


def test_events_convert_timestamps_to_seconds_and_keep_every_occurrence(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    lines = [
        order(user_id="u1", timestamp="2023-11-14T22:13:20Z", total=10),
        order(user_id="u1", timestamp=1700000001, total=11),
        order(user_id="u1", timestamp=1700000002000, total=12),  # epoch milliseconds
        order(user_id="u1", timestamp="1700000003", total=13),
        order(user_id="u2", timestamp="2023-11-14T23:13:24+01:00", total=14),
        state_line("orders", 1),
    ]
    run = write(customerio_fake, tmp_path, EVENTS, lines, sync_mode="append")
    assert run.code == 0, run.error
    events = customerio_fake.events_of(id="u1")
    assert [e.timestamp for e in events] == [1700000000, 1700000001, 1700000002, 1700000003]
    assert events[0].attributes == {"total": 10}
    assert customerio_fake.events_of(id="u2")[0].timestamp == 1700000004
    assert all(e.name == "purchase" and ULID.fullmatch(e.id or "") for e in customerio_fake.events)
    assert run.states[0]["destinationStats"] == {"recordCount": 5.0, "rejectedRecordCount": 0}


def test_replayed_events_keep_their_ids_and_are_deduplicated(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    mapping = {
        **EVENTS,
        "fields": {"user_id": "id", "order_id": "event_id", "kind": "name"},
        "static_values": {},
    }
    lines = [
        order(user_id="u1", kind="purchase", order_id="o1", timestamp=1700000000, status="paid"),
        order(user_id="u1", kind="purchase", timestamp=1700000100, total=5),
        order(user_id="u2", kind="refund", order_id="01HF0000000000000000000000"),  # already a ULID
    ]
    first = write(customerio_fake, tmp_path, mapping, lines, sync_mode="append")
    assert first.code == 0, first.error
    ids = [e.id for e in customerio_fake.events]
    assert ids[2] == "01HF0000000000000000000000"
    assert customerio_fake.events[0].attributes == {"status": "paid"}  # event_id and name are not data
    # A replay, with the source's event id keeping the id stable even though a column changed.
    lines[0] = order(user_id="u1", kind="purchase", order_id="o1", timestamp=1700000000, status="shipped")
    again = write(customerio_fake, tmp_path, mapping, lines, sync_mode="append")
    assert again.code == 0, again.error
    assert [e["id"] for e in customerio_fake.batches[1]] == ids
    assert len(customerio_fake.events) == 3 and customerio_fake.duplicate_events == 3


def test_events_without_a_valid_name_are_rejected(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    mapping = {**EVENTS, "static_values": {}, "fields": {"user_id": "id", "event": "name"}}
    lines = [order(user_id="u1", event="signup"), order(user_id="u1"), order(user_id="u2", event="x" * 101)]
    run = write(customerio_fake, tmp_path, mapping, lines, sync_mode="append", max_rejected_ratio=1)
    assert run.code == 0, run.error
    assert [e.name for e in customerio_fake.events] == ["signup"]
    assert any("field 'name': an event needs a name" in line for line in rejections(run))
    assert any("field 'name': event name is longer than 100 bytes" in line for line in rejections(run))


# --- custom objects --------------------------------------------------------------------------------------


def test_custom_objects_with_relationships_to_people(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    mapping = {
        "stream": "accounts",
        "object": "object",
        "object_type_id": 1,
        "fields": {"account_id": "object_id"},
        "relationship": {"column": "member_ids", "identifier": "id"},
    }
    lines = [
        record_line("accounts", {"account_id": "acme", "plan": "pro", "member_ids": ["u1", 2]}),
        record_line("accounts", {"account_id": "initech", "plan": "free", "member_ids": None}),
    ]
    run = run_destination(
        DestinationCustomerIo,
        tmp_path,
        "write",
        config(customerio_fake, mapping),
        configured_catalog("accounts"),
        lines,
    )
    assert run.code == 0, run.error
    acme = customerio_fake.object("1", "acme")
    assert acme is not None and acme.attributes == {"plan": "pro"}
    assert acme.relationships == [{"id": "u1"}, {"id": "2"}]
    assert customerio_fake.object("1", "initech").relationships == []  # type: ignore[union-attr]


# --- rejections, splitting, limits ------------------------------------------------------------------------


def test_207_errors_reject_the_records_at_their_batch_index(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    known = customerio_fake.add_person(id="u1")
    mapping = {"stream": "users", "object": "person", "match_key": "cio_id"}
    lines = [
        user(cio_id=known.cio_id, plan="a"),
        user(cio_id="cio_missing", plan="b"),
        user(cio_id=known.cio_id + "x"),
    ]
    lines.append(state_line("users", 1))
    run = write(customerio_fake, tmp_path, mapping, lines, max_rejected_ratio=1)
    assert run.code == 0, run.error
    assert known.attributes == {"plan": "a"}
    assert run.states[0]["destinationStats"] == {"recordCount": 3.0, "rejectedRecordCount": 2}
    rejected = rejections(run)
    assert len(rejected) == 2 and "cio_id='cio_missing'" in rejected[0]
    assert "field 'identifiers.cio_id': not_found: no person has cio_id" in rejected[0]
    assert len(customerio_fake.batches) == 1  # a 207 is final: nothing is resent


def test_injected_207_maps_batch_indexes_and_splits_unplaced_errors(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    body = {"errors": [{"batch_index": 2, "reason": "invalid", "field": "attributes.x", "message": "bad x"}]}
    customerio_fake.inject(status=207, body=body, path_regex="/api/v2/batch")
    lines = [user(user_id=f"u{i}", x=i) for i in range(4)]
    run = write(customerio_fake, tmp_path, PEOPLE, lines, max_rejected_ratio=1)
    assert run.code == 0, run.error
    (rejected,) = rejections(run)
    assert "id='u2'" in rejected and "field 'attributes.x': invalid: bad x" in rejected
    unplaced = {"errors": [{"reason": "internal", "message": "something failed"}]}
    customerio_fake.inject(status=207, body=unplaced, path_regex="/api/v2/batch")
    again = write(customerio_fake, tmp_path, PEOPLE, lines)
    assert again.code == 0 and rejections(again) == []  # resent in halves, then accepted
    assert [len(b) for b in customerio_fake.batches[1:]] == [4, 2, 2]


@pytest.mark.parametrize("mode", ["per_entry", "batch"])
def test_invalid_entries_are_isolated_207_or_whole_request_400(
    make_customerio_fake: Any, tmp_path: Path, mode: str
) -> None:
    fake = make_customerio_fake(validation_errors=mode)
    good = [user(user_id=f"u{i}", plan="p") for i in range(40)]
    lines = [
        *good[:15],
        user(user_id="  ", plan="p"),
        *good[15:],
        user(user_id="\t", plan="q"),
        state_line("users", 1),
    ]
    run = write(fake, tmp_path, PEOPLE, lines, max_rejected_ratio=0.5)
    assert run.code == 0, run.error
    assert len(fake.people) == 40
    assert run.states[0]["destinationStats"] == {"recordCount": 42.0, "rejectedRecordCount": 2}
    rejected = rejections(run)
    assert len(rejected) == 2 and all("id must be a non-empty string" in line for line in rejected)
    if mode == "batch":
        assert len(fake.batches) > 2  # split in halves until the bad entries stood alone


def test_attribute_limits_reject_the_record_naming_the_attribute(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    lines = [
        user(user_id="ok", bio="x" * 1000),
        user(user_id="long-value", bio="é" * 501),  # 1002 bytes
        user(user_id="long-name", **{"n" * 151: 1}),
        user(user_id="too-many", **{f"a{i}": i for i in range(301)}),
    ]
    run = write(customerio_fake, tmp_path, PEOPLE, lines, max_rejected_ratio=1)
    assert run.code == 0, run.error
    assert [p.id for p in customerio_fake.people.values()] == ["ok"]
    rejected = "\n".join(rejections(run))
    assert "field 'bio': attribute 'bio' is longer than 1000 bytes" in rejected
    assert "attribute name is longer than 150 bytes" in rejected
    assert "301 attributes; Customer.io identifies at most 300" in rejected


def test_requests_identify_at_most_300_distinct_attributes(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    lines = [user(user_id=f"u{i}", **{f"attr_{i}_{n}": n for n in range(120)}) for i in range(5)]
    run = write(customerio_fake, tmp_path, PEOPLE, lines)
    assert run.code == 0, run.error
    assert len(customerio_fake.people) == 5
    assert [len(batch) for batch in customerio_fake.batches] == [2, 2, 1]  # one kernel batch, three requests


def test_oversize_entries_are_rejected_and_requests_stay_under_500_kb(
    make_customerio_fake: Any, tmp_path: Path
) -> None:
    fake = make_customerio_fake(max_request_bytes=500_000)
    big = {f"a{n}": "x" * 990 for n in range(33)}  # each value within limits, the entry over 32 KB
    lines = [user(user_id="huge", **big)]
    lines += [user(user_id=f"u{i}", **{f"a{n}": "y" * 990 for n in range(5)}) for i in range(230)]
    run = write(fake, tmp_path, PEOPLE, lines, max_rejected_ratio=0.5)
    assert run.code == 0, run.error
    assert fake.person(id="huge") is None and len(fake.people) == 230
    assert any("id='huge'" in line and "the API accepts at most 32000" in line for line in rejections(run))
    sizes = [len(r.body) for r in fake.requests_matching("POST", "/api/v2/batch")]
    assert len(sizes) == 3 and 490_000 < max(sizes) < 500_000
    assert all(status == 200 for status in (r.status for r in fake.requests))


# --- retries, dry run, secrets ---------------------------------------------------------------------------


def test_429_and_5xx_are_retried(
    customerio_fake: CustomerIoFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CustomerIoClient, "backoff", lambda self, attempt: 0.0)
    customerio_fake.inject(
        status=429, body={"meta": {"error": "rate limited"}}, times=2, path_regex="/api/v2/batch"
    )
    customerio_fake.inject(status=503, body="unavailable", times=1, path_regex="/api/v2/batch")
    run = write(customerio_fake, tmp_path, PEOPLE, [user(user_id="r1"), state_line("users", 1)])
    assert run.code == 0, run.error
    assert customerio_fake.person(id="r1") is not None
    assert [r.status for r in customerio_fake.requests] == [429, 429, 503, 200]
    assert len(run.states) == 1
    customerio_fake.inject(status=500, times=10, path_regex="/api/v2/batch")
    failed = write(customerio_fake, tmp_path, PEOPLE, [user(user_id="r2"), state_line("users", 2)])
    assert failed.error is not None and failed.error["failure_type"] == "transient_error"
    assert failed.states == []


def test_dry_run_sends_nothing_and_withholds_states(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    lines = [user(user_id="d1"), user(user_id="d2"), state_line("users", 1)]
    run = write(customerio_fake, tmp_path, PEOPLE, lines, dry_run=True)
    assert run.code == 0, run.error
    assert run.states == [] and customerio_fake.batches == []
    assert any("would write 2" in line and "(identify 2)" in line for line in run.logs)


def test_secrets_never_reach_the_output(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    secret = "key-secret-0123456789"
    customerio_fake.credentials[SITE_ID] = secret
    customerio_fake.inject(
        status=401, body={"meta": {"error": f"bad key {secret}"}}, path_regex="/api/v2/batch"
    )
    run = write(customerio_fake, tmp_path, PEOPLE, [user(user_id="s1")], api_key=secret)
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert "site id / API key" in run.error["message"]
    basic = base64.b64encode(f"{SITE_ID}:{secret}".encode())
    assert secret.encode() not in run.raw and basic not in run.raw
    assert customerio_fake.requests[0].headers["Authorization"] == f"Basic {basic.decode()}"
