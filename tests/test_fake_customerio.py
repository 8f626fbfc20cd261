"""Behaviour of the Customer.io fake, exercised over real sockets with `requests`.

These tests pin the wire contract the destination is built against (api-contracts.md, Customer.io
section; docs/vendor-facts-customerio-clarify.md), switch by switch, so a change to the fake that would
let a wrong client pass shows up here first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.fakes.customerio import API_KEY, SITE_ID, CustomerIoFake

ULID_A = "01J0000000000000000000000A"
ULID_B = "01J0000000000000000000000B"

MakeFake = Callable[..., CustomerIoFake]


class Track:
    """A thin Track API client so tests read as Customer.io calls."""

    def __init__(self, fake: CustomerIoFake, site_id: str = SITE_ID, api_key: str = API_KEY) -> None:
        self.fake = fake
        self.session = requests.Session()
        self.session.auth = (site_id, api_key)

    def region(self) -> requests.Response:
        return self.session.get(f"{self.fake.url}/api/v1/accounts/region", timeout=5)

    def batch(self, *entries: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.fake.url}/api/v2/batch", json={"batch": list(entries)}, timeout=5)

    def entity(self, entry: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.fake.url}/api/v2/entity", json=entry, timeout=5)


def identify(person_id: str, *, timestamp: int | None = None, **attributes: Any) -> dict[str, Any]:
    entry = {
        "type": "person",
        "action": "identify",
        "identifiers": {"id": person_id},
        "attributes": attributes,
    }
    return entry if timestamp is None else {**entry, "timestamp": timestamp}


def event(person_id: str, name: str = "purchase", **extra: Any) -> dict[str, Any]:
    return {"type": "person", "action": "event", "identifiers": {"id": person_id}, "name": name, **extra}


def account(object_id: str, action: str = "identify", **extra: Any) -> dict[str, Any]:
    identifiers = {"object_type_id": "1", "object_id": object_id}
    return {"type": "object", "action": action, "identifiers": identifiers, **extra}


# -- region probe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region_field", "members"),
    [("region", {"region"}), ("data_center", {"data_center"}), ("both", {"region", "data_center"})],
)
def test_region_probe_names_the_account_region_per_switch(
    make_customerio_fake: MakeFake, region_field: str, members: set[str]
) -> None:
    fake = make_customerio_fake(data_center="eu", region_field=region_field)
    body = Track(fake).region().json()
    assert set(body) == {"url", "environment_id"} | members
    assert all(body[name] == "eu" for name in members) and body["url"] == fake.url


def test_region_probe_defaults_to_the_documented_region_member(customerio_fake: CustomerIoFake) -> None:
    assert Track(customerio_fake).region().json()["region"] == "us"
    assert Track(customerio_fake, api_key="wrong").region().status_code == 401


# -- identify timestamps ---------------------------------------------------------------------------


def test_identify_keeps_per_attribute_the_value_with_the_newest_timestamp(
    customerio_fake: CustomerIoFake,
) -> None:
    track = Track(customerio_fake)
    assert track.batch(identify("u1", timestamp=1_700_000_010, plan="pro", seats=5)).status_code == 200
    late = track.batch(
        identify("u1", timestamp=1_700_000_005, plan="free", region="eu")
    )  # older, arrives later
    assert late.status_code == 200 and late.json() == {}
    person = customerio_fake.person(id="u1")
    assert person is not None and person.attributes == {"plan": "pro", "seats": 5, "region": "eu"}
    assert customerio_fake.stats[-1].stale_attributes == 1
    track.batch(
        identify("u1", timestamp=1_700_000_010, plan="team")
    )  # an equal timestamp: arrival order decides
    track.batch(identify("u1", timestamp=1_700_000_020, seats=None))  # a newer removal
    track.batch(identify("u1", timestamp=1_700_000_015, seats=9))  # older than the removal
    assert person.attributes == {"plan": "team", "region": "eu"}


def test_identify_without_timestamp_applies_in_arrival_order(customerio_fake: CustomerIoFake) -> None:
    track = Track(customerio_fake)
    track.batch(identify("u1", plan="a"), identify("u1", plan="b"))
    track.batch(identify("u1", timestamp=1_700_000_000, plan="old"))  # the untimestamped update counts as now
    person = customerio_fake.person(id="u1")
    assert person is not None and person.attributes == {"plan": "b"}
    track.batch(identify("u1", timestamp=4_000_000_000, plan="future"))
    track.batch(identify("u1", plan="c"))  # always applies, even after a future timestamp
    assert person.attributes == {"plan": "c"}


@pytest.mark.parametrize("timestamp", [1_700_000_000_000, "1700000000", 1.5])
def test_identify_timestamps_must_be_integer_seconds(customerio_fake: CustomerIoFake, timestamp: Any) -> None:
    response = Track(customerio_fake).batch(
        identify("u1", plan="a"), {**identify("u2"), "timestamp": timestamp}
    )
    assert response.status_code == 207
    assert response.json()["errors"][0] | {"message": ""} == {
        "batch_index": 1,
        "reason": "invalid_timestamp",
        "field": "timestamp",
        "message": "",
    }
    assert customerio_fake.person(id="u1") is not None and customerio_fake.person(id="u2") is None


# -- partial failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("partial_status", [207, 200])
def test_failed_entries_are_listed_in_a_207_or_a_200(
    make_customerio_fake: MakeFake, partial_status: int
) -> None:
    fake = make_customerio_fake(partial_status=partial_status)
    response = Track(fake).batch(identify("u1", plan="a"), event("u2", name=" "), identify("u3"))
    assert response.status_code == partial_status
    assert [(e["batch_index"], e["reason"]) for e in response.json()["errors"]] == [(1, "invalid_name")]
    assert fake.person(id="u1") is not None and fake.person(id="u3") is not None
    assert fake.stats[-1].failed == {1: "invalid_name"} and fake.stats[-1].status == partial_status
    assert Track(fake).batch(identify("u4")).status_code == 200  # all accepted: always 200


def test_batch_mode_refuses_the_whole_request(make_customerio_fake: MakeFake) -> None:
    fake = make_customerio_fake(validation_errors="batch")
    response = Track(fake).batch(identify("u1"), identify(" "))
    assert response.status_code == 400 and response.json()["errors"][0]["batch_index"] == 1
    assert fake.people == {}


# -- null and empty values -------------------------------------------------------------------------


def test_objects_and_relationship_attributes_drop_null_and_empty_values(
    customerio_fake: CustomerIoFake,
) -> None:
    track = Track(customerio_fake)
    relation = {"identifiers": {"id": "u1"}, "relationship_attributes": {"role": "admin", "seat": 1}}
    track.batch(
        account("acme", attributes={"plan": "pro", "tier": 1, "note": "x"}, cio_relationships=[relation])
    )
    cleared = {"identifiers": {"id": "u1"}, "relationship_attributes": {"role": "", "seat": None}}
    track.batch(
        account("acme", attributes={"plan": None, "tier": 0, "note": ""}, cio_relationships=[cleared])
    )
    acme = customerio_fake.object("1", "acme")
    assert acme is not None and acme.attributes == {"tier": 0}
    assert acme.relationships == [{"id": "u1"}] and acme.relationship(id="u1") == {}


@pytest.mark.parametrize(("person_null", "kept"), [("remove", {"seats": 0}), ("store", None)])
def test_person_null_switch_removes_or_stores(
    make_customerio_fake: MakeFake, person_null: str, kept: dict[str, Any] | None
) -> None:
    fake = make_customerio_fake(person_null=person_null)
    fake.add_person(id="u1", plan="pro", bio="hi", seats=3)
    Track(fake).batch(identify("u1", plan=None, bio="", seats=0))
    expected = kept if kept is not None else {"plan": None, "bio": "", "seats": 0}
    assert fake.person(id="u1").attributes == expected  # type: ignore[union-attr]


# -- deletes ---------------------------------------------------------------------------------------


def test_person_delete_removes_the_person_and_their_relationships(customerio_fake: CustomerIoFake) -> None:
    track = Track(customerio_fake)
    customerio_fake.add_person(id="u1", email="Ada@X.com")
    customerio_fake.add_person(id="u2")
    relations = [{"identifiers": {"email": "ada@x.com"}}, {"identifiers": {"id": "u2"}}]
    track.batch(account("acme", cio_relationships=relations))
    delete = {"type": "person", "action": "delete", "identifiers": {"id": "u1"}}
    assert track.batch(delete, {**delete, "identifiers": {"id": "nobody"}}).status_code == 200
    assert customerio_fake.person(id="u1") is None and customerio_fake.person(id="u2") is not None
    assert customerio_fake.object("1", "acme").relationships == [{"id": "u2"}]  # type: ignore[union-attr]


def test_object_delete_removes_the_object(customerio_fake: CustomerIoFake) -> None:
    track = Track(customerio_fake)
    track.batch(account("acme", attributes={"plan": "pro"}), account("initech"))
    assert track.entity(account("acme", action="delete")).status_code == 200
    assert track.batch(account("ghost", action="delete")).status_code == 200  # nothing to delete: accepted
    assert customerio_fake.object("1", "acme") is None and customerio_fake.object("1", "initech") is not None


# -- events ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("creates", [True, False])
def test_events_for_unknown_people_create_them_or_are_dropped(
    make_customerio_fake: MakeFake, creates: bool
) -> None:
    fake = make_customerio_fake(event_creates_person=creates)
    fake.add_person(id="known")
    response = Track(fake).batch(event("known", id=ULID_A), event("stranger", id=ULID_B))
    assert response.status_code == 200
    assert (fake.person(id="stranger") is not None) is creates
    assert len(fake.events) == (2 if creates else 1) and fake.dropped_events == (0 if creates else 1)
    assert fake.stats[-1].dropped_events == fake.dropped_events


def test_events_with_a_seen_id_are_dropped_as_duplicates(customerio_fake: CustomerIoFake) -> None:
    track = Track(customerio_fake)
    track.batch(event("u1", id=ULID_A), event("u1", id=ULID_A))
    track.batch(event("u1", id=ULID_A))
    assert len(customerio_fake.events) == 1 and customerio_fake.duplicate_events == 2
    assert [s.duplicate_events for s in customerio_fake.stats] == [1, 1]


# -- limits, stats and rate ------------------------------------------------------------------------


def test_stats_record_each_authorized_request(customerio_fake: CustomerIoFake) -> None:
    track = Track(customerio_fake)
    track.batch(identify("u1"), identify("u2"))
    track.entity(identify(""))
    Track(customerio_fake, api_key="wrong").batch(identify("u3"))
    track.batch(*[identify(f"p{i}", **{f"a{i}_{n}": n for n in range(100)}) for i in range(4)])
    assert [(s.path, s.status, s.entries, s.failed) for s in customerio_fake.stats] == [
        ("/api/v2/batch", 200, 2, {}),
        ("/api/v2/entity", 400, 1, {0: "invalid_identifiers"}),
        ("/api/v2/batch", 400, 4, {}),  # 400 distinct attributes: the whole request is refused
    ]
    assert customerio_fake.stats[0].size == len(customerio_fake.requests[0].body)


def test_entries_over_32_kb_fail_alone(customerio_fake: CustomerIoFake) -> None:
    big = {**identify("big"), "attributes": {f"a{n}": "x" * 990 for n in range(34)}}
    response = Track(customerio_fake).batch(identify("small"), big)
    assert response.status_code == 207 and response.json()["errors"][0]["reason"] == "entry_too_large"
    assert customerio_fake.person(id="small") is not None and customerio_fake.person(id="big") is None


def test_requests_per_second_allows_exactly_that_many(make_customerio_fake: MakeFake) -> None:
    fake = make_customerio_fake(requests_per_second=2)
    track = Track(fake)
    statuses = [track.batch(identify(f"u{i}")).status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    assert fake.requests[-1].fault == "rate_limit" and len(fake.people) == 2
    throttled = track.batch(identify("u9"))
    assert (
        throttled.headers["Retry-After"] == "1" and throttled.json()["errors"][0]["reason"] == "rate_limited"
    )


def test_throttle_switches_the_limit_at_runtime(customerio_fake: CustomerIoFake) -> None:
    track = Track(customerio_fake)
    customerio_fake.throttle(1, per_seconds=60)
    assert [track.region().status_code for _ in range(2)] == [200, 429]
    customerio_fake.throttle(None)
    assert track.region().status_code == 200
