"""All HTTP for HubSpot: auth (private app or OAuth with refresh), rate-limit headers, error mapping."""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any

import requests

from destination_hubspot.config import HubSpotConfig, OAuth
from retl_shared.errors import ConfigError, TransientError
from retl_shared.http import ApiClient, Decision
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

WINDOW_SECONDS = 10.0
# HubSpot counts a request when it arrives, a little after we count it: a window a quarter second
# longer than HubSpot's keeps requests sent at the window's edge from being refused with a 429.
CLIENT_WINDOW_SECONDS = WINDOW_SECONDS + 0.25
SEARCH_PER_SECOND = 4  # the search API's own limit, on top of the app's
_OBJECT_PATH = re.compile(r"/crm/v\d/(objects|properties|associations)/([^/]+)")


class HubSpotClient(ApiClient):
    def __init__(self, config: HubSpotConfig, redactor: Redactor) -> None:
        super().__init__(
            config.api_base_url,
            redactor=redactor,
            headers={"Content-Type": "application/json"},
            rate_limiter=RateLimiter(config.rate_limit_per_10s, CLIENT_WINDOW_SECONDS),
            pool_size=config.max_concurrency,
        )
        self.search_limiter = RateLimiter(SEARCH_PER_SECOND, 1.0)
        self.credentials = config.credentials
        self._token_lock = threading.Lock()
        self._expires_at = 0.0
        if isinstance(self.credentials, OAuth):
            self._refresh()
        else:
            self.session.headers["Authorization"] = f"Bearer {self.credentials.access_token}"

    # --- auth ------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """A new access token, through the same retries and error classes as every other request (its
        refusals come back to be worded here, and never trigger a refresh of their own)."""
        assert isinstance(self.credentials, OAuth)
        response = super().request(
            "POST",
            "/oauth/v1/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.credentials.refresh_token,
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
            },
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            expect={400, 401, 403},
        )
        if response.status_code >= 300:
            raise ConfigError(
                f"HubSpot refused the OAuth refresh token (HTTP {response.status_code}): "
                f"{self.body_excerpt(response)}. Reconnect the app to get a new one."
            )
        body = self.json_body(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise self.garbled(response, "no access_token in it")
        self.redactor.add(token)
        self.session.headers["Authorization"] = f"Bearer {token}"
        self._expires_at = time.monotonic() + _seconds(body.get("expires_in"), 1800.0) - 60

    def refresh_auth(self) -> bool:
        if not isinstance(self.credentials, OAuth):
            return False
        with self._token_lock:
            self._refresh()
        return True

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if isinstance(self.credentials, OAuth) and time.monotonic() >= self._expires_at:
            with self._token_lock:
                if time.monotonic() >= self._expires_at:
                    self._refresh()
        return super().request(method, path, **kwargs)

    def auth_error(self, response: requests.Response) -> ConfigError:
        body = _json(response)
        scopes = _missing_scopes(body) or _scope_for(
            response.request.method or "GET", response.request.url or ""
        )
        if response.status_code == 403 and scopes:
            return ConfigError(
                f"The HubSpot app lacks the scope {', '.join(scopes)}: add it to the private app "
                "(Settings → Integrations → Private apps → Scopes) or re-authorize the OAuth app."
            )
        return ConfigError(
            f"HubSpot refused the credentials (HTTP {response.status_code} {body.get('category', '')}): "
            f"{self.redactor.excerpt(str(body.get('message') or response.text))}. "
            "Check the access token or OAuth app."
        )

    # --- throttling ------------------------------------------------------------------------------

    def classify(self, response: requests.Response) -> Decision:
        if response.status_code == 429 and _json(response).get("policyName") == "DAILY":
            raise TransientError(
                "HubSpot's daily API limit is used up; it resets at midnight in the account's time zone. "
                "The sync stops here without retrying, and resumes from the last state next time."
            )
        return super().classify(response)

    def observe(self, response: requests.Response) -> None:
        """Follow X-HubSpot-RateLimit-*: a lower advertised ceiling, and a pause when none is left."""
        headers = response.headers
        maximum = _int(headers.get("X-HubSpot-RateLimit-Max"))
        interval = _int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        if self.rate_limiter is None or maximum is None:
            return
        self.rate_limiter.adapt(maximum, interval / 1000 + 0.25 if interval else None)
        if _int(headers.get("X-HubSpot-RateLimit-Remaining")) == 0 and not self.rate_limiter.saturated():
            # Our window has room but HubSpot's has none: another app shares the account's limit.
            self.rate_limiter.pause(1.0)

    # --- endpoints -------------------------------------------------------------------------------

    def results(self, path: str) -> list[dict[str, Any]]:
        """A listing's ``results`` (schemas, properties, groups): objects, each with a ``name``."""
        response = self.request("GET", path)
        if response.status_code == 404:
            raise ConfigError(f"HubSpot has no {path.rsplit('/', 1)[-1]!r} here (404 on {path}).")
        _raise_for_config(response, path, self)
        return self.listing(response, "name")

    def listing(self, response: requests.Response, key: str) -> list[dict[str, Any]]:
        """An answer's ``results``: a list of objects, each with a text ``key``; else a garbled answer."""
        results = self.json_body(response).get("results", [])
        if isinstance(results, list) and all(
            isinstance(r, dict) and isinstance(r.get(key), str) for r in results
        ):
            return results
        raise self.garbled(response, f"`results` that are not a list of objects with a {key!r} each")

    def post(self, path: str, body: dict[str, Any], idempotent: bool = True) -> requests.Response:
        return self.request("POST", path, json=body, idempotent=idempotent)

    def search(self, object_path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every result of a CRM search, page by page, within the search API's rate limit."""
        results: list[dict[str, Any]] = []
        while True:
            self.search_limiter.acquire()
            response = self.post(f"/crm/v3/objects/{object_path}/search", body)
            _raise_for_config(response, f"/crm/v3/objects/{object_path}/search", self)
            results += self.listing(response, "id")
            after = _member(self.json_body(response), "paging", "next", "after")
            if not isinstance(after, str | int) or not after:
                return results
            body = {**body, "after": after}


def _raise_for_config(response: requests.Response, path: str, client: ApiClient) -> None:
    if response.status_code >= 400:
        raise ConfigError(
            f"HubSpot answered {response.status_code} to {path}: {client.body_excerpt(response)}"
        )


def texts(value: Any) -> list[str]:
    """A list in an answer as text items; anything else as no items."""
    return [str(item) for item in value] if isinstance(value, list) else []


def _member(body: Any, *path: str) -> Any:
    """``body[path[0]][path[1]]…``, or None where a step is missing or not an object."""
    for name in path:
        body = body.get(name) if isinstance(body, dict) else None
    return body


def _seconds(value: Any, default: float) -> float:
    """A positive, finite number of seconds from an answer, else ``default``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return default


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _missing_scopes(body: dict[str, Any]) -> list[str]:
    errors = body.get("errors")
    for error in errors if isinstance(errors, list) else []:
        for key in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
            scopes = _member(error, "context", key)
            if isinstance(scopes, list) and scopes:
                return [str(scope) for scope in scopes]
    return []


def _scope_for(method: str, url: str) -> list[str]:
    """The scope a request needs when HubSpot's 403 does not say: crm.objects.contacts.write, …"""
    match = _OBJECT_PATH.search(url)
    if not match:
        return []
    kind, object_type = match.groups()
    access = "read" if method == "GET" or url.endswith("/batch/read") else "write"
    if kind == "properties":
        return [f"crm.schemas.{object_type}.{access}"]
    return [f"crm.objects.{object_type}.{access}"]
