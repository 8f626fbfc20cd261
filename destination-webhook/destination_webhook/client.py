"""All HTTP for the webhook destination: auth, TLS, Standard Webhooks signing, delivery rules."""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Mapping

import requests

from destination_webhook.config import ApiKeyAuth, BasicAuth, BearerAuth, WebhookConfig
from destination_webhook.signing import Signer
from retl_shared.errors import ConfigError
from retl_shared.http import ApiClient
from retl_shared.redaction import Redactor

WEBHOOK_ID = "webhook-id"


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
        self.signer = Signer(config.signing_secrets) if config.signing_secrets else None
        self.idempotency_key = config.idempotency_key_header

    def attempt_headers(self, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        """Sign every attempt afresh: same webhook-id, the attempt's own timestamp."""
        if self.signer is None or WEBHOOK_ID not in headers:
            return {}
        return self.signer.headers(headers[WEBHOOK_ID], body or b"")

    def probe(self, url: str) -> None:
        try:
            self.session.head(url, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise ConfigError(f"Cannot reach {url}: {type(exc).__name__}. Check the URL.") from None

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
