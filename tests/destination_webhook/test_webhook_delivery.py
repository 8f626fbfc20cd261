"""destination-webhook (issue 5): body formats, templates, Standard Webhooks signing, idempotent delivery."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from destination_webhook.destination import DestinationWebhook
from destination_webhook.signing import Signer
from tests.fakes.webhook import WebhookReceiver, verify_signature
from tests.harness import configured_catalog, record_line, run_destination, state_line

KEY_OLD = "whsec_" + base64.b64encode(b"old-key-0123456789abcdef").decode()
KEY_NEW = "whsec_" + base64.b64encode(b"new-key-0123456789abcdef").decode()


def people(n: int, start: int = 0) -> list[bytes]:
    return [
        record_line("people", {"id": i, "email": f"p{i}@x.com", "plan": "pro"})
        for i in range(start, start + n)
    ]


def write(tmp_path: Path, config: dict[str, Any], lines: list[bytes], stream: str = "people") -> Any:
    run = run_destination(DestinationWebhook, tmp_path, "write", config, configured_catalog(stream), lines)
    assert run.code == 0, run.error
    return run


def test_body_formats(make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path) -> None:
    receiver = make_webhook_receiver()
    base = {"url": f"{receiver.url}/in", "batch_size": 3, "max_concurrency": 1}
    write(tmp_path, {**base, "body_format": "ndjson"}, people(3))
    write(tmp_path, {**base, "body_format": "envelope"}, people(3))
    write(tmp_path, {**base, "body_format": "json_array"}, people(3))
    ndjson, envelope, array = receiver.deliveries
    assert ndjson.request.headers["Content-Type"] == "application/x-ndjson"
    assert ndjson.body.count(b"\n") == 3 and ndjson.records == array.records
    assert envelope.parsed["stream"] == "people" and envelope.parsed["count"] == 3
    assert (
        envelope.parsed["records"]
        == array.parsed
        == [{"id": i, "email": f"p{i}@x.com", "plan": "pro"} for i in range(3)]
    )


def test_max_body_bytes_splits_batches(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    lines = [record_line("people", {"id": i, "blob": "x" * 300}) for i in range(10)]
    write(tmp_path, {"url": webhook_receiver.url, "batch_size": 100, "max_body_bytes": 1024}, lines)
    assert all(len(d.body) <= 1024 for d in webhook_receiver.deliveries)
    assert len(webhook_receiver.deliveries) >= 4
    assert sorted(r["id"] for r in webhook_receiver.received_records()) == list(range(10))


def test_payload_template_and_templated_urls(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    mapping = {
        "stream": "people",
        "url": f"{webhook_receiver.url}/users/{{{{ record.id }}}}/traits?plan={{{{ record.plan }}}}",
        "payload_template": '{"userId": {{ record.id }}, "traits": {"email": {{ record.email | tojson }}}}',
    }
    broken = record_line("people", {"email": "no-id@x.com", "plan": "pro"})
    run = write(
        tmp_path,
        {"url": "https://unused.example", "batch_size": 10, "streams": [mapping], "max_rejected_ratio": 0.5},
        [*people(2), broken],
    )
    paths = sorted(d.request.path for d in webhook_receiver.deliveries)
    assert paths == ["/users/0/traits", "/users/1/traits"]
    assert webhook_receiver.deliveries[0].request.query == {"plan": "pro"}
    assert sorted(r["userId"] for r in webhook_receiver.received_records()) == [0, 1]
    assert webhook_receiver.received_records()[0]["traits"]["email"].endswith("@x.com")
    assert any("URL template failed" in line for line in run.logs)  # the record without an id


def test_signed_requests_verify_and_rotation_works(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path
) -> None:
    old_receiver = make_webhook_receiver(secret=KEY_OLD)
    new_receiver = make_webhook_receiver(secret=KEY_NEW)
    for receiver in (old_receiver, new_receiver):  # both keys sign during the rotation
        write(tmp_path, {"url": receiver.url, "signing_secrets": [KEY_OLD, KEY_NEW]}, people(2))
        (delivery,) = receiver.deliveries
        assert delivery.request.headers["webhook-signature"].count("v1,") == 2
        assert delivery.webhook_id.startswith("msg_")
    unsigned = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        {"url": old_receiver.url},
        configured_catalog("people"),
        people(1),
    )
    assert unsigned.error is not None and unsigned.error["failure_type"] == "config_error"
    assert "HTTP 401" in unsigned.error["message"]  # the receiver wants a signature: fix the secret
    assert len(old_receiver.deliveries) == 1


def test_signer_matches_the_receivers_independent_check() -> None:
    body = b'[{"id":1}]'
    headers = {"webhook-id": "msg_1", **Signer([KEY_NEW], clock=lambda: 1_700_000_000).headers("msg_1", body)}
    assert verify_signature(KEY_NEW, headers, body, now=1_700_000_100) is None
    assert verify_signature(KEY_OLD, headers, body, now=1_700_000_100) is not None
    assert verify_signature(KEY_NEW, headers, body, now=1_700_000_000 + 301) is not None  # stale


def test_retries_keep_the_webhook_id_and_sign_each_attempt(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path
) -> None:
    receiver = make_webhook_receiver(secret=KEY_NEW)
    receiver.inject(status=503, headers={"Retry-After": "1"}, times=1)
    write(
        tmp_path,
        {"url": receiver.url, "signing_secrets": [KEY_NEW], "idempotency_key_header": True},
        people(2),
    )
    first, second = receiver.requests
    assert (first.status, second.status) == (503, 200)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert (
        first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] != first.headers["webhook-id"]
    )
    assert int(second.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"])


def test_a_value_that_returns_to_an_earlier_one_is_delivered_each_time(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path
) -> None:
    """gold → silver → gold over three syncs, one record per message, to a receiver that drops repeated
    webhook-ids as the README recommends: each sync's message is new, so the receiver ends on gold."""
    receiver = make_webhook_receiver(dedupe=True)
    config = {"url": receiver.url, "batch_size": 1}
    for tier in ("gold", "silver", "gold"):
        write(tmp_path, config, [record_line("people", {"id": 7, "tier": tier}), state_line("people", tier)])
    assert [r["tier"] for r in receiver.received_records()] == ["gold", "silver", "gold"]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 3


def test_records_with_the_same_body_sent_to_different_urls_are_different_messages(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path
) -> None:
    receiver = make_webhook_receiver(dedupe=True)
    mapping = {"stream": "people", "url": f"{receiver.url}/accounts/{{{{ record.id }}}}/metrics",
               "payload_template": '{"active_users": {{ record.active_users }}}'}  # fmt: skip
    lines = [record_line("people", {"id": account, "active_users": 5}) for account in ("a1", "a2")]
    write(tmp_path, {"url": receiver.url, "batch_size": 1, "streams": [mapping]}, lines)
    assert sorted(d.request.path for d in receiver.deliveries) == [
        "/accounts/a1/metrics",
        "/accounts/a2/metrics",
    ]


def test_ids_are_the_jobs_and_attempts_when_the_platform_gives_them(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path, monkeypatch: Any
) -> None:
    """Airbyte passes WORKER_JOB_ID and WORKER_JOB_ATTEMPT: the same attempt makes the same ids (it is
    one sync), the next attempt (which re-reads from the last state) makes new ones."""
    receiver = make_webhook_receiver()
    config = {"url": receiver.url, "batch_size": 2}
    monkeypatch.setenv("WORKER_JOB_ID", "42")
    for attempt in ("1", "1", "2"):
        monkeypatch.setenv("WORKER_JOB_ATTEMPT", attempt)
        write(tmp_path, config, people(2))
    first, same, next_attempt = (r.headers["webhook-id"] for r in receiver.requests)
    assert first == same != next_attempt


def test_a_resumed_sync_is_delivered_again_unless_the_receiver_dedupes_by_content(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path
) -> None:
    """Deliveries are at-least-once across restarts: the webhook-id removes HTTP retries only, the
    opt-in content Idempotency-Key also removes a replay of the same content."""
    lines = [*people(10), state_line("people", 10)]
    by_id = make_webhook_receiver(dedupe=True)
    config = {"url": by_id.url, "signing_secrets": [KEY_NEW], "batch_size": 4, "max_concurrency": 3}
    write(tmp_path, config, lines)
    write(tmp_path, config, lines)  # the platform retries the whole sync from the last state
    assert len(by_id.deliveries) == 6 and len(by_id.received_records()) == 20
    by_content = make_webhook_receiver(dedupe=True, dedupe_header="Idempotency-Key")
    config = {**config, "url": by_content.url, "idempotency_key_header": True}
    write(tmp_path, config, lines)
    write(tmp_path, config, lines)
    assert len(by_content.requests) == 6 and len(by_content.deliveries) == 3
    assert sorted(r["id"] for r in by_content.received_records()) == list(range(10))


def test_basic_and_api_key_auth(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "url": webhook_receiver.url,
            "auth": {"auth_type": "basic", "username": "u", "password": "pw-secret"},
        },
        people(1),
    )
    write(
        tmp_path,
        {
            "url": webhook_receiver.url,
            "auth": {"auth_type": "api_key", "header": "X-Key", "api_key": "k-secret"},
        },
        people(1),
    )
    basic, api_key = webhook_receiver.requests
    assert basic.headers["Authorization"] == "Basic " + base64.b64encode(b"u:pw-secret").decode()
    assert api_key.headers["X-Key"] == "k-secret"


def test_redirects_are_not_followed(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    webhook_receiver.inject(status=301, headers={"Location": "http://127.0.0.1:9/elsewhere"}, times=1)
    run = run_destination(
        DestinationWebhook,
        tmp_path,
        "write",
        {"url": webhook_receiver.url},
        configured_catalog("people"),
        people(1),
    )
    assert run.code == 1 and run.error is not None and run.error["failure_type"] == "config_error"
    assert "redirects are not followed" in run.error["message"]
    assert len(webhook_receiver.requests) == 1


def test_a_bad_signing_secret_fails_check(webhook_receiver: WebhookReceiver, tmp_path: Path) -> None:
    run = run_destination(
        DestinationWebhook, tmp_path, "check", {"url": webhook_receiver.url, "signing_secrets": ["whsec_***"]}
    )
    status = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "whsec_<base64>" in status["message"]
