"""All HTTP for Customer.io's Track API: Basic auth, the region probe and the v2 batch call."""

from __future__ import annotations

from typing import Any

import orjson
import requests

from destination_customerio.config import CustomerIoConfig
from retl_shared.errors import ConfigError
from retl_shared.http import ApiClient
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

# Customer.io sends no rate-limit headers, so the limiter holds the configured ceiling (requests_per_second)
# in any one-second window (the kernel's limiter adds the arrival margin) and a 429 pauses every worker.
REGION_PATH = "/api/v1/accounts/region"
BATCH_PATH = "/api/v2/batch"


class CustomerIoClient(ApiClient):
    def __init__(self, config: CustomerIoConfig, redactor: Redactor) -> None:
        super().__init__(
            config.track_url,
            redactor=redactor,
            headers={"Content-Type": "application/json"},
            rate_limiter=RateLimiter(config.requests_per_second, 1.0),
            pool_size=config.max_concurrency,
        )
        self.session.auth = (config.site_id, config.api_key)
        redactor.add(f"{config.site_id}:{config.api_key}")  # and its base64: the Authorization header

    def auth_error(self, response: requests.Response) -> ConfigError:
        return ConfigError(
            f"Customer.io rejected the site id / API key (HTTP {response.status_code}). Use the Track API "
            "credentials of the workspace (Settings → Workspace Settings → API credentials)."
        )

    def region(self) -> dict[str, Any]:
        """The account's data center: ``{"url", "region", "environment_id"}`` (the OpenAPI's member; some
        clients' mocks name it ``data_center``)."""
        response = self.request("GET", REGION_PATH)
        if response.status_code != 200:
            raise ConfigError(
                f"Customer.io answered HTTP {response.status_code} to {REGION_PATH}: "
                f"{describe(response, self.redactor)}. "
                "Is the API base URL a Track API?"
            )
        return self.answer(response)

    def batch(self, entries: list[dict[str, Any]]) -> requests.Response:
        """POST the entries as one v2 batch.

        The body is encoded here with orjson, exactly as the sink measured the entries: requests'
        ``json=`` would add spaces and could push a full batch past the 500 KB limit.
        """
        return self.request("POST", BATCH_PATH, data=orjson.dumps({"batch": entries}))

    def answer(self, response: requests.Response) -> dict[str, Any]:
        """The JSON object of a successful answer (an empty body counts as ``{}``). Anything else did not
        come from the Track API but from whatever answers at the configured URL (a web server's or a
        proxy's page): a config error, never records counted as written."""
        if not response.content.strip():
            return {}
        body = _json(response)
        if not isinstance(body, dict):
            request = response.request
            raise ConfigError(
                f"{request.method} {self._safe(str(request.url))} answered HTTP {response.status_code} with "
                f"no JSON object: {self.body_excerpt(response)}. Check the region and the API base URL: "
                "this is not Customer.io's Track API."
            )
        return body


def describe(response: requests.Response, redactor: Redactor) -> str:
    """The error text of a Customer.io answer: ``errors[].message``, ``meta.error`` or the raw body."""
    body = _json(response)
    if isinstance(body, dict):
        errors = body.get("errors")
        messages = [str(e.get("message") or e.get("reason")) for e in errors or [] if isinstance(e, dict)]
        if messages:
            return redactor.excerpt("; ".join(messages))
        meta = body.get("meta")
        if isinstance(meta, dict) and meta.get("error"):
            return redactor.excerpt(str(meta["error"]))
    return redactor.excerpt(response.text) or "(empty body)"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
