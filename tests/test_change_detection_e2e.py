"""A model without a cursor, diffed by the source, into every destination through `retl run`.

The first sync sends every row as added; after an update, a delete and an insert in the warehouse, the
second sends exactly those three, and each destination does what the mapping's `on_delete` says with
the deleted row (HubSpot archives, Customer.io and Clarify delete, the webhook receives it marked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fakes.clarify import ClarifyFake
from tests.fakes.customerio import API_KEY, SITE_ID, CustomerIoFake
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_stream, retl_run

pytestmark = pytest.mark.slow

STREAM = "account_health"


def warehouse(tmp_path: Path, key: str = "account_id") -> tuple[Path, dict[str, Any]]:
    """Accounts 1-5, diffed by ``key`` (a deleted row carries only its key: the destination's match key
    must come from it)."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE accounts (account_id INTEGER, email VARCHAR, plan VARCHAR)")
        connection.execute(
            "INSERT INTO accounts SELECT i, 'a' || i || '@x.com', 'free' FROM range(1, 6) t(i)"
        )
    source = {
        "warehouse": {"type": "duckdb", "path": str(path), "bookkeeping_path": str(tmp_path / "book.duckdb")},
        "models": [{"name": STREAM, "relation": "accounts", "primary_key": [key],
                    "change_detection": "diff"}],
    }  # fmt: skip
    return path, source


def change(path: Path) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute("UPDATE accounts SET plan = 'pro' WHERE account_id = 2")
        connection.execute("DELETE FROM accounts WHERE account_id = 3")
        connection.execute("INSERT INTO accounts VALUES (6, 'a6@x.com', 'free')")


def catalog(key: str = "account_id") -> dict[str, Any]:
    return {"streams": [configured_stream(STREAM, "append_dedup", [key])]}


def two_syncs(tmp_path: Path, destination: str, config: dict[str, Any], key: str = "account_id") -> None:
    path, source = warehouse(tmp_path, key)
    first = retl_run(tmp_path, destination, source, config, catalog(key))
    assert "account_health: added 5, updated 0, deleted 0, unmodified 0" in first.stdout
    change(path)
    second = retl_run(tmp_path, destination, source, config, catalog(key))
    assert "account_health: added 1, updated 1, deleted 1, unmodified 3" in second.stdout


def test_the_webhook_receives_exactly_the_changes_and_the_deleted_row_marked(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = {"url": f"{webhook_receiver.url}/hooks", "streams": [{"stream": STREAM, "on_delete": "delete"}]}
    two_syncs(tmp_path, "destination-webhook", config)
    second = webhook_receiver.received_records()[5:]
    changes = {(r["account_id"], r["_retl_change"]) for r in second}
    assert changes == {(2, "updated"), (3, "deleted"), (6, "added")}
    [deleted] = [r for r in second if r["_retl_change"] == "deleted"]
    assert deleted.get("plan") is None and deleted["_ab_cdc_deleted_at"]


def test_send_filters_the_changes_a_stream_gets(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    config = {"url": f"{webhook_receiver.url}/hooks", "streams": [{"stream": STREAM, "send": ["added"]}]}
    two_syncs(tmp_path, "destination-webhook", config)
    assert [r["account_id"] for r in webhook_receiver.received_records()[5:]] == [6]


def test_hubspot_archives_the_contact_of_a_deleted_row(hubspot_fake: HubSpotFake, tmp_path: Path) -> None:
    hubspot_fake.add_property("contacts", "plan", "string")
    mapping = {"stream": STREAM, "object": "contacts", "operation": "upsert", "match_key": ["email"],
               "fields": {"email": "email", "plan": "plan"}, "unmapped_columns": "drop",
               "on_delete": "archive"}  # fmt: skip
    config = {"credentials": {"auth_type": "private_app", "access_token": "pat-good"},
              "api_base_url": hubspot_fake.url, "streams": [mapping]}  # fmt: skip
    two_syncs(tmp_path, "destination-hubspot", config, key="email")
    contacts = {c["email"]: c for c in hubspot_fake.objects("contacts").values()}
    assert set(contacts) == {"a1@x.com", "a2@x.com", "a4@x.com", "a5@x.com", "a6@x.com"}
    assert contacts["a2@x.com"]["plan"] == "pro"
    archived = hubspot_fake.find_all("contacts", "email", "a3@x.com")
    assert archived == []  # archived records are not active


def test_customerio_deletes_the_person_of_a_deleted_row(
    customerio_fake: CustomerIoFake, tmp_path: Path
) -> None:
    mapping = {"stream": STREAM, "object": "person", "fields": {"account_id": "id"}, "on_delete": "delete"}
    config = {
        "site_id": SITE_ID,
        "api_key": API_KEY,
        "api_base_url": customerio_fake.url,
        "streams": [mapping],
    }
    two_syncs(tmp_path, "destination-customerio", config)
    assert customerio_fake.person(id="3") is None
    assert customerio_fake.person(id="2").attributes["plan"] == "pro"  # type: ignore[union-attr]
    assert customerio_fake.person(id="6") is not None


def test_clarify_deletes_the_person_of_a_deleted_row(clarify_fake: ClarifyFake, tmp_path: Path) -> None:
    mapping = {"stream": STREAM, "object": "person", "fields": {"email": "email_addresses"},
               "unmapped_columns": "drop", "on_delete": "delete"}  # fmt: skip
    config = {"workspace_slug": "acme", "api_key": "clarify-key-good", "api_base_url": clarify_fake.url,
              "requests_per_second": 100, "streams": [mapping]}  # fmt: skip
    two_syncs(tmp_path, "destination-clarify", config, key="email")
    emails = sorted(e for r in clarify_fake.records("person") for e in r["email_addresses"])
    assert emails == ["a1@x.com", "a2@x.com", "a4@x.com", "a5@x.com", "a6@x.com"]


def test_an_on_delete_a_destination_cannot_do_fails_before_anything_is_sent(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    mapping = {"stream": STREAM, "object": "contacts", "match_key": ["email"], "on_delete": "delete"}
    config = {"credentials": {"auth_type": "private_app", "access_token": "pat-good"},
              "api_base_url": hubspot_fake.url, "streams": [mapping]}  # fmt: skip
    _, source = warehouse(tmp_path, "email")
    run = retl_run(tmp_path, "destination-hubspot", source, config, catalog("email"), check=False)
    assert run.returncode == 1
    assert "on_delete 'delete' is not possible here; use one of ignore, archive, clear" in run.stderr
    assert hubspot_fake.objects("contacts") == {}


def test_deletes_need_a_match_key_that_comes_from_the_primary_key(
    hubspot_fake: HubSpotFake, tmp_path: Path
) -> None:
    mapping = {"stream": STREAM, "object": "contacts", "match_key": ["email"], "on_delete": "archive"}
    config = {"credentials": {"auth_type": "private_app", "access_token": "pat-good"},
              "api_base_url": hubspot_fake.url, "streams": [mapping]}  # fmt: skip
    _, source = warehouse(tmp_path)  # keyed by account_id
    run = retl_run(tmp_path, "destination-hubspot", source, config, catalog(), check=False)
    assert run.returncode == 1
    assert "needs the match key (email) to come from the stream's primary key (account_id)" in run.stderr
