"""Behaviour of the HubSpot fake, exercised over real sockets with `requests`.

These tests pin the wire contract the destination is built against (api-contracts.md, HubSpot section),
so a change to the fake that would let a wrong client pass shows up here first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.hubspot import (
    DATED_VERSIONS,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    DEFAULT_TOKEN,
    LEGACY,
    NOT_FOUND_MESSAGE,
    OPENAPI_DIR,
    HubSpotFake,
    OAuthApp,
    all_scopes,
    load_openapi,
)

CONTACTS_READ_ONLY = "pat-read-only"
ROOT = Path(__file__).resolve().parents[1]
CLIENT = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
REQUIRED_MISSING = "Error creating DEAL.  Some required properties were not set."


class Api:
    """A thin client so tests read as HubSpot calls."""

    def __init__(self, fake: HubSpotFake, token: str = DEFAULT_TOKEN) -> None:
        self.fake = fake
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.fake.url}{path}", params=params, timeout=5)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(f"{self.fake.url}{path}", json=body, timeout=5)

    def batch(
        self, object_type: str, op: str, inputs: list[dict[str, Any]], version: str = LEGACY, **extra: Any
    ) -> requests.Response:
        if op == "create":
            inputs = [{"associations": [], **item} for item in inputs]
        return self.post(f"{objects_path(object_type, version)}/batch/{op}", {"inputs": inputs, **extra})

    def read(
        self, object_type: str, ids: list[str], version: str = LEGACY, **extra: Any
    ) -> requests.Response:
        body = {"inputs": [{"id": i} for i in ids], "properties": [], "propertiesWithHistory": [], **extra}
        return self.post(f"{objects_path(object_type, version)}/batch/read", body)


def objects_path(object_type: str, version: str = LEGACY) -> str:
    """The objects API root of a type: v3 for LEGACY, else the dated one."""
    return f"/crm/v3/objects/{object_type}" if version == LEGACY else f"/crm/objects/{version}/{object_type}"


def refresh_form(**changes: str) -> dict[str, str]:
    """The default OAuth app's refresh grant."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": DEFAULT_REFRESH_TOKEN,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    return form | changes


@pytest.fixture
def api(hubspot_fake: HubSpotFake) -> Api:
    return Api(hubspot_fake)


def contact(email: str, **props: str) -> dict[str, Any]:
    return {"properties": {"email": email, **props}}


def validation_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-property results HubSpot JSON-encodes inside a VALIDATION_ERROR message."""
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    return list(json.loads(body["message"].removeprefix(prefix)))


# -- authentication and scopes ----------------------------------------------------------------------


def test_missing_or_unknown_token_is_401_invalid_authentication(hubspot_fake: HubSpotFake) -> None:
    url = f"{hubspot_fake.url}/crm/v3/objects/contacts"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {DEFAULT_TOKEN}"}):
        resp = requests.get(url, params={"limit": 1}, headers=headers, timeout=5)
        body = resp.json()
        assert resp.status_code == 401 and body["category"] == "INVALID_AUTHENTICATION"
        assert body["status"] == "error" and body["message"].startswith(
            "Authentication credentials not found"
        )
        assert body["correlationId"] and "X-HubSpot-RateLimit-Max" not in resp.headers
    assert Api(hubspot_fake).get("/crm/v3/objects/contacts", limit=1).status_code == 200


def test_missing_scope_is_403_naming_the_granular_scope(
    make_hubspot_fake: Callable[..., HubSpotFake],
) -> None:
    fake = make_hubspot_fake(tokens={CONTACTS_READ_ONLY: ["crm.objects.contacts.read"]})
    fake.add_custom_object("cars", [{"name": "plate"}])
    api = Api(fake, CONTACTS_READ_ONLY)
    assert api.get("/crm/v3/properties/contacts").status_code == 200  # objects read suffices for reading
    assert api.read("contacts", ["1"]).status_code == 207

    resp = api.batch("contacts", "upsert", [{"id": "a@x.com", "idProperty": "email", "properties": {}}])
    body = resp.json()
    assert resp.status_code == 403 and body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}

    created = api.post("/crm/v3/properties/contacts", {"name": "x"}).json()
    assert created["errors"][0]["context"]["requiredGranularScopes"] == ["crm.schemas.contacts.write"]
    custom = api.batch(fake.object_type_id("cars"), "create", [{"properties": {"plate": "X"}}]).json()
    assert custom["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.custom.write"]
    assert api.get("/crm/v3/schemas").status_code == 403
    assert fake.objects("contacts") == {}


def test_oauth_refresh_expiry_and_refresh_again(hubspot_fake: HubSpotFake) -> None:
    form = refresh_form()
    token_url = f"{hubspot_fake.url}/oauth/v1/token"
    grant = requests.post(token_url, data=form, timeout=5).json()
    assert grant["token_type"] == "bearer" and grant["expires_in"] == 1800
    assert grant["refresh_token"] == DEFAULT_REFRESH_TOKEN

    api = Api(hubspot_fake, grant["access_token"])
    ok = api.get("/crm/v3/properties/contacts")
    assert ok.status_code == 200
    assert ok.headers["X-HubSpot-RateLimit-Max"] == "110"  # OAuth apps have their own limit ...
    assert "X-HubSpot-RateLimit-Daily" not in ok.headers  # ... and no daily headers

    hubspot_fake.expire_access_tokens()
    expired = api.get("/crm/v3/properties/contacts")
    assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert "expired" in expired.json()["message"]

    fresh = requests.post(token_url, data=form, timeout=5).json()["access_token"]
    assert fresh != grant["access_token"]
    assert Api(hubspot_fake, fresh).get("/crm/v3/properties/contacts").status_code == 200
    assert hubspot_fake.call_count("oauth.token") == 2


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("grant_type", "authorization_code", "BAD_GRANT_TYPE"),
        ("client_id", "other", "BAD_CLIENT_ID"),
        ("client_secret", "wrong", "BAD_CLIENT_SECRET"),
        ("refresh_token", "stale", "BAD_REFRESH_TOKEN"),
    ],
)
def test_oauth_token_errors(hubspot_fake: HubSpotFake, field: str, value: str, status: str) -> None:
    form = refresh_form(**{field: value})
    resp = requests.post(f"{hubspot_fake.url}/oauth/v1/token", data=form, timeout=5)
    assert resp.status_code == 400 and resp.json()["status"] == status
    assert "error" not in resp.json()  # RFC 6749 fields came with the v3 and dated endpoints only
    dated = requests.post(f"{hubspot_fake.url}/oauth/2026-09/token", data=form, timeout=5).json()
    assert dated["status"] == status and dated["error_description"] == dated["message"]


def test_oauth_app_scopes_apply_to_its_access_tokens(make_hubspot_fake: Callable[..., HubSpotFake]) -> None:
    app = OAuthApp("narrow", "secret", "refresh-narrow", frozenset({"crm.objects.companies.write"}))
    fake = make_hubspot_fake(oauth_apps=[app])
    api = Api(fake, fake.issue_access_token("narrow"))
    assert api.batch("companies", "create", [{"properties": {"name": "Acme"}}]).status_code == 201
    assert api.batch("contacts", "create", [contact("a@x.com")]).status_code == 403


# -- properties ---------------------------------------------------------------------------------------


def test_default_properties_look_like_hubspots(api: Api) -> None:
    props = {p["name"]: p for p in api.get("/crm/v3/properties/contacts").json()["results"]}
    assert props["email"]["type"] == "string" and props["email"]["hasUniqueValue"] is False
    assert props["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert (
        props["createdate"]["type"] == "datetime"
        and props["createdate"]["modificationMetadata"]["readOnlyValue"]
    )
    assert props["num_associated_deals"]["calculated"] is True
    lifecycle = [o["value"] for o in props["lifecyclestage"]["options"]]
    assert props["lifecyclestage"]["type"] == "enumeration" and "customer" in lifecycle

    deals = {p["name"]: p for p in api.get("/crm/v3/properties/0-3").json()["results"]}
    assert (deals["amount"]["type"], deals["closedate"]["type"], deals["dealstage"]["type"]) == (
        "number",
        "datetime",
        "enumeration",
    )
    companies = {p["name"] for p in api.get("/crm/v3/properties/company").json()["results"]}
    assert {"domain", "name"} <= companies
    assert api.get("/crm/v3/properties/contacts/email").json()["label"] == "Email"
    assert api.get("/crm/v3/properties/contacts/nope").status_code == 404


def test_create_property_validates_and_rejects_duplicates(hubspot_fake: HubSpotFake, api: Api) -> None:
    spec = {
        "name": "external_id",
        "label": "External ID",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "hasUniqueValue": True,
    }
    created = api.post("/crm/v3/properties/contacts", spec)
    assert created.status_code == 201 and created.json()["hasUniqueValue"] is True
    assert hubspot_fake.property("contacts", "external_id")["label"] == "External ID"  # type: ignore[index]

    duplicate = api.post("/crm/v3/properties/contacts", spec)
    assert duplicate.status_code == 409 and duplicate.json()["category"] == "OBJECT_ALREADY_EXISTS"
    bad = [
        {**spec, "name": "n1", "type": "number", "fieldType": "text"},
        {**spec, "name": "n2", "groupName": "nogroup"},
        {**spec, "name": "n3", "type": "enumeration", "fieldType": "select", "hasUniqueValue": False},
        {**spec, "name": "Bad-Name"},
        {**spec, "name": "n4", "type": "date", "fieldType": "date"},  # unique only for string/number
    ]
    for body in bad:
        resp = api.post("/crm/v3/properties/contacts", body)
        assert resp.status_code == 400 and resp.json()["category"] == "VALIDATION_ERROR", body
    assert hubspot_fake.property("contacts", "n1") is None


def test_property_groups_and_batch_create(api: Api) -> None:
    assert "dealinformation" in [
        g["name"] for g in api.get("/crm/v3/properties/deals/groups").json()["results"]
    ]
    group = api.post("/crm/v3/properties/deals/groups", {"name": "retl", "label": "Reverse ETL"})
    assert group.status_code == 201
    assert api.post("/crm/v3/properties/deals/groups", {"name": "retl", "label": "Again"}).status_code == 409

    good = {"name": "score", "label": "Score", "type": "number", "fieldType": "number", "groupName": "retl"}
    tier = {
        "name": "tier",
        "label": "Tier",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "retl",
        "options": [{"label": "Gold", "value": "gold", "hidden": False}],
    }
    bad = {**good, "name": "broken", "type": "bool", "fieldType": "text"}
    resp = api.post("/crm/v3/properties/deals/batch/create", {"inputs": [good, bad, tier]})
    body = resp.json()
    assert resp.status_code == 207 and [p["name"] for p in body["results"]] == ["score", "tier"]
    assert body["numErrors"] == 1 and body["errors"][0]["context"]["propertyName"] == ["broken"]
    assert (
        api.post("/crm/v3/properties/deals/batch/create", {"inputs": [{**good, "name": "s2"}]}).status_code
        == 201
    )


# -- batch create / update / upsert -------------------------------------------------------------------


def test_create_stores_strings_and_normalises_typed_values(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.add_property("deals", "signed_on", "date")
    hubspot_fake.add_property("deals", "is_pilot", "bool")
    deal = {
        "dealname": "Big",
        "amount": "1200.50",
        "closedate": "1700000000000",
        "signed_on": "1704067200000",
        "is_pilot": "TRUE",
        "dealstage": "closedwon",
    }
    resp = api.batch("deals", "create", [{"properties": deal}])
    assert resp.status_code == 201
    result = resp.json()["results"][0]
    props = result["properties"]
    assert props["amount"] == "1200.50" and props["signed_on"] == "2024-01-01" and props["is_pilot"] == "true"
    assert props["closedate"] == "2023-11-14T22:13:20.000Z" and props["hs_object_id"] == result["id"]
    assert all(isinstance(v, str) for v in props.values())
    assert {"id", "createdAt", "updatedAt", "archived"} <= set(result)
    assert hubspot_fake.objects("deals")[result["id"]]["dealname"] == "Big"


def test_empty_string_clears_a_value(hubspot_fake: HubSpotFake, api: Api) -> None:
    record_id = hubspot_fake.add_record("contacts", {"email": "a@x.com", "firstname": "Ada", "phone": "1"})
    resp = api.batch("contacts", "update", [{"id": record_id, "properties": {"firstname": "", "phone": "2"}}])
    assert resp.status_code == 200
    assert "firstname" not in hubspot_fake.objects("contacts")[record_id]
    assert hubspot_fake.objects("contacts")[record_id]["phone"] == "2"


@pytest.mark.parametrize(
    ("prop", "value", "code"),
    [
        ("nope", "x", "PROPERTY_DOESNT_EXIST"),
        ("amount", "12abc", "INVALID_INTEGER"),
        ("closedate", "next tuesday", "INVALID_DATE"),
        ("dealstage", "won", "INVALID_OPTION"),
        ("hs_object_id", "5", "READ_ONLY_VALUE"),
        ("createdate", "2024-01-01", "READ_ONLY_VALUE"),
    ],
)
def test_invalid_value_fails_the_whole_batch(
    api: Api, hubspot_fake: HubSpotFake, prop: str, value: str, code: str
) -> None:
    inputs = [{"properties": {"dealname": "ok"}}, {"properties": {"dealname": "bad", prop: value}}]
    resp = api.batch("deals", "create", inputs)
    body = resp.json()
    assert resp.status_code == 400 and body["category"] == "VALIDATION_ERROR"
    entry = validation_entries(body)[0]
    assert (entry["isValid"], entry["error"], entry["name"]) == (False, code, prop)
    assert body["errors"][0]["code"] == code and body["errors"][0]["context"] == {"propertyName": [prop]}
    assert hubspot_fake.objects("deals") == {}


def test_unknown_property_message_matches_the_contract(api: Api) -> None:
    body = api.batch("contacts", "create", [contact("a@x.com", x="1")]).json()
    expected = (
        'Property values were not valid: [{"isValid":false,"message":"Property \\"x\\" does not exist",'
        '"error":"PROPERTY_DOESNT_EXIST","name":"x"'
    )
    assert body["message"].startswith(expected)


def test_dates_must_be_midnight_utc(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.add_property("contacts", "birthday", "date")
    resp = api.batch("contacts", "create", [contact("a@x.com", birthday="1700000000000")])
    assert resp.status_code == 400
    assert validation_entries(resp.json())[0]["message"].endswith("UTC, not midnight!")


def test_trace_ids_turn_validation_failures_into_a_207(hubspot_fake: HubSpotFake, api: Api) -> None:
    inputs = [
        {"objectWriteTraceId": "t1", **contact("a@x.com")},
        {"objectWriteTraceId": "t2", **contact("b@x.com", lifecyclestage="alien")},
    ]
    resp = api.batch("contacts", "create", inputs)
    body = resp.json()
    assert resp.status_code == 207 and body["numErrors"] == 1 and body["status"] == "COMPLETE"
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["t1"]
    error = body["errors"][0]
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR"
    assert error["context"] == {"objectWriteTraceId": ["t2"]}
    assert validation_entries(error)[0]["error"] == "INVALID_OPTION"
    assert [p["email"] for p in hubspot_fake.objects("contacts").values()] == ["a@x.com"]


def test_validation_mode_switch(make_hubspot_fake: Callable[..., HubSpotFake]) -> None:
    strict = Api(make_hubspot_fake(validation_errors="batch"))
    traced = [{"objectWriteTraceId": "t1", **contact("a@x.com", nope="1")}]
    assert strict.batch("contacts", "create", traced).status_code == 400

    lenient_fake = make_hubspot_fake(validation_errors="per_input")
    record_id = lenient_fake.add_record("contacts", {"email": "a@x.com"})
    lenient = Api(lenient_fake)
    inputs = [{"id": record_id, "properties": {"phone": "1"}}, {"id": record_id, "properties": {"nope": "1"}}]
    assert lenient.batch("contacts", "update", inputs).status_code == 400  # duplicate ids stay a 400
    resp = lenient.batch("contacts", "update", [{"id": record_id, "properties": {"nope": "1"}}])
    assert resp.status_code == 207 and resp.json()["errors"][0]["context"] == {"ids": [record_id]}


def test_create_of_an_existing_email_is_a_409_for_the_whole_batch(
    hubspot_fake: HubSpotFake, api: Api
) -> None:
    existing = hubspot_fake.add_record("contacts", {"email": "taken@x.com"})
    resp = api.batch("contacts", "create", [contact("new@x.com"), contact("Taken@X.com")])
    body = resp.json()
    assert resp.status_code == 409 and body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {existing}"
    assert len(hubspot_fake.objects("contacts")) == 1

    twice = api.batch("contacts", "create", [contact("dup@x.com"), contact("dup@x.com")])
    assert twice.status_code == 409 and len(hubspot_fake.objects("contacts")) == 1

    traced = [
        {"objectWriteTraceId": "a", **contact("new@x.com")},
        {"objectWriteTraceId": "b", **contact("taken@x.com")},
    ]
    partial = api.batch("contacts", "create", traced).json()
    assert partial["errors"][0]["context"] == {"existingId": [existing], "objectWriteTraceId": ["b"]}
    assert hubspot_fake.find("contacts", "email", "NEW@x.com") is not None


def test_update_by_record_id_and_by_unique_property(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.add_property("contacts", "external_id", has_unique_value=True)
    first = hubspot_fake.add_record("contacts", {"email": "a@x.com", "external_id": "E1"})
    second = hubspot_fake.add_record("contacts", {"email": "b@x.com"})
    by_id = api.batch("contacts", "update", [{"id": second, "properties": {"firstname": "Bea"}}])
    assert by_id.status_code == 200 and by_id.json()["results"][0]["id"] == second
    by_unique = api.batch(
        "contacts", "update", [{"id": "E1", "idProperty": "external_id", "properties": {"firstname": "Al"}}]
    )
    assert by_unique.status_code == 200 and hubspot_fake.objects("contacts")[first]["firstname"] == "Al"
    by_email = api.batch(
        "contacts", "update", [{"id": "B@x.com", "idProperty": "email", "properties": {"city": "Oslo"}}]
    )
    assert by_email.status_code == 200 and hubspot_fake.objects("contacts")[second]["city"] == "Oslo"


def test_update_of_missing_ids_is_a_207_listing_them(hubspot_fake: HubSpotFake, api: Api) -> None:
    known = hubspot_fake.add_record("contacts", {"email": "a@x.com"})
    inputs = [
        {"id": known, "properties": {"firstname": "A"}, "objectWriteTraceId": "t0"},
        {"id": "999", "properties": {"firstname": "B"}},
        {"id": "998", "properties": {"firstname": "C"}},
        {"id": "997", "properties": {"firstname": "D"}, "objectWriteTraceId": "t3"},
    ]
    body = api.batch("contacts", "update", inputs).json()
    assert body["numErrors"] == 2 and body["results"][0]["objectWriteTraceId"] == "t0"
    grouped, traced = body["errors"]
    assert grouped["category"] == "OBJECT_NOT_FOUND" and grouped["context"] == {"ids": ["999", "998"]}
    assert grouped["message"].startswith("Could not get some CONTACT objects")
    assert traced["context"] == {"ids": ["997"], "objectWriteTraceId": ["t3"]}
    assert hubspot_fake.objects("contacts")[known]["firstname"] == "A"


def test_hs_object_id_and_non_unique_properties_are_not_id_properties(api: Api) -> None:
    for op in ("update", "upsert"):
        resp = api.batch("contacts", op, [{"id": "1", "idProperty": "hs_object_id", "properties": {}}])
        message = resp.json()["message"]
        assert resp.status_code == 400 and resp.json()["category"] == "VALIDATION_ERROR"
        assert message.startswith("Unable to perform update/upsert by non-unique 0-1 property hs_object_id")
    resp = api.batch("contacts", "upsert", [{"id": "Ada", "idProperty": "firstname", "properties": {}}])
    assert resp.status_code == 400
    assert (
        api.batch(
            "companies", "upsert", [{"id": "x.com", "idProperty": "domain", "properties": {}}]
        ).status_code
        == 400
    )


def test_upsert_creates_and_updates_with_new_flags(hubspot_fake: HubSpotFake, api: Api) -> None:
    existing = hubspot_fake.add_record("contacts", {"email": "old@x.com", "firstname": "Old"})
    inputs = [
        {
            "id": "OLD@x.com",
            "idProperty": "email",
            "properties": {"firstname": "Renamed"},
            "objectWriteTraceId": "1",
        },
        {
            "id": "new@x.com",
            "idProperty": "email",
            "properties": {"firstname": "New"},
            "objectWriteTraceId": "2",
        },
    ]
    resp = api.batch("contacts", "upsert", inputs)
    results = resp.json()["results"]
    assert resp.status_code == 200
    assert [(r["id"] == existing, r["new"], r["objectWriteTraceId"]) for r in results] == [
        (True, False, "1"),
        (False, True, "2"),
    ]
    assert results[1]["properties"]["email"] == "new@x.com"
    assert {p["firstname"] for p in hubspot_fake.objects("contacts").values()} == {"Renamed", "New"}


def test_upsert_by_custom_unique_property(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.add_property("companies", "external_id", has_unique_value=True)
    upsert = [{"id": "C-1", "idProperty": "external_id", "properties": {"name": "Acme"}}]
    first = api.batch("companies", "upsert", upsert).json()["results"][0]
    second = api.batch("companies", "upsert", [{**upsert[0], "properties": {"name": "Acme Inc"}}]).json()[
        "results"
    ][0]
    assert (first["new"], second["new"], first["id"] == second["id"]) == (True, False, True)
    assert hubspot_fake.find("companies", "external_id", "C-1").properties["name"] == "Acme Inc"  # type: ignore[union-attr]


def test_two_inputs_for_one_record_are_rejected(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.add_property("contacts", "external_id", has_unique_value=True)
    record_id = hubspot_fake.add_record("contacts", {"email": "a@x.com", "external_id": "E1"})
    same_new = [
        {"id": "n@x.com", "idProperty": "email", "properties": {}},
        {"id": "N@x.com", "idProperty": "email", "properties": {}},
    ]
    same_existing = [
        {"id": "a@x.com", "idProperty": "email", "properties": {}},
        {"id": "E1", "idProperty": "external_id", "properties": {}},
    ]
    for inputs in (same_new, same_existing):
        resp = api.batch("contacts", "upsert", inputs)
        assert resp.status_code == 400 and resp.json()["message"].startswith(
            "Duplicate IDs found in batch input"
        )
    twice = [{"id": record_id, "properties": {}}, {"id": record_id, "properties": {}}]
    assert api.batch("contacts", "update", twice).status_code == 400
    missing_twice = [{"id": "404", "properties": {}}, {"id": "404", "properties": {}}]
    assert api.batch("contacts", "update", missing_twice).status_code == 400
    assert len(hubspot_fake.objects("contacts")) == 1


@pytest.mark.parametrize("op", ["create", "update", "upsert", "read", "archive"])
def test_more_than_100_inputs_is_a_400(api: Api, op: str) -> None:
    inputs = [{"id": str(i), "idProperty": "email", "properties": {}} for i in range(101)]
    if op in ("create", "archive"):
        inputs = [{"properties": {}} if op == "create" else {"id": str(i)} for i in range(101)]
    resp = (
        api.read("contacts", [str(i) for i in range(101)])
        if op == "read"
        else api.batch("contacts", op, inputs)
    )
    assert resp.status_code == 400 and "at most 100" in resp.json()["message"]


# -- read, archive, search ------------------------------------------------------------------------------


def test_read_by_id_and_by_email_reports_missing_in_a_207(hubspot_fake: HubSpotFake, api: Api) -> None:
    record_id = hubspot_fake.add_record("contacts", {"email": "a@x.com", "firstname": "Ada"})
    resp = api.read("contacts", [record_id], properties=["firstname", "phone"])
    assert resp.status_code == 200
    assert resp.json()["results"][0]["properties"] == {"firstname": "Ada", "phone": None}

    by_email = api.read("contacts", ["A@x.com", "ghost@x.com", "nobody@x.com"], idProperty="email")
    body = by_email.json()
    assert by_email.status_code == 207 and body["results"][0]["id"] == record_id
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": NOT_FOUND_MESSAGE.format(noun="CONTACT"),
            "context": {"ids": ["ghost@x.com", "nobody@x.com"]},
        }
    ]


def test_archive_is_204_and_frees_the_email(hubspot_fake: HubSpotFake, api: Api) -> None:
    record_id = hubspot_fake.add_record("contacts", {"email": "a@x.com"})
    resp = api.batch("contacts", "archive", [{"id": record_id}, {"id": "424242"}])
    assert resp.status_code == 204 and resp.content == b""
    assert hubspot_fake.objects("contacts") == {} and hubspot_fake.record("contacts", record_id).archived  # type: ignore[union-attr]
    assert api.read("contacts", [record_id]).status_code == 207
    read_archived = {
        "inputs": [{"id": "A@x.com"}],
        "idProperty": "email",
        "properties": [],
        "propertiesWithHistory": [],
    }
    archived = api.post("/crm/v3/objects/contacts/batch/read?archived=true", read_archived).json()
    assert [(r["id"], r["archived"]) for r in archived["results"]] == [(record_id, True)]
    assert api.batch("contacts", "create", [contact("a@x.com")]).status_code == 201


def test_search_finds_companies_by_domain(hubspot_fake: HubSpotFake, api: Api) -> None:
    acme = hubspot_fake.add_record("companies", {"domain": "acme.com", "name": "Acme"})
    hubspot_fake.add_record("companies", {"domain": "other.com", "name": "Other"})
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "domain", "operator": "IN", "values": ["ACME.com", "x.io"]}]}
        ],
        "properties": ["domain"],
        "sorts": [],
        "limit": 10,
        "after": "0",
    }
    resp = api.post("/crm/v3/objects/companies/search", body)
    assert resp.status_code == 200 and resp.json()["total"] == 1
    assert resp.json()["results"][0]["id"] == acme and "X-HubSpot-RateLimit-Max" not in resp.headers


def test_list_and_get_objects_page_by_id(hubspot_fake: HubSpotFake, api: Api) -> None:
    ids = [hubspot_fake.add_record("contacts", {"email": f"{i}@x.com"}) for i in range(3)]
    first = api.get("/crm/v3/objects/contacts", limit=2).json()
    assert [r["id"] for r in first["results"]] == ids[:2] and first["paging"]["next"]["after"] == ids[2]
    assert api.get(f"/crm/v3/objects/contacts/{ids[0]}").json()["properties"]["email"] == "0@x.com"
    assert api.get("/crm/v3/objects/contacts/2@x.com", idProperty="email").json()["id"] == ids[2]
    assert api.get("/crm/v3/objects/contacts/777").status_code == 404
    assert api.get("/crm/v3/objects/widgets", limit=1).status_code == 400


# -- associations -------------------------------------------------------------------------------------


def test_associations_v4_create_default_and_read(hubspot_fake: HubSpotFake, api: Api) -> None:
    ada = hubspot_fake.add_record("contacts", {"email": "ada@x.com"})
    acme = hubspot_fake.add_record("companies", {"domain": "acme.com"})
    deal = hubspot_fake.add_record("deals", {"dealname": "D"})
    typed = {
        "inputs": [
            {
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                "from": {"id": ada},
                "to": {"id": acme},
            },
            {
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                "from": {"id": "404"},
                "to": {"id": acme},
            },
        ]
    }
    resp = api.post("/crm/v4/associations/contacts/companies/batch/create", typed)
    body = resp.json()
    assert resp.status_code == 207 and body["numErrors"] == 1
    assert body["results"] == [
        {
            "fromObjectTypeId": "0-1",
            "fromObjectId": int(ada),
            "toObjectTypeId": "0-2",
            "toObjectId": int(acme),
            "labels": ["Primary"],
        }
    ]
    default = api.post(
        "/crm/v4/associations/deals/0-2/batch/associate/default",
        {"inputs": [{"from": {"id": deal}, "to": {"id": acme}}]},
    )
    assert default.status_code == 200
    assert default.json()["results"][0]["associationSpec"] == {
        "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": 341,
    }

    listed = api.get(f"/crm/v4/objects/companies/{acme}/associations/contacts").json()["results"]
    assert listed == [
        {
            "toObjectId": int(ada),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 2, "label": "Primary"}],
        }
    ]
    assert hubspot_fake.associated("companies", acme, "deals") == [deal]
    assert [(a.from_type, a.to_type, a.type_id) for a in hubspot_fake.associations] == [
        ("contacts", "companies", 1),
        ("deals", "companies", 341),
    ]
    wrong_type = {
        "inputs": [
            {
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}],
                "from": {"id": ada},
                "to": {"id": acme},
            }
        ]
    }
    assert api.post("/crm/v4/associations/contacts/companies/batch/create", wrong_type).status_code == 400


def test_create_with_associations_links_the_new_record(hubspot_fake: HubSpotFake, api: Api) -> None:
    acme = hubspot_fake.add_record("companies", {"domain": "acme.com"})
    spec = [
        {"to": {"id": acme}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}
    ]
    resp = api.batch("contacts", "create", [{**contact("a@x.com"), "associations": spec}])
    assert resp.status_code == 201
    assert hubspot_fake.associated("companies", acme, "contacts") == [resp.json()["results"][0]["id"]]
    missing = [{"to": {"id": "31337"}, "types": spec[0]["types"]}]
    assert (
        api.batch("contacts", "create", [{**contact("b@x.com"), "associations": missing}]).status_code == 400
    )


def test_custom_objects_by_type_id_or_full_name(hubspot_fake: HubSpotFake, api: Api) -> None:
    type_id = hubspot_fake.add_custom_object(
        "cars",
        [{"name": "plate", "has_unique_value": True}, {"name": "year", "type": "number"}],
        primary_display_property="plate",
    )
    schema = api.get("/crm/v3/schemas").json()["results"][0]
    full_name = f"p_{hubspot_fake.portal_id}_cars"
    assert (schema["objectTypeId"], schema["fullyQualifiedName"], schema["primaryDisplayProperty"]) == (
        type_id,
        full_name,
        "plate",
    )
    assert "plate" in [p["name"] for p in schema["properties"]]
    upsert = [{"id": "AB-123", "idProperty": "plate", "properties": {"year": "2020"}}]
    assert api.batch(full_name, "upsert", upsert).json()["results"][0]["new"] is True
    assert api.batch(type_id, "upsert", upsert).json()["results"][0]["new"] is False
    assert api.get(f"/crm/v3/properties/{type_id}").status_code == 200
    assert api.batch("cars", "upsert", upsert).status_code == 400  # HubSpot wants the type id or full name
    assert [car["year"] for car in hubspot_fake.objects("cars").values()] == ["2020"]

    car = next(iter(hubspot_fake.objects("cars")))
    ada = hubspot_fake.add_record("contacts", {"email": "ada@x.com"})
    linked = api.post(
        f"/crm/v4/associations/{type_id}/contacts/batch/associate/default",
        {"inputs": [{"from": {"id": car}, "to": {"id": ada}}]},
    )
    assert (
        linked.status_code == 200
        and linked.json()["results"][0]["associationSpec"]["associationCategory"] == "USER_DEFINED"
    )
    assert hubspot_fake.associated("contacts", ada, "cars") == [car]


# -- limits, faults, schemas, counters ------------------------------------------------------------------


def test_rate_limit_headers_and_ten_secondly_429_per_app(
    make_hubspot_fake: Callable[..., HubSpotFake],
) -> None:
    fake = make_hubspot_fake(rate_limit_max=3, tokens={"pat-a": all_scopes(), "pat-b": all_scopes()})
    api = Api(fake, "pat-a")
    responses = [api.get("/crm/v3/properties/contacts") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    first = responses[0].headers
    assert (
        first["X-HubSpot-RateLimit-Max"] == "3"
        and first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    )
    assert (
        first["X-HubSpot-RateLimit-Daily"] == "625000"
        and first["X-HubSpot-RateLimit-Daily-Remaining"] == "624999"
    )
    body = responses[3].json()
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert Api(fake, "pat-b").get("/crm/v3/properties/contacts").status_code == 200  # another app's window


def test_daily_limit_429_and_switch(make_hubspot_fake: Callable[..., HubSpotFake]) -> None:
    fake = make_hubspot_fake(daily_limit=2)
    api = Api(fake)
    statuses = [api.get("/crm/v3/properties/contacts").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api.get("/crm/v3/properties/contacts").json()["policyName"] == "DAILY"
    fake.reset()
    assert api.get("/crm/v3/properties/contacts").status_code == 200
    fake.exhaust_daily_limit()
    exhausted = api.get("/crm/v3/properties/contacts")
    assert exhausted.status_code == 429 and exhausted.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    fake.exhaust_daily_limit(False)
    assert api.get("/crm/v3/properties/contacts").status_code == 200


def test_search_has_its_own_per_second_limit(make_hubspot_fake: Callable[..., HubSpotFake]) -> None:
    api = Api(make_hubspot_fake(search_rate_limit=1))
    body = {"filterGroups": [], "properties": [], "sorts": [], "limit": 1, "after": "0"}
    assert api.post("/crm/v3/objects/contacts/search", body).status_code == 200
    second = api.post("/crm/v3/objects/contacts/search", body)
    assert second.status_code == 429 and second.json()["policyName"] == "SECONDLY"
    assert api.get("/crm/v3/properties/contacts").status_code == 200


def test_injected_locked_then_normal_and_latency(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.inject(423, {"status": "error", "message": "locked"}, path_regex=r"/crm/v3/objects/.*")
    assert api.batch("contacts", "create", [contact("a@x.com")]).status_code == 423
    hubspot_fake.latency = 0.2
    started = time.monotonic()
    assert api.batch("contacts", "create", [contact("a@x.com")]).status_code == 201
    assert time.monotonic() - started >= 0.2


@pytest.mark.skipif(load_openapi(str(OPENAPI_DIR)) is None, reason="OpenAPI files not present")
def test_schema_check_catches_malformed_bodies(hubspot_fake: HubSpotFake, api: Api) -> None:
    bad = [
        ("/crm/v3/objects/contacts/batch/create", {"inputs": [{"properties": {"email": "a@x.com"}}]}),
        (
            "/crm/v3/objects/contacts/batch/create",
            {"inputs": [{"properties": {"age": 5}, "associations": []}]},
        ),
        ("/crm/v3/objects/contacts/batch/update", {"inputs": [{"properties": {}}]}),
        ("/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": "1"}], "properties": []}),
        (
            "/crm/v3/properties/contacts",
            {"name": "x", "label": "X", "type": "text", "fieldType": "text", "groupName": "g"},
        ),
        (
            "/crm/v4/associations/contacts/companies/batch/create",
            {
                "inputs": [
                    {
                        "from": {"id": "1"},
                        "to": {"id": "2"},
                        "types": [{"associationCategory": "X", "associationTypeId": 1}],
                    }
                ]
            },
        ),
    ]
    for path, body in bad:
        resp = api.post(path, body)
        assert resp.status_code == 400 and resp.json()["message"].startswith("Invalid input JSON"), path
    assert len(hubspot_fake.schema_violations) == len(bad)
    assert "'associations' is a required property" in hubspot_fake.schema_violations[0].message
    not_json = api.session.post(
        f"{hubspot_fake.url}/crm/v3/objects/contacts/batch/update", data=b"{", timeout=5
    )
    assert not_json.status_code == 400 and len(hubspot_fake.schema_violations) == len(bad) + 1

    hubspot_fake.schema_violations.clear()
    assert api.batch("contacts", "create", [contact("a@x.com")]).status_code == 201
    assert api.read("contacts", ["1"]).status_code == 207
    assert hubspot_fake.schema_violations == []


def test_schema_check_is_skipped_without_the_files(
    make_hubspot_fake: Callable[..., HubSpotFake], tmp_path: Any
) -> None:
    for fake in (make_hubspot_fake(openapi_dir=None), make_hubspot_fake(openapi_dir=tmp_path)):
        assert fake.openapi is None
        api = Api(fake)
        no_associations = api.post("/crm/v3/objects/contacts/batch/create", {"inputs": [contact("a@x.com")]})
        assert no_associations.status_code == 201
        assert api.post("/crm/v3/objects/contacts/batch/create", {"inputs": "nope"}).status_code == 400
        assert len(fake.schema_violations) == 1


def test_call_counters_by_endpoint_and_type(hubspot_fake: HubSpotFake, api: Api) -> None:
    api.batch("contacts", "create", [contact("a@x.com")])
    api.batch("0-1", "upsert", [{"id": "b@x.com", "idProperty": "email", "properties": {}}])
    api.batch("companies", "upsert", [{"id": "x", "idProperty": "name", "properties": {}}])
    assert hubspot_fake.call_count("objects.batch/upsert") == 2
    assert hubspot_fake.call_count("objects.batch/upsert", "contacts") == 1
    assert hubspot_fake.call_count("objects.batch/create", "0-1") == 1
    assert hubspot_fake.calls["objects.batch/create"] == 1


def test_concurrent_batches_from_many_threads_stay_consistent(hubspot_fake: HubSpotFake) -> None:
    """The benchmark drives the fake from a thread pool: every write must land exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    def upsert(worker: int) -> list[int]:
        api = Api(hubspot_fake)
        statuses = []
        for batch in range(5):
            inputs = [
                {
                    "id": f"w{worker}-{batch}-{i}@x.com",
                    "idProperty": "email",
                    "properties": {"firstname": "T"},
                }
                for i in range(20)
            ]
            statuses.append(api.batch("contacts", "upsert", inputs).status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for result in pool.map(upsert, range(8)) for status in result]
    assert set(statuses) == {200}
    assert len(hubspot_fake.objects("contacts")) == 8 * 5 * 20
    assert hubspot_fake.call_count("objects.batch/upsert", "contacts") == 40


# -- date-versioned paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", DATED_VERSIONS)
def test_objects_on_dated_paths(hubspot_fake: HubSpotFake, api: Api, version: str) -> None:
    created = api.batch("contacts", "create", [contact("a@x.com", firstname="Ada")], version=version)
    assert created.status_code == 201
    ada = created.json()["results"][0]["id"]
    base = objects_path("contacts", version)
    assert [r["id"] for r in api.get(base, limit=10).json()["results"]] == [ada]
    assert api.get(f"{base}/{ada}").json()["properties"]["email"] == "a@x.com"
    renamed = [{"id": ada, "properties": {"firstname": "Adele"}}]
    assert api.batch("contacts", "update", renamed, version=version).status_code == 200
    upsert = [{"id": "b@x.com", "idProperty": "email", "properties": {}}]
    assert api.batch("contacts", "upsert", upsert, version=version).json()["results"][0]["new"] is True
    read = api.read("contacts", [ada], version=version)
    assert read.status_code == 200 and read.json()["results"][0]["id"] == ada
    search = {
        "filterGroups": [{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "adele"}]}],
        "properties": ["email"],
        "sorts": [],
        "limit": 10,
        "after": "0",
    }
    assert [r["id"] for r in api.post(f"{base}/search", search).json()["results"]] == [ada]
    assert api.batch("contacts", "archive", [{"id": ada}], version=version).status_code == 204
    assert ada not in hubspot_fake.objects("contacts")
    assert hubspot_fake.calls_by_version() == Counter({version: 8})
    assert hubspot_fake.call_count("objects.batch/upsert", "contacts") == 1
    assert hubspot_fake.schema_violations == []


@pytest.mark.parametrize(("version", "batch_status"), [("2026-03", 201), ("2026-09", 200)])
def test_properties_groups_and_schemas_on_dated_paths(
    hubspot_fake: HubSpotFake, api: Api, version: str, batch_status: int
) -> None:
    base = f"/crm/properties/{version}/deals"
    assert "dealname" in [p["name"] for p in api.get(base).json()["results"]]
    assert api.get(f"{base}/dealname").json()["label"] == "Deal Name"
    assert api.post(f"{base}/groups", {"name": "retl", "label": "Reverse ETL"}).status_code == 201
    assert "retl" in [g["name"] for g in api.get(f"{base}/groups").json()["results"]]
    score = {"name": "score", "label": "Score", "type": "number", "fieldType": "number", "groupName": "retl"}
    assert api.post(base, score).status_code == 201
    gold = {"label": "Gold", "value": "gold", "hidden": False, "displayOrder": 0}
    tier = {**score, "name": "tier", "type": "enumeration", "fieldType": "select", "options": [gold]}
    batch = api.post(f"{base}/batch/create", {"inputs": [tier]})  # 200 from 2026-09 on, as described
    assert batch.status_code == batch_status and batch.json()["results"][0]["name"] == "tier"

    type_id = hubspot_fake.add_custom_object("cars", [{"name": "plate", "has_unique_value": True}])
    schemas = api.get(f"/crm-object-schemas/{version}/schemas").json()["results"]
    assert [schema["objectTypeId"] for schema in schemas] == [type_id]
    assert api.get(f"/crm-object-schemas/{version}/schemas/{type_id}").json()["name"] == "cars"
    assert hubspot_fake.calls_by_version() == Counter({version: 8})
    assert api.get("/crm-object-schemas/v3/schemas").json()["results"][0]["objectTypeId"] == type_id
    assert hubspot_fake.calls_by_version("schemas.list") == Counter({version: 1, LEGACY: 1})


def test_dated_property_options_need_a_display_order(hubspot_fake: HubSpotFake, api: Api) -> None:
    option = {"label": "Gold", "value": "gold", "hidden": False}
    tier = {
        "name": "tier",
        "label": "Tier",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "dealinformation",
        "options": [option],
    }
    for version in DATED_VERSIONS:
        for path, body in ((f"/crm/properties/{version}/deals", tier), ("batch/create", {"inputs": [tier]})):
            url = path if path.startswith("/") else f"/crm/properties/{version}/deals/{path}"
            resp = api.post(url, body)
            assert resp.status_code == 400 and "[displayOrder]" in resp.json()["message"], url
    assert {v.schema for v in hubspot_fake.schema_violations} == {"OptionInput"}
    assert hubspot_fake.property("deals", "tier") is None
    assert api.post("/crm/v3/properties/deals", tier).status_code == 201  # v3 does not require it
    ordered = {**tier, "name": "tier_2", "options": [{**option, "displayOrder": 1}]}
    assert api.post("/crm/properties/2026-09/deals", ordered).status_code == 201


@pytest.mark.parametrize(("version", "create_status"), [("2026-03", 201), ("2026-09", 200)])
def test_associations_on_dated_paths(
    hubspot_fake: HubSpotFake, api: Api, version: str, create_status: int
) -> None:
    ada = hubspot_fake.add_record("contacts", {"email": "ada@x.com"})
    acme = hubspot_fake.add_record("companies", {"domain": "acme.com"})
    deal = hubspot_fake.add_record("deals", {"dealname": "D"})
    base = f"/crm/associations/{version}"
    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    typed = {"inputs": [{"types": primary, "from": {"id": ada}, "to": {"id": acme}}]}
    created = api.post(f"{base}/contacts/companies/batch/create", typed)
    assert created.status_code == create_status
    assert created.json()["results"] == [  # record ids are strings on the dated paths
        {
            "fromObjectTypeId": "0-1",
            "fromObjectId": ada,
            "toObjectTypeId": "0-2",
            "toObjectId": acme,
            "labels": ["Primary"],
        }
    ]
    default = {"inputs": [{"from": {"id": deal}, "to": {"id": acme}}]}
    assert api.post(f"{base}/deals/companies/batch/associate/default", default).status_code == 200

    read = api.post(f"{base}/companies/contacts/batch/read", {"inputs": [{"id": acme}, {"id": "404"}]})
    body = read.json()
    assert read.status_code == 207
    types = [{"category": "HUBSPOT_DEFINED", "typeId": 2, "label": "Primary"}]
    assert body["results"] == [{"from": {"id": acme}, "to": [{"toObjectId": ada, "associationTypes": types}]}]
    assert body["errors"][0]["context"] == {"fromObjectId": ["404"]}

    archive = {"inputs": [{"from": {"id": ada}, "to": [{"id": acme}]}]}
    archived = api.post(f"{base}/contacts/companies/batch/archive", archive)
    assert archived.status_code == 200 and (archived.json()["status"], archived.json()["results"]) == (
        "COMPLETE",
        [],
    )
    assert hubspot_fake.associated("companies", acme, "contacts") == []
    assert hubspot_fake.associated("companies", acme, "deals") == [deal]
    assert hubspot_fake.calls_by_version()[LEGACY] == 0


def test_v4_association_batch_read_and_archive(hubspot_fake: HubSpotFake, api: Api) -> None:
    ada = hubspot_fake.add_record("contacts", {"email": "ada@x.com"})
    acme = hubspot_fake.add_record("companies", {"domain": "acme.com"})
    default = {"inputs": [{"from": {"id": ada}, "to": {"id": acme}}]}
    assert api.post("/crm/v4/associations/contacts/companies/batch/associate/default", default).ok
    read = api.post("/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": ada}]})
    types = [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]
    assert read.status_code == 200
    assert read.json()["results"] == [
        {"from": {"id": ada}, "to": [{"toObjectId": int(acme), "associationTypes": types}]}
    ]
    # archived from the other side: an association is one relation, whichever direction was written
    archive = {"inputs": [{"from": {"id": acme}, "to": [{"id": ada}]}]}
    archived = api.post("/crm/v4/associations/companies/contacts/batch/archive", archive)
    assert archived.status_code == 204 and archived.content == b""
    assert hubspot_fake.associations == []


def test_record_association_listing_and_unknown_versions(hubspot_fake: HubSpotFake, api: Api) -> None:
    ada = hubspot_fake.add_record("contacts", {"email": "ada@x.com"})
    acme = hubspot_fake.add_record("companies", {"domain": "acme.com"})
    default = {"inputs": [{"from": {"id": ada}, "to": {"id": acme}}]}
    assert api.post("/crm/associations/2026-03/contacts/companies/batch/associate/default", default).ok
    listed = api.get(f"/crm/objects/2026-03/contacts/{ada}/associations/companies").json()["results"]
    assert [item["toObjectId"] for item in listed] == [acme]
    # the 2026-09 description no longer has this GET; nor does the fake serve versions it does not know
    assert api.get(f"/crm/objects/2026-09/contacts/{ada}/associations/companies").status_code == 404
    assert api.get("/crm/objects/2025-09/contacts", limit=1).status_code == 404
    assert api.get("/crm/objects/2027-03/contacts", limit=1).status_code == 404


def test_calls_are_counted_per_api_version(hubspot_fake: HubSpotFake, api: Api) -> None:
    for path in (
        "/crm/v3/objects/contacts",
        "/crm/objects/2026-03/contacts",
        "/crm/objects/2026-09/contacts",
    ):
        assert api.get(path, limit=1).status_code == 200
    assert api.get("/crm/properties/2026-09/contacts").status_code == 200
    assert requests.post(f"{hubspot_fake.url}/oauth/2026-09/token", data=refresh_form(), timeout=5).ok
    assert hubspot_fake.calls_by_version() == Counter({LEGACY: 1, "2026-03": 1, "2026-09": 3})
    assert hubspot_fake.calls_by_version("objects.list") == Counter({LEGACY: 1, "2026-03": 1, "2026-09": 1})
    assert hubspot_fake.calls_by_version("oauth.token") == Counter({"2026-09": 1})
    assert hubspot_fake.call_count("objects.list") == 3
    hubspot_fake.reset()
    assert hubspot_fake.calls_by_version() == Counter()


@pytest.mark.parametrize("version", DATED_VERSIONS)
def test_unique_property_created_on_a_dated_path_is_an_upsert_key(
    hubspot_fake: HubSpotFake, api: Api, version: str
) -> None:
    spec = {
        "name": "external_id",
        "label": "External ID",
        "type": "string",
        "fieldType": "text",
        "groupName": "companyinformation",
        "hasUniqueValue": True,
    }
    created = api.post(f"/crm/properties/{version}/companies", spec)
    assert created.status_code == 201 and created.json()["hasUniqueValue"] is True
    upsert = [{"id": "C-1", "idProperty": "external_id", "properties": {"name": "Acme"}}]
    first = api.batch("companies", "upsert", upsert, version=version).json()["results"][0]
    again = [{**upsert[0], "properties": {"name": "Acme Inc"}}]
    second = api.batch("companies", "upsert", again, version=version).json()["results"][0]
    assert (first["new"], second["new"], second["id"]) == (True, False, first["id"])
    assert hubspot_fake.find("companies", "external_id", "C-1").properties["name"] == "Acme Inc"  # type: ignore[union-attr]
    copy = [{"properties": {"name": "Copy", "external_id": "C-1"}}]
    assert api.batch("companies", "create", copy, version=version).status_code == 409
    assert hubspot_fake.calls_by_version()[LEGACY] == 0


def test_2026_09_partial_failure_status_switch(make_hubspot_fake: Callable[..., HubSpotFake]) -> None:
    for setting, status in (("multi_status", 207), ("success_status", 200)):
        fake = make_hubspot_fake(partial_failures_2026_09=setting)
        api = Api(fake)
        known = fake.add_record("contacts", {"email": "a@x.com"})
        inputs = [{"id": known, "properties": {"firstname": "A"}}, {"id": "999", "properties": {}}]
        resp = api.batch("contacts", "update", inputs, version="2026-09")
        assert resp.status_code == status and resp.json()["numErrors"] == 1, setting
        assert api.batch("contacts", "update", inputs, version="2026-03").status_code == 207


# -- 2026-09 required-property rules ------------------------------------------------------------------


def test_2026_09_refuses_creates_that_miss_required_properties(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.require_properties("deals", ["dealname", "pipeline"])
    inputs = [{"properties": {"dealname": "Big", "pipeline": "default"}}, {"properties": {"amount": "10"}}]
    resp = api.batch("deals", "create", inputs, version="2026-09")
    body = resp.json()
    assert resp.status_code == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"] == REQUIRED_MISSING
    assert body["context"] == {"properties": ["dealname", "pipeline"]}
    assert [error["context"] for error in body["errors"]] == [
        {"propertyName": ["dealname"]},
        {"propertyName": ["pipeline"]},
    ]
    assert hubspot_fake.objects("deals") == {}
    blank = [{"properties": {"dealname": "", "pipeline": "default"}}]
    refused = api.batch("deals", "create", blank, version="2026-09")
    assert refused.status_code == 400 and refused.json()["context"] == {"properties": ["dealname"]}


def test_2026_09_rule_refusals_are_per_input_with_trace_ids(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.require_properties("deals", ["pipeline"])
    inputs = [
        {"objectWriteTraceId": "ok", "properties": {"dealname": "A", "pipeline": "default"}},
        {"objectWriteTraceId": "bad", "properties": {"dealname": "B"}},
    ]
    resp = api.batch("deals", "create", inputs, version="2026-09")
    body = resp.json()
    assert resp.status_code == 207 and [r["objectWriteTraceId"] for r in body["results"]] == ["ok"]
    assert body["errors"] == [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": REQUIRED_MISSING,
            "context": {"properties": ["pipeline"], "objectWriteTraceId": ["bad"]},
        }
    ]
    assert [deal["dealname"] for deal in hubspot_fake.objects("deals").values()] == ["A"]


@pytest.mark.parametrize(
    ("mode", "traced", "status"),
    [("hubspot", False, 400), ("hubspot", True, 207), ("batch", True, 400), ("per_input", False, 207)],
)
def test_validation_rule_errors_switch(
    make_hubspot_fake: Callable[..., HubSpotFake], mode: str, traced: bool, status: int
) -> None:
    fake = make_hubspot_fake(validation_rule_errors=mode, validation_errors="per_input")
    fake.require_properties("deals", ["pipeline"])
    inputs: list[dict[str, Any]] = [
        {"properties": {"dealname": "A", "pipeline": "default"}},
        {"properties": {"dealname": "B"}},
    ]
    if traced:
        inputs = [{"objectWriteTraceId": str(i), **item} for i, item in enumerate(inputs)]
    resp = Api(fake).batch("deals", "create", inputs, version="2026-09")
    assert resp.status_code == status
    error = resp.json()["errors"][0] if status == 207 else resp.json()
    assert error["context"]["properties"] == ["pipeline"]
    assert len(fake.objects("deals")) == (1 if status == 207 else 0)


def test_2026_09_updates_may_not_clear_required_properties(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.require_properties("deals", ["dealname"])
    deal = hubspot_fake.add_record("deals", {"dealname": "Big"})
    older = hubspot_fake.add_record("deals", {"amount": "5"})  # written before the rule
    cleared = api.batch("deals", "update", [{"id": deal, "properties": {"dealname": ""}}], version="2026-09")
    assert cleared.status_code == 400
    assert cleared.json()["message"] == "Error updating DEAL.  Some required properties were not set."
    assert hubspot_fake.objects("deals")[deal]["dealname"] == "Big"
    other = api.batch("deals", "update", [{"id": older, "properties": {"amount": "6"}}], version="2026-09")
    assert other.status_code == 200


def test_2026_09_upserts_follow_the_rules_of_the_write_they_become(
    hubspot_fake: HubSpotFake, api: Api
) -> None:
    hubspot_fake.add_property("deals", "deal_key", has_unique_value=True)
    hubspot_fake.require_properties("deals", ["dealname"])
    hubspot_fake.add_record("deals", {"deal_key": "K1"})
    existing = {"id": "K1", "idProperty": "deal_key", "properties": {"amount": "1"}}
    new = {"id": "K2", "idProperty": "deal_key", "properties": {"amount": "2"}}
    refused = api.batch("deals", "upsert", [existing, new], version="2026-09")
    assert refused.status_code == 400 and refused.json()["message"] == REQUIRED_MISSING
    updated = api.batch("deals", "upsert", [existing], version="2026-09")
    assert updated.status_code == 200 and updated.json()["results"][0]["new"] is False
    named = api.batch("deals", "upsert", [{**new, "properties": {"dealname": "K2"}}], version="2026-09")
    assert named.status_code == 200 and named.json()["results"][0]["new"] is True


def test_2026_09_conditional_required_property(hubspot_fake: HubSpotFake, api: Api) -> None:
    hubspot_fake.require_properties("deals", ["closedate"], when={"dealstage": "closedwon"})
    open_deal = [{"properties": {"dealname": "A", "dealstage": "qualifiedtobuy"}}]
    created = api.batch("deals", "create", open_deal, version="2026-09")
    assert created.status_code == 201
    won = {"id": created.json()["results"][0]["id"], "properties": {"dealstage": "closedwon"}}
    refused = api.batch("deals", "update", [won], version="2026-09")
    assert refused.status_code == 400 and refused.json()["context"] == {"properties": ["closedate"]}
    dated = {**won, "properties": {"dealstage": "closedwon", "closedate": "2026-09-30"}}
    assert api.batch("deals", "update", [dated], version="2026-09").status_code == 200
    won_unclosed = [{"properties": {"dealname": "B", "dealstage": "closedwon"}}]
    assert api.batch("deals", "create", won_unclosed, version="2026-09").status_code == 400


@pytest.mark.parametrize("version", [LEGACY, "2026-03"])
def test_rules_are_not_enforced_before_2026_09(hubspot_fake: HubSpotFake, api: Api, version: str) -> None:
    hubspot_fake.require_properties("deals", ["dealname", "pipeline"])
    created = api.batch("deals", "create", [{"properties": {"amount": "10"}}], version=version)
    assert created.status_code == 201
    deal = created.json()["results"][0]["id"]
    hubspot_fake.add_record("deals", {"dealname": "Named"})
    cleared = [{"id": deal, "properties": {"amount": ""}}]
    assert api.batch("deals", "update", cleared, version=version).status_code == 200
    hubspot_fake.clear_data()  # the rules go with the data
    assert (
        api.batch("deals", "create", [{"properties": {"amount": "1"}}], version="2026-09").status_code == 201
    )


# -- service keys and token introspection -------------------------------------------------------------


def test_service_keys_are_bearer_credentials_with_their_scopes(hubspot_fake: HubSpotFake) -> None:
    hubspot_fake.add_service_key("sk-read", ["crm.objects.contacts.read"])
    reader = Api(hubspot_fake, "sk-read")
    listed = reader.get("/crm/objects/2026-09/contacts", limit=1)
    assert listed.status_code == 200
    assert (
        listed.headers["X-HubSpot-RateLimit-Max"] == "190" and "X-HubSpot-RateLimit-Daily" in listed.headers
    )
    refused = reader.batch("contacts", "create", [contact("a@x.com")], version="2026-09")
    assert refused.status_code == 403 and refused.json()["category"] == "MISSING_SCOPES"
    assert refused.json()["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    hubspot_fake.add_service_key("sk-read", ["crm.objects.contacts.read", "crm.objects.contacts.write"])
    assert reader.batch("contacts", "create", [contact("a@x.com")], version="2026-09").status_code == 201
    unknown = Api(hubspot_fake, "sk-unknown").get("/crm/objects/2026-09/contacts", limit=1)
    assert unknown.status_code == 401 and unknown.json()["category"] == "INVALID_AUTHENTICATION"


def test_a_service_key_has_its_own_rate_limit_window(make_hubspot_fake: Callable[..., HubSpotFake]) -> None:
    fake = make_hubspot_fake(rate_limit_max=1)
    fake.add_service_key("sk", all_scopes())
    path = "/crm/objects/2026-09/contacts"
    assert [Api(fake).get(path).status_code for _ in range(2)] == [200, 429]
    key = Api(fake, "sk")
    assert key.get(path).status_code == 200
    limited = key.get(path)
    assert (
        limited.status_code == 429
        and limited.json()["groupName"] == f"publicapi:service-key:{fake.portal_id}"
    )


def test_private_app_token_info_tells_read_from_write_scopes(
    make_hubspot_fake: Callable[..., HubSpotFake],
) -> None:
    fake = make_hubspot_fake(tokens={CONTACTS_READ_ONLY: ["crm.objects.contacts.read"]})
    write = ["crm.objects.contacts.read", "crm.objects.contacts.write"]
    fake.add_service_key("sk-write", write)
    url = f"{fake.url}/oauth/v2/private-apps/get/access-token-info"

    def info(body: Any) -> requests.Response:
        return requests.post(url, json=body, timeout=5)

    read_only = info({"tokenKey": CONTACTS_READ_ONLY})
    assert read_only.status_code == 200 and read_only.json()["scopes"] == ["crm.objects.contacts.read"]
    assert read_only.json()["hubId"] == fake.portal_id and {"userId", "appId"} <= set(read_only.json())
    assert (
        info({"tokenKey": "sk-write"}).status_code == 401
    )  # not documented for service keys: off by default
    fake.service_key_token_info = True
    assert info({"tokenKey": "sk-write"}).json()["scopes"] == write
    assert info({"tokenKey": "pat-unknown"}).status_code == 401
    assert info({}).status_code == 400
    assert fake.calls_by_version("oauth.private-app-token-info") == Counter({LEGACY: 5})


@pytest.mark.parametrize("version", ["v3", *DATED_VERSIONS])
def test_oauth_token_and_introspection_on_v3_and_dated_paths(hubspot_fake: HubSpotFake, version: str) -> None:
    base = f"{hubspot_fake.url}/oauth/{version}"

    def introspect(**form: str) -> requests.Response:
        return requests.post(f"{base}/token/introspect", data=CLIENT | form, timeout=5)

    grant = requests.post(f"{base}/token", data=refresh_form(), timeout=5)
    assert grant.status_code == 200 and grant.json()["token_use"] == "access_token"
    token = grant.json()["access_token"]
    access = introspect(token=token, token_type_hint="access_token").json()
    assert (access["active"], access["token_use"], access["client_id"]) == (
        True,
        "access_token",
        DEFAULT_CLIENT_ID,
    )
    assert access["scopes"] == sorted(all_scopes()) and access["hub_id"] == hubspot_fake.portal_id
    refresh = introspect(token=DEFAULT_REFRESH_TOKEN).json()
    assert (refresh["active"], refresh["token_use"]) == (True, "refresh_token")
    assert introspect(token=DEFAULT_TOKEN).json() == {"active": False}  # a private-app token is not OAuth's
    hubspot_fake.expire_access_tokens()
    assert introspect(token=token).json() == {"active": False}
    wrong = introspect(token=token, client_secret="wrong")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    stale = requests.post(f"{base}/token", data=refresh_form(refresh_token="stale"), timeout=5)
    assert stale.status_code == 400 and (stale.json()["error"], stale.json()["status"]) == (
        "invalid_grant",
        "BAD_REFRESH_TOKEN",
    )
    assert set(hubspot_fake.calls_by_version()) == {LEGACY if version == "v3" else version}


def test_command_line_serves_dated_paths_to_a_service_key() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.fakes.hubspot", "--port", "0", "--service-key", "sk-demo"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().strip()
        assert banner.startswith("HubSpot fake on http://127.0.0.1:")
        url = banner.removeprefix("HubSpot fake on ").split(" ")[0]
        headers = {"Authorization": "Bearer sk-demo"}
        resp = requests.get(f"{url}/crm/objects/2026-09/contacts", headers=headers, timeout=5)
        assert resp.status_code == 200 and resp.json() == {"results": []}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=5)
    assert proc.returncode == 0
