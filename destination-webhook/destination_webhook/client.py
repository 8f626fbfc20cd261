"""All HTTP for the webhook destination: auth, TLS, Standard Webhooks signing, delivery rules."""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import certifi
import requests

from destination_webhook.config import ApiKeyAuth, BasicAuth, BearerAuth, CheckMethod, NoAuth, WebhookConfig
from destination_webhook.signing import Signer, content_key, message_id
from retl_shared.errors import ConfigError, TransientError
from retl_shared.http import ApiClient
from retl_shared.redaction import Redactor

WEBHOOK_ID = "webhook-id"
VERBS = {CheckMethod.head: "HEAD", CheckMethod.options: "OPTIONS", CheckMethod.post_empty: "POST"}
ANY_STATUS = range(100, 600)


class WebhookClient(ApiClient):
    def __init__(self, config: WebhookConfig, redactor: Redactor, sync: str) -> None:
        headers = {**config.headers}
        auth = config.auth
        if isinstance(auth, BearerAuth):
            headers["Authorization"] = f"Bearer {auth.token}"
        elif isinstance(auth, ApiKeyAuth):
            headers[auth.header] = auth.api_key
        redactor.add(*config.headers.values())
        super().__init__(
            config.api_base_url or config.url,
            redactor=redactor,
            headers=headers,
            timeout=config.timeout_seconds,
            pool_size=config.max_concurrency,
            verify=_ca_bundle(config.ca_certificate) if config.ca_certificate else True,
        )
        if isinstance(auth, BasicAuth):
            self.session.auth = (auth.username, auth.password)
            redactor.add(f"{auth.username}:{auth.password}")
        self.method = config.method
        self.authenticates = not isinstance(auth, NoAuth)
        self.signer = Signer(config.signing_secrets) if config.signing_secrets else None
        self.content_idempotency_key = config.idempotency_key_header
        self.sync = sync  # this sync's identity, part of every webhook-id

    def attempt_headers(self, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        """Sign every attempt afresh: same webhook-id, the attempt's own timestamp."""
        if self.signer is None or WEBHOOK_ID not in headers:
            return {}
        return self.signer.headers(headers[WEBHOOK_ID], body or b"")

    def tls_error(self, url: str, exc: requests.exceptions.SSLError) -> ConfigError:
        """The kernel's TLS message, plus where a private CA goes."""
        return ConfigError(
            f"{super().tls_error(url, exc).message} For an endpoint with a private CA, paste that CA's "
            "certificate (PEM) into ca_certificate; it is added to the CAs already trusted."
        )

    def probe(self, url: str, method: CheckMethod, empty_body: tuple[bytes, str]) -> str | None:
        """Prove a delivery to ``url`` would be accepted, judging the answer like a delivery's; return a
        note when the answer cannot tell (a receiver answering HEAD with 405), None when it proves it.

        The probe is signed and authenticated like a delivery, so a receiver that checks signatures or
        credentials judges it the same way.
        """
        verb = {CheckMethod.head: "HEAD", CheckMethod.options: "OPTIONS", CheckMethod.post_empty: "POST"}[
            method
        ]
        data, content_type = empty_body if method is CheckMethod.post_empty else (b"", None)
        headers = {WEBHOOK_ID: message_id(self.sync, "retl_check", url, [])}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self.request(verb, url, data=data, headers=headers, expect=ANY_STATUS)
        except TransientError as exc:
            raise TransientError(f"Cannot reach {self._safe(url)}: {exc.message}") from None
        status = response.status_code
        where = f"{verb} {self._safe(url)}"
        if status in (401, 403):
            said = f" It said: {self.body_excerpt(response, 200)}" if response.content else ""
            raise ConfigError(
                f"{where} answered HTTP {status}: the receiver refused the credentials or the signature. "
                f"Check auth and signing_secrets.{said}"
            )
        if status == 404:
            raise ConfigError(f"{where} answered HTTP 404: nothing is there. Check the URL's path.")
        if status == 405 and method is CheckMethod.post_empty:
            raise ConfigError(f"{where} answered HTTP 405: the endpoint does not take POST. Check the URL.")
        if status == 405 or status == 501:
            return (
                f"{where} answered HTTP {status} (the receiver does not answer {verb}): the URL and TLS "
                "are fine, delivery is verified at the first write (check_method post_empty verifies it now)"
            )
        if 300 <= status < 400 or status in (410, 415) or status >= 500:
            raise self.refusal_error(response)
        return None

    def deliver(
        self, stream: str, url: str, body: bytes, content_type: str, lines: list[int]
    ) -> requests.Response:
        """Send one body; a 2xx or a record-level 400/409/422 comes back (ApiClient raises for the rest:
        410, redirects and other refusals are config errors, 413 splits the batch). The webhook-id is
        the message's: the same on every retry of this request, new for any other message."""
        headers = {"Content-Type": content_type, WEBHOOK_ID: message_id(self.sync, stream, url, lines)}
        if self.content_idempotency_key:
            headers["Idempotency-Key"] = content_key(stream, url, body)
        return self.request(self.method, url, data=body, headers=headers)

    def describe(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code}: {self.body_excerpt(response, 200)}"


def _ca_bundle(pem: str) -> str:
    """A CA file for requests: the CAs this process already trusts (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
    when set, else certifi's public CAs, requests' default) plus the configured PEM. requests takes one
    file that replaces its default store, so the configured CA is added to a copy of that store; the
    file is removed when the process ends."""
    trusted = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    try:
        base = Path(trusted).read_text()
    except OSError:
        base = Path(certifi.where()).read_text()
    handle, path = tempfile.mkstemp(suffix=".pem")
    with os.fdopen(handle, "w") as file:
        file.write(base.rstrip("\n") + "\n" + pem.strip() + "\n")
    atexit.register(os.remove, path)
    return path
