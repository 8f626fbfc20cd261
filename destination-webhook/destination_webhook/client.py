"""All HTTP for the webhook destination."""

from __future__ import annotations

import requests
from retl_shared.errors import ConfigError
from retl_shared.http import ApiClient, excerpt
from retl_shared.redaction import Redactor

from destination_webhook.config import ApiKeyAuth, BasicAuth, BearerAuth, WebhookConfig


class WebhookClient(ApiClient):
    def __init__(self, config: WebhookConfig, redactor: Redactor) -> None:
        headers = {"Content-Type": "application/json", **config.headers}
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
        )
        if isinstance(auth, BasicAuth):
            self.session.auth = (auth.username, auth.password)
            redactor.add(f"{auth.username}:{auth.password}")
        self.method = config.method
        self.endpoint = self.url(config.url)

    def probe(self) -> None:
        try:
            self.session.head(self.endpoint, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise ConfigError(f"Cannot reach {self.endpoint}: {type(exc).__name__}. Check the URL.") from None

    def deliver(self, body: bytes) -> requests.Response:
        """Send one body; 2xx and other 4xx come back, 410 and redirects are config errors."""
        response = self.request(self.method, self.endpoint, data=body)
        if response.status_code == 410:
            raise ConfigError(f"The endpoint {self.endpoint} is gone (HTTP 410): remove or replace it.")
        if 300 <= response.status_code < 400:
            where = response.headers.get("Location", "elsewhere")
            raise ConfigError(
                f"The endpoint {self.endpoint} redirects (HTTP {response.status_code}) to {where}; "
                "redirects are not followed: configure the final URL."
            )
        return response

    @staticmethod
    def describe(response: requests.Response) -> str:
        return f"HTTP {response.status_code}: {excerpt(response.text, 200)}"
