"""destination-customerio against the Customer.io fake on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from destination_customerio.client import CustomerIoClient
from destination_customerio.config import CustomerIoConfig
from destination_customerio.destination import DestinationCustomerIo
from tests.fakes.customerio import API_KEY, SITE_ID, CustomerIoFake
from tests.harness import (
    Run,
    configured_catalog,
    configured_stream,
    record_line,
    run_destination,
    state_line,
)

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


def summary(run: Run) -> dict[str, Any]:
    """The destination's end-of-write summary (its ANALYTICS trace) of the one stream written."""
    [trace] = [m["trace"] for m in run.of_type("TRACE") if m["trace"]["type"] == "ANALYTICS"]
    value: dict[str, Any] = orjson.loads(trace["analytics"]["value"])
    return value


def catalog(stream: str, sync_mode: str, cursor: str | None = None, **columns: Any) -> dict[str, Any]:
    """A configured catalog of one stream read by ``cursor``, its columns' JSON schemas given."""
    configured = configured_stream(stream, sync_mode, [], cursor)
    configured["stream"]["json_schema"] = {"type": "object", "properties": columns}
    return {"streams": [configured]}


DATETIME = {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"}


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


@pytest.mark.parametrize("region_field", ["region", "data_center", "both"])
def test_check_reports_the_wrong_region_and_invalid_mappings(
    make_customerio_fake: Any, tmp_path: Path, region_field: str
) -> None:
    """The OpenAPI names the probe's member `region`; a client library's mock `data_center`: both are read."""
    eu = make_customerio_fake(data_center="eu", region_field=region_field)
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


@pytest.mark.parametrize("person_null", ["remove", "store"])
def test_null_policy_clear_sends_nulls(make_customerio_fake: Any, tmp_path: Path, person_null: str) -> None:
    """What a person's `null` does is unconfirmed (documented for objects and relationships only): the
    destination sends `null` either way, and the README says how to try it on one person."""
    fake = make_customerio_fake(person_null=person_null)
    fake.add_person(id="u1", plan="pro", trial_ends="2025-01-01")
    run = write(
        fake, tmp_path, {**PEOPLE, "nulls": "clear"}, [user(user_id="u1", plan="free", trial_ends=None)]
    )
    assert run.code == 0, run.error
    assert fake.batches[0][0]["attributes"] == {"plan": "free", "trial_ends": None}
    held = {"remove": {"plan": "free"}, "store": {"plan": "free", "trial_ends": None}}[person_null]
    assert fake.person(id="u1").attributes == held


def test_null_policy_clear_removes_object_attributes(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    """Documented: `null` removes an object's attribute."""
    mapping = {"stream": "accounts", "object": "object", "object_type_id": "1", "nulls": "clear",
               "fields": {"account_id": "object_id"}}  # fmt: skip
    lines = [record_line("accounts", {"account_id": "acme", "plan": "pro", "seats": 3})]
    lines.append(record_line("accounts", {"account_id": "acme", "plan": None, "seats": 4}))
    run = run_destination(
        DestinationCustomerIo, tmp_path, "write", config(customerio_fake, mapping),
        configured_catalog("accounts"), [lines[0], state_line("accounts", 1), lines[1]],
    )  # fmt: skip
    assert run.code == 0, run.error
    assert customerio_fake.object("1", "acme").attributes == {"seats": 4}  # type: ignore[union-attr]


# --- identify timestamps: Customer.io keeps the newest update -----------------------------------------


def test_identify_sends_the_date_time_cursor_so_an_older_update_arriving_later_is_ignored(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    mapping = {**PEOPLE, "fields": {"user_id": "id", "changed_at": "updated_at"}}
    cat = catalog("users", "append_dedup", "changed_at", user_id={"type": "string"}, changed_at=DATETIME)

    def sync(plan: str, changed_at: str) -> Run:
        line = user(user_id="u1", plan=plan, changed_at=changed_at)
        return run_destination(
            DestinationCustomerIo, tmp_path, "write", config(customerio_fake, mapping), cat, [line]
        )

    assert sync("pro", "2024-05-02T10:00:00Z").code == 0
    late = sync("free", "2024-05-01T10:00:00+00:00")  # an older row, arriving later (a resync)
    assert late.code == 0, late.error
    sent = [batch[0] for batch in customerio_fake.batches]
    assert [entry["timestamp"] for entry in sent] == [1714644000, 1714557600]
    assert sent[1]["attributes"] == {"plan": "free", "updated_at": "2024-05-01T10:00:00+00:00"}
    assert customerio_fake.person(id="u1").attributes == {  # type: ignore[union-attr]
        "plan": "pro",
        "updated_at": "2024-05-02T10:00:00Z",
    }
    assert customerio_fake.stats[-1].stale_attributes == 2


def test_a_mapped_timestamp_orders_updates_and_is_not_an_attribute(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    mapping = {**PEOPLE, "fields": {"user_id": "id", "synced_ms": "timestamp"}}
    lines = [user(user_id="u1", plan="pro", synced_ms=1714644000000)]
    run = write(customerio_fake, tmp_path, mapping, lines)
    assert run.code == 0, run.error
    assert customerio_fake.batches[0][0] == {
        "type": "person",
        "action": "identify",
        "identifiers": {"id": "u1"},
        "attributes": {"plan": "pro"},
        "timestamp": 1714644000,
    }
    bad = write(
        customerio_fake, tmp_path, mapping, [user(user_id="u2", synced_ms="soon")], max_rejected_ratio=1
    )
    assert any("field 'timestamp': 'soon' is not an ISO 8601 date-time" in r for r in rejections(bad))


@pytest.mark.parametrize(
    ("column", "dropped"), [({"type": "integer"}, False), (DATETIME, True)], ids=["integer", "dropped"]
)
def test_no_timestamp_from_a_cursor_that_is_no_time_or_is_not_written(
    customerio_fake: CustomerIoFake, tmp_path: Path, column: dict[str, Any], dropped: bool
) -> None:
    """An integer cursor may be a version number; a dropped column is not in the mapped record."""
    mapping = {**PEOPLE, "unmapped_columns": "drop" if dropped else "pass_through"}
    cat = catalog("users", "append_dedup", "version", user_id={"type": "string"}, version=column)
    line = user(user_id="u1", version=1714644000 if not dropped else "2024-05-02T10:00:00Z")
    run = run_destination(
        DestinationCustomerIo, tmp_path, "write", config(customerio_fake, mapping), cat, [line]
    )
    assert run.code == 0, run.error
    assert "timestamp" not in customerio_fake.batches[0][0]


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


@pytest.mark.parametrize("partial_status", [207, 200])
def test_207_errors_reject_the_records_at_their_batch_index(
    make_customerio_fake: Any, tmp_path: Path, partial_status: int
) -> None:
    """A 200 carrying `errors` (Segment's destination reads them from any 2xx) is read as a 207 is."""
    customerio_fake = make_customerio_fake(partial_status=partial_status)
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
    assert [r.status for r in customerio_fake.requests_matching("POST", "/api/v2/batch")] == [partial_status]


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


@pytest.mark.parametrize("creates", [True, False])
def test_events_for_unknown_people_are_written_whatever_customerio_does_with_them(
    make_customerio_fake: Any, tmp_path: Path, creates: bool
) -> None:
    """Whether an event creates the person it names is unconfirmed; Customer.io accepts the event either way,
    so the destination counts it written (the README says how to find out on one person)."""
    fake = make_customerio_fake(event_creates_person=creates)
    run = write(fake, tmp_path, EVENTS, [order(user_id="nobody", total=1)], sync_mode="append")
    assert run.code == 0, run.error
    assert summary(run)["written"] == 1
    assert (fake.person(id="nobody") is not None, fake.dropped_events) == (creates, 0 if creates else 1)


# --- backfills: events older than max_event_age --------------------------------------------------------


def ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


def history() -> list[bytes]:
    """Two event names, each with events older and younger than three days."""
    mapping_lines = [
        order(user_id="u1", kind="purchase", timestamp=ago(days=10), total=1),
        order(user_id="u1", kind="purchase", timestamp=ago(days=4), total=2),
        order(user_id="u2", kind="purchase", timestamp=ago(hours=1), total=3),
        order(user_id="u2", kind="refund", timestamp=ago(days=30), total=4),
        order(user_id="u3", kind="refund", timestamp=ago(minutes=5), total=5),
        state_line("orders", 1),
    ]
    return mapping_lines


GUARDED = {**EVENTS, "fields": {"user_id": "id", "kind": "name"}, "static_values": {}, "max_event_age": "P3D"}


def test_backfill_skip_sends_only_events_younger_than_max_event_age(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    run = write(customerio_fake, tmp_path, GUARDED, history(), sync_mode="append")
    assert run.code == 0, run.error
    assert sorted((e.name, e.attributes["total"]) for e in customerio_fake.events) == [
        ("purchase", 3),
        ("refund", 5),
    ]
    done = summary(run)
    assert (done["written"], done["skipped"], done["rejected"]) == (2, 3, 0)
    assert sorted(done["skips"]) == [
        ["older than max_event_age P3D: event 'purchase'", 2],
        ["older than max_event_age P3D: event 'refund'", 1],
    ]
    assert "  skipped 2 × older than max_event_age P3D: event 'purchase'" in run.logs
    assert run.states[0]["destinationStats"] == {"recordCount": 5.0, "rejectedRecordCount": 0}


def test_backfill_rename_sends_old_events_under_another_name_and_replays_stay_deduplicated(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    lines = history()
    unguarded = {key: value for key, value in GUARDED.items() if key != "max_event_age"}
    first = write(customerio_fake, tmp_path, unguarded, lines[:2], sync_mode="append")  # sent live earlier
    assert first.code == 0, first.error
    run = write(customerio_fake, tmp_path, {**GUARDED, "backfill": "rename"}, lines, sync_mode="append")
    assert run.code == 0, run.error
    assert [e["name"] for e in customerio_fake.batches[1]] == [
        "purchase_backfill",
        "purchase_backfill",
        "purchase",
        "refund_backfill",
        "refund",
    ]
    assert [e["id"] for e in customerio_fake.batches[1][:2]] == [e["id"] for e in customerio_fake.batches[0]]
    assert customerio_fake.duplicate_events == 2  # the two sent live before are not stored again
    assert sorted(e.name for e in customerio_fake.events) == [
        "purchase",
        "purchase",
        "purchase",
        "refund",
        "refund_backfill",
    ]
    done = summary(run)
    assert (done["written"], done["skipped"]) == (5, 0)
    assert sorted(done["notes"]) == [
        ["older than max_event_age P3D: event 'purchase' sent as 'purchase_backfill'", 2],
        ["older than max_event_age P3D: event 'refund' sent as 'refund_backfill'", 1],
    ]


def test_backfill_guard_rejects_events_without_a_time_and_names_too_long_to_rename(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    lines = [
        order(user_id="u1", kind="purchase", total=1),
        order(user_id="u1", kind="p" * 95, timestamp=ago(days=9)),
        order(user_id="u1", kind="p" * 95, timestamp=ago(hours=9)),
    ]
    mapping = {**GUARDED, "backfill": "rename"}
    run = write(customerio_fake, tmp_path, mapping, lines, sync_mode="append", max_rejected_ratio=1)
    assert run.code == 0, run.error
    assert [e.name for e in customerio_fake.events] == ["p" * 95]
    rejected = "\n".join(rejections(run))
    assert "field 'timestamp': no timestamp: max_event_age P3D needs the event's time" in rejected
    assert (
        "field 'name': event name with '_backfill' (for an event older than max_event_age) is longer"
        in rejected
    )


def test_dry_run_previews_backfill_per_event_name(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    run = write(customerio_fake, tmp_path, GUARDED, history(), sync_mode="append", dry_run=True)
    assert run.code == 0, run.error
    assert customerio_fake.batches == []
    assert summary(run)["would"] == {
        "track": 2,
        "skip 'purchase' (older than max_event_age)": 2,
        "skip 'refund' (older than max_event_age)": 1,
    }


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ({**GUARDED, "max_event_age": "3 days"}, "'3 days' is not an ISO 8601 duration: write e.g. P3D"),
        ({**GUARDED, "max_event_age": "PT0S"}, "max_event_age must be longer than zero"),
        ({**PEOPLE, "max_event_age": "P3D"}, "max_event_age and backfill are for event streams only"),
        ({**EVENTS, "backfill": "rename"}, "backfill says what to do with events older than max_event_age"),
        ({**GUARDED, "backfill": "delete"}, "backfill: Input should be 'skip' or 'rename'"),
    ],
    ids=["not-iso", "zero", "people", "no-age", "unknown-backfill"],
)
def test_backfill_settings_are_checked(
    customerio_fake: CustomerIoFake, tmp_path: Path, mapping: dict[str, Any], problem: str
) -> None:
    failed = status(
        run_destination(DestinationCustomerIo, tmp_path, "check", config(customerio_fake, mapping))
    )
    assert failed["status"] == "FAILED" and problem in failed["message"]


def test_backfill_guard_needs_a_mapped_timestamp(customerio_fake: CustomerIoFake, tmp_path: Path) -> None:
    mapping = {**GUARDED, "unmapped_columns": "drop"}
    cat = catalog(
        "orders", "append", None, user_id={"type": "string"}, kind={"type": "string"}, timestamp=DATETIME
    )
    run = run_destination(DestinationCustomerIo, tmp_path, "write", config(customerio_fake, mapping), cat, [])
    assert run.error is not None and run.error["failure_type"] == "config_error"
    assert (
        "max_event_age tells live events from backfill by their timestamp: map a column"
        in run.error["message"]
    )


# --- request rate -------------------------------------------------------------------------------------------


def test_no_429_when_customerio_enforces_exactly_the_configured_rate(
    make_customerio_fake: Any, tmp_path: Path
) -> None:
    fake = make_customerio_fake(requests_per_second=20)
    lines = [user(user_id=f"u{i}", plan="p") for i in range(50)]
    run = write(fake, tmp_path, PEOPLE, lines, requests_per_second=20, batch_size=1, max_concurrency=8)
    assert run.code == 0, run.error
    assert len(fake.people) == 50
    assert [r.status for r in fake.requests if r.status != 200] == []


def test_spec_offers_the_request_rate_and_backfill_settings() -> None:
    spec = DestinationCustomerIo().spec()["connectionSpecification"]
    assert spec["properties"]["requests_per_second"]["default"] == 100
    stream = spec["properties"]["streams"]["items"]["properties"]
    assert stream["backfill"]["enum"] == ["skip", "rename"] and "max_event_age" in stream
