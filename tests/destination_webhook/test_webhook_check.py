"""destination-webhook's check proves a delivery would be accepted; its CA setting works whatever the
environment says; a failure that ends the sync sends nothing more."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from destination_webhook.destination import DestinationWebhook
from tests.fakes.tls import make_certificates
from tests.fakes.webhook import WebhookReceiver
from tests.harness import configured_catalog, record_line, run_destination, state_line


def check(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    run = run_destination(DestinationWebhook, tmp_path, "check", config)
    assert run.code == 0
    status: dict[str, Any] = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    return status


def answering(receiver: WebhookReceiver, method: str, status: int) -> WebhookReceiver:
    receiver.route(method, r".*", lambda request: (status, {"status": status}))
    return receiver


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("HEAD", 401, "answered HTTP 401: the receiver refused the credentials or the signature"),
        ("HEAD", 403, "answered HTTP 403: the receiver refused the credentials or the signature"),
        ("HEAD", 404, "answered HTTP 404: nothing is there. Check the URL's path"),
        ("POST", 405, "answered HTTP 405: the endpoint does not take POST"),
        ("POST", 401, "answered HTTP 401"),
        ("HEAD", 410, "answered HTTP 410 (the endpoint is gone"),
    ],
)
def test_check_fails_when_a_delivery_would_be_refused(
    webhook_receiver: WebhookReceiver, tmp_path: Path, method: str, status: int, expected: str
) -> None:
    answering(webhook_receiver, method, status)
    config = {
        "url": f"{webhook_receiver.url}/hooks",
        "check_method": "post_empty" if method == "POST" else "head",
    }
    result = check(tmp_path, config)
    assert result["status"] == "FAILED" and expected in result["message"]


def test_a_receiver_that_does_not_answer_head_passes_check_with_a_note(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    answering(webhook_receiver, "HEAD", 405)
    result = check(tmp_path, {"url": f"{webhook_receiver.url}/hooks"})
    assert result["status"] == "SUCCEEDED"
    assert "the receiver does not answer HEAD): the URL and TLS are fine" in result["message"]


def test_check_can_post_an_empty_batch_in_the_body_format(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = {"url": f"{webhook_receiver.url}/hooks", "check_method": "post_empty", "body_format": "envelope"}
    assert check(tmp_path, config)["status"] == "SUCCEEDED"
    [probe] = webhook_receiver.requests
    assert probe.method == "POST" and probe.json() == {"stream": "retl_check", "records": [], "count": 0}
    assert probe.headers["webhook-id"].startswith("msg_")


def test_check_signs_its_probe_like_a_delivery(
    make_webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path
) -> None:
    secret = "whsec_" + "a2V5LTAxMjM0NTY3ODlhYmNkZWY="
    receiver = make_webhook_receiver(secret=secret)
    config = {"url": receiver.url, "signing_secrets": [secret], "check_method": "post_empty"}
    assert check(tmp_path, config)["status"] == "SUCCEEDED"  # the receiver verified the signature


def test_an_untrusted_certificate_fails_check_naming_it_and_ca_certificate(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    receiver.tls = make_certificates().context
    with receiver:
        result = check(tmp_path, {"url": f"{receiver.url}/hooks"})
    assert result["status"] == "FAILED"
    assert "certificate verify failed: unable to get local issuer certificate" in result["message"]
    assert "ca_certificate" in result["message"]


def test_ca_certificate_works_whatever_requests_ca_bundle_says(tmp_path: Path, monkeypatch: Any) -> None:
    """REQUESTS_CA_BUNDLE would override a session's CA in requests; the configured CA still applies,
    added to the bundle the environment names (so hosts that bundle trusts stay trusted)."""
    certificates = make_certificates()
    other = make_certificates()  # the environment trusts some other private CA, not ours
    bundle = tmp_path / "env-bundle.pem"
    bundle.write_text(other.ca_pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    receiver = WebhookReceiver()
    receiver.tls = certificates.context
    with receiver:
        config = {
            "url": f"{receiver.url}/hooks",
            "ca_certificate": certificates.ca_pem,
            "check_method": "post_empty",
        }
        assert check(tmp_path, config)["status"] == "SUCCEEDED"
        run = run_destination(
            DestinationWebhook, tmp_path, "write", config, configured_catalog("people"),
            [record_line("people", {"id": 1}), state_line("people", 1)],
        )  # fmt: skip
        assert run.code == 0, run.error
        assert [r["id"] for r in receiver.received_records()] == [1]
        plain = {"url": f"{receiver.url}/hooks"}
        without = run_destination(
            DestinationWebhook, tmp_path, "write", plain, configured_catalog("people"),
            [record_line("people", {"id": 2}), state_line("people", 2)],
        )  # fmt: skip
        assert without.error is not None and "certificate verify failed" in without.error["message"]


def test_after_a_failure_that_ends_the_sync_no_further_request_is_sent(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    webhook_receiver.latency = 0.3
    answering(webhook_receiver, "POST", 410)
    lines = [record_line("people", {"id": i}) for i in range(9)] + [state_line("people", 9)]
    config = {"url": f"{webhook_receiver.url}/hooks", "batch_size": 1, "max_concurrency": 4}
    run = run_destination(DestinationWebhook, tmp_path, "write", config, configured_catalog("people"), lines)
    assert run.error is not None and run.error["failure_type"] == "config_error" and run.states == []
    assert len(webhook_receiver.requests) <= 4  # those already in flight when the first 410 came back
