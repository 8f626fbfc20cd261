"""Behaviour of the Clarify fake, exercised over real sockets with `requests`.

These tests pin the wire contract the destination is built against (api-contracts.md, Clarify section;
docs/vendor-facts-customerio-clarify.md), switch by switch, so a change to the fake that would let a
wrong client pass shows up here first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.fakes.clarify import DEFAULT_KEY, DEFAULT_SLUG, ClarifyFake

MakeFake = Callable[..., ClarifyFake]


class Api:
    """A thin Clarify client so tests read as Clarify calls."""

    def __init__(self, fake: ClarifyFake) -> None:
        self.base = f"{fake.url}/v1/workspaces/{DEFAULT_SLUG}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"api-key {DEFAULT_KEY}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}{path}", params=params, timeout=5)

    def send(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", json=body, timeout=5)

    def bulk(self, name: str, *attributes: dict[str, Any]) -> requests.Response:
        data = [{"type": name, "attributes": a} for a in attributes]
        return self.send("POST", f"/objects/{name}/records/bulk", {"data": data})

    def create(self, object_name: str, /, **attributes: Any) -> str:
        body = {"data": {"type": object_name, "attributes": attributes}}
        response = self.send("POST", f"/objects/{object_name}/records", body)
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])

    def lookup(self, name: str, **params: Any) -> requests.Response:
        return self.get(f"/objects/{name}/resources", **params)

    def ids(self, name: str, **params: Any) -> list[str]:
        response = self.lookup(name, **params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    def relate(self, method: str, person: str, *companies: str) -> requests.Response:
        body = {"data": [{"id": c, "type": "company"} for c in companies]}
        return self.send(method, f"/objects/person/records/{person}/relationships/companies", body)


@pytest.fixture
def api(clarify_fake: ClarifyFake) -> Api:
    return Api(clarify_fake)


def emails(*addresses: str) -> dict[str, list[str]]:
    return {"items": list(addresses)}


# -- duplicates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "title"), [(400, "Duplicate Record"), (409, "Conflict"), (422, "Validation Error")]
)
def test_refused_duplicates_answer_the_switched_status_and_say_duplicate(
    make_clarify_fake: MakeFake, status: int, title: str
) -> None:
    fake = make_clarify_fake(upsert="reject", duplicate_status=status)
    fake.add_record("person", {"email_addresses": ["ada@x.com"]})
    api = Api(fake)
    response = api.bulk(
        "person",
        {"email_addresses": emails("new@x.com")},
        {"email_addresses": emails("ADA@x.com")},
        {"email_addresses": emails("twin@x.com")},
        {"email_addresses": emails("twin@x.com")},
    )
    assert response.status_code == status
    errors = response.json()["errors"]
    assert [(e["status"], e["title"], e["source"]["pointer"]) for e in errors] == [
        (str(status), title, "/data/1/attributes/email_addresses"),
        (str(status), title, "/data/3/attributes/email_addresses"),
    ]
    assert errors[0]["detail"] == "Duplicate record found for email: ada@x.com"
    assert len(fake.records("person")) == 1  # atomic: nothing was written
    domain = api.bulk("company", {"name": "A", "domains": {"items": ["a.com"]}})
    again = api.bulk("company", {"name": "A2", "domains": {"items": ["A.com"]}})
    assert domain.status_code == 201
    assert again.json()["errors"][0]["detail"] == "Duplicate record found for domain: a.com"


def test_validation_problems_outrank_duplicates(make_clarify_fake: MakeFake) -> None:
    fake = make_clarify_fake(upsert="reject", duplicate_status=409)
    fake.add_record("person", {"email_addresses": ["ada@x.com"]})
    response = Api(fake).bulk("person", {"email_addresses": emails("ada@x.com")}, {"stage": "nope"})
    assert response.status_code == 422 and {e["status"] for e in response.json()["errors"]} == {"409", "422"}


# -- lookups: filter forms and operators -----------------------------------------------------------


def test_contains_matches_substrings_of_collection_items_and_the_bare_form_whole_items(
    clarify_fake: ClarifyFake, api: Api
) -> None:
    ada = clarify_fake.add_record("person", {"email_addresses": ["a@x.com"]})
    aada = clarify_fake.add_record("person", {"email_addresses": ["other@y.com", "AA@x.com"]})
    assert api.ids("person", **{"filter[email_addresses][Contains]": "a@x.com"}) == [ada, aada]
    assert api.ids("person", **{"filter[email_addresses]": "A@x.com"}) == [ada]
    assert api.ids("person", **{"filter[email_addresses][Does not contain]": "aa@"}) == [ada]


@pytest.mark.parametrize(
    ("filter_form", "bare", "operator"), [("both", 200, 200), ("operator", 400, 200), ("bare", 200, 400)]
)
def test_filter_form_switch_refuses_the_other_form(
    make_clarify_fake: MakeFake, filter_form: str, bare: int, operator: int
) -> None:
    api = Api(make_clarify_fake(filter_form=filter_form))
    bare_form = api.lookup("person", **{"filter[email_addresses]": "a@x.com"})
    operator_form = api.lookup("person", **{"filter[email_addresses][Contains]": "a@x.com"})
    assert (bare_form.status_code, operator_form.status_code) == (bare, operator)
    hints = {"use filter[field][Operator]=value": bare_form, "use filter[field]=value": operator_form}
    for hint, response in hints.items():
        assert (response.status_code == 400) is (hint in response.text)


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"filter[email_addresses][contains]": "a"}, "Operator 'contains' does not apply"),
        ({"filter[email_addresses][Is]": "a@x.com"}, "use Contains, Does not contain"),
        ({"filter[lead_score][Contains]": "1"}, "(a number field)"),
        ({"filter[nickname]": "x"}, "unknown field 'nickname'"),
        ({"filter[lead_score][Greater than]": "many"}, "'many' is no number value"),
        ({"filter[is_vip][Is]": "yes"}, "'yes' is no boolean value"),
        ({"page[limit]": "0"}, "must be counts"),
        ({"page[offset]": "x"}, "must be counts"),
    ],
)
def test_unusable_filters_and_pages_are_400(api: Api, params: dict[str, str], detail: str) -> None:
    response = api.lookup("person", **params)
    assert response.status_code == 400 and detail in response.json()["errors"][0]["detail"]


def test_documented_operators_per_field_type(clarify_fake: ClarifyFake, api: Api) -> None:
    ada = clarify_fake.add_record(
        "person",
        {
            "name": "Ada Lovelace",
            "lead_score": 90,
            "stage": "Customer",
            "is_vip": True,
            "last_order_date": "2024-03-01",
        },
    )
    bob = clarify_fake.add_record(
        "person",
        {
            "name": "Bob Ross",
            "lead_score": 40,
            "stage": "Lead",
            "is_vip": False,
            "last_order_date": "2024-01-15",
        },
    )
    nobody = clarify_fake.add_record("person", {"name": "Nobody"})
    cases = {
        "filter[name][Starts with]": ("ada", [ada]),
        "filter[name][Ends with]": ("ROSS", [bob]),
        "filter[name][Is not]": ("Bob Ross", [ada, nobody]),
        "filter[lead_score][Greater than or equal]": ("90", [ada]),
        "filter[lead_score][Less than]": ("90", [bob]),
        "filter[stage][One of]": ("Lead,Qualified", [bob]),
        "filter[stage][Not one of]": ("Lead", [ada, nobody]),
        "filter[stage][Is]": ("customer", []),  # select options are case-sensitive
        "filter[is_vip][Is]": ("false", [bob]),
        "filter[last_order_date][Is on or after]": ("2024-02-01", [ada]),
        "filter[last_order_date][Is before]": ("2024-02-01", [bob]),
        "filter[id][Is]": (bob, [bob]),
    }
    for key, (value, expected) in cases.items():
        assert api.ids("person", **{key: value}) == expected, key
    both = {"filter[lead_score][Greater than]": "10", "filter[name][Contains]": "o"}  # conditions AND
    assert api.ids("person", **both) == [ada, bob]


# -- lookups: pagination ---------------------------------------------------------------------------


def test_pages_default_to_25_and_links_lead_through_every_page(clarify_fake: ClarifyFake, api: Api) -> None:
    made = [clarify_fake.add_record("person", {"email_addresses": [f"p{i}@x.com"]}) for i in range(60)]
    first = api.lookup("person", **{"filter[email_addresses][Contains]": "@x.com"}).json()
    assert len(first["data"]) == 25 and "prev" not in first["links"]
    assert first["meta"] == {"total_records": 60, "total_pages": 3, "offset": 0, "limit": 25}
    seen, url = (
        [],
        f"{api.base}/objects/person/resources?filter[email_addresses][Contains]=%40x.com&page[limit]=20",
    )
    while url:
        page = api.session.get(url, timeout=5).json()
        seen += [item["id"] for item in page["data"]]
        assert ("prev" in page["links"]) is (page["meta"]["offset"] > 0)
        url = page["links"].get("next")
    assert seen == made


def test_page_size_is_capped_at_1000(clarify_fake: ClarifyFake, api: Api) -> None:
    for i in range(3):
        clarify_fake.add_record("person", {"name": f"p{i}"})
    page = api.lookup("person", **{"page[limit]": "5000", "page[offset]": "1"}).json()
    assert page["meta"] == {"total_records": 3, "total_pages": 1, "offset": 1, "limit": 1000}
    assert len(page["data"]) == 2 and "next" not in page["links"] and "offset%5D=0" in page["links"]["prev"]


# -- schemas ---------------------------------------------------------------------------------------


def test_schemas_come_as_a_dict_or_a_list(make_clarify_fake: MakeFake) -> None:
    as_dict = Api(make_clarify_fake()).get("/schemas").json()["data"]
    as_list = Api(make_clarify_fake(schemas_layout="list")).get("/schemas").json()["data"]
    assert "email_addresses" in as_dict["core/person"]["properties"]
    assert [item["id"] for item in as_list] == list(as_dict)
    assert all(item["type"] == "schema" and item["attributes"] == as_dict[item["id"]] for item in as_list)


# -- relationships ---------------------------------------------------------------------------------


def test_relationships_are_replaced_removed_and_read(clarify_fake: ClarifyFake, api: Api) -> None:
    acme, initech, globex = (api.create("company", name=n) for n in ("Acme", "Initech", "Globex"))
    ada = api.create("person", email_addresses=emails("ada@x.com"))
    assert api.relate("PATCH", ada, acme, initech).json()["data"] == [
        {"id": acme, "type": "company"},
        {"id": initech, "type": "company"},
    ]
    assert api.relate("PATCH", ada, initech, globex).status_code == 200  # replaces, not adds
    assert clarify_fake.related("person", ada, "companies") == [initech, globex]
    removed = api.relate("DELETE", ada, initech)
    assert removed.status_code == 204 and removed.content == b""
    read = api.get(f"/objects/person/records/{ada}/relationships/companies")
    assert read.json() == {"data": [{"id": globex, "type": "company"}]}


def test_company_id_links_a_person_or_deal_when_written(clarify_fake: ClarifyFake, api: Api) -> None:
    acme, initech = api.create("company", name="Acme"), api.create("company", name="Initech")
    ada = api.create("person", email_addresses=emails("ada@x.com"), company_id=acme)
    assert "company_id" not in clarify_fake.record("person", ada)  # type: ignore[operator]
    body = {"data": {"attributes": {"company_id": initech}}}
    assert api.send("PATCH", f"/objects/person/records/{ada}", body).status_code == 200
    assert clarify_fake.related("person", ada, "companies") == [acme, initech]
    deal = api.create("deal", name="Renewal", company_id=acme)
    assert clarify_fake.related("deal", deal, "companies") == [acme]


@pytest.mark.parametrize(
    ("call", "status", "detail"),
    [
        (lambda api, p, c: api.relate("PATCH", p, "com_999999"), 404, "No company with id 'com_999999'."),
        (
            lambda api, p, c: api.send(
                "PATCH",
                f"/objects/person/records/{p}/relationships/companies",
                {"data": [{"id": p, "type": "person"}]},
            ),
            422,
            "type must be 'company'.",
        ),
        (lambda api, p, c: api.relate("PATCH", "per_999999", c), 404, "No person with id 'per_999999'."),
        (
            lambda api, p, c: api.send("GET", f"/objects/company/records/{c}/relationships/people"),
            404,
            "company has no relationship 'people'.",
        ),
        (
            lambda api, p, c: api.bulk("person", {"company_id": "com_999999"}),
            422,
            "company_id 'com_999999' is no company.",
        ),
        (lambda api, p, c: api.bulk("company", {"name": "X", "company_id": c}), 422, "Unknown attribute"),
    ],
)
def test_bad_relationship_requests(
    api: Api, call: Callable[..., requests.Response], status: int, detail: str
) -> None:
    company = api.create("company", name="Acme")
    person = api.create("person", email_addresses=emails("ada@x.com"))
    response = call(api, person, company)
    assert response.status_code == status and detail in response.json()["errors"][0]["detail"]


# -- deletes ---------------------------------------------------------------------------------------


def test_delete_removes_the_record_and_its_links(clarify_fake: ClarifyFake, api: Api) -> None:
    acme = api.create("company", name="Acme")
    ada = api.create("person", email_addresses=emails("ada@x.com"), company_id=acme)
    bob = api.create("person", email_addresses=emails("bob@x.com"), company_id=acme)
    assert api.send("DELETE", f"/objects/company/records/{acme}").status_code == 204
    assert api.get(f"/objects/company/records/{acme}").status_code == 404
    assert clarify_fake.related("person", ada, "companies") == []
    assert api.send("DELETE", f"/objects/person/records/{bob}").status_code == 204
    assert [r["id"] for r in clarify_fake.records("person")] == [ada]
    assert ("person", bob, "companies") not in clarify_fake.links
    assert api.send("DELETE", f"/objects/person/records/{bob}").status_code == 404


def test_record_delete_switch_removes_the_endpoint(make_clarify_fake: MakeFake) -> None:
    fake = make_clarify_fake(record_delete=False)
    ada = fake.add_record("person", {"email_addresses": ["ada@x.com"]})
    assert Api(fake).send("DELETE", f"/objects/person/records/{ada}").status_code == 404
    assert fake.record("person", ada) is not None


# -- domains ---------------------------------------------------------------------------------------


def test_exact_domain_matching_keeps_www_apart_and_refuses_urls(clarify_fake: ClarifyFake, api: Api) -> None:
    api.create("company", name="Acme", domains={"items": ["acme.com"]})
    api.create("company", name="Acme www", domains={"items": ["WWW.acme.com"]})
    assert len(clarify_fake.records("company")) == 2
    url = api.bulk("company", {"name": "Acme url", "domains": {"items": ["https://acme.com/"]}})
    assert url.status_code == 422 and "invalid domain" in url.json()["errors"][0]["detail"]
    assert len(api.ids("company", **{"filter[domains]": "acme.com"})) == 1


def test_normalised_domain_matching_folds_scheme_www_path_and_case(make_clarify_fake: MakeFake) -> None:
    fake = make_clarify_fake(domain_matching="normalised")
    api = Api(fake)
    acme = api.create("company", name="Acme", domains={"items": ["https://www.Acme.com/about"]})
    assert api.create("company", name="Acme again", domains={"items": ["acme.com"]}) == acme  # upserted
    assert fake.records("company")[0]["domains"] == ["acme.com"]
    assert api.ids("company", **{"filter[domains]": "WWW.ACME.COM"}) == [acme]


# -- rate limit ------------------------------------------------------------------------------------


def test_requests_per_second_allows_exactly_that_many(make_clarify_fake: MakeFake) -> None:
    api = Api(make_clarify_fake(requests_per_second=2))
    responses = [api.get("/schemas") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[-1].headers["Retry-After"] == "1"
    assert responses[-1].json()["errors"][0]["title"] == "Too Many Requests"
