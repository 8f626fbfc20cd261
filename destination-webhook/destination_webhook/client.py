"""All HTTP for the webhook destination: auth, TLS, Standard Webhooks signing, delivery rules."""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Mapping

import requests

from destination_webhook.config import ApiKeyAuth, BasicAuth, BearerAuth, NoAuth, WebhookConfig
from destination_webhook.signing import Signer
from retl_shared.errors import TransientError
from retl_shared.http import ApiClient
from retl_shared.redaction import Redactor

WEBHOOK_ID = "webhook-id"
ANY_STATUS = range(100, 600)


class WebhookClient(ApiClient):
    def __init__(self, config: WebhookConfig, redactor: Redactor) -> None:
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
        self.idempotency_key = config.idempotency_key_header

    def attempt_headers(self, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        """Sign every attempt afresh: same webhook-id, the attempt's own timestamp."""
        if self.signer is None or WEBHOOK_ID not in headers:
            return {}
        return self.signer.headers(headers[WEBHOOK_ID], body or b"")

    def probe(self, url: str) -> None:
        """HEAD the endpoint: any answer proves the host and the TLS setup. Many receivers route only
        POST and answer HEAD with 404 or 405, so only a redirect, or a refusal of the credentials we
        sent, fails (a receiver that checks only signatures may refuse an unsigned HEAD: not judged)."""
        try:
            response = self.request("HEAD", url, expect=ANY_STATUS)
        except TransientError as exc:
            raise TransientError(f"Cannot reach {self._safe(url)}: {exc.message}") from None
        if 300 <= response.status_code < 400:
            raise self.refusal_error(response)
        if response.status_code in (401, 403) and self.authenticates:
            raise self.auth_error(response)

    def deliver(self, url: str, body: bytes, content_type: str, webhook_id: str) -> requests.Response:
        """Send one body; a 2xx or a record-level 400/409/422 comes back (ApiClient raises for the rest:
        410, redirects and other refusals are config errors, 413 splits the batch)."""
        headers = {"Content-Type": content_type, WEBHOOK_ID: webhook_id}
        if self.idempotency_key:
            headers["Idempotency-Key"] = webhook_id
        return self.request(self.method, url, data=body, headers=headers)

    def describe(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code}: {self.body_excerpt(response, 200)}"


def _ca_bundle(pem: str) -> str:
    """requests wants a file: the PEM from the config, removed when the process ends."""
    handle, path = tempfile.mkstemp(suffix=".pem")
    with os.fdopen(handle, "w") as file:
        file.write(pem)
    atexit.register(os.remove, path)
    return path
