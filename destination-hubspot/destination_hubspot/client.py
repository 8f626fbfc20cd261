"""All HTTP for HubSpot: the API version's paths, auth (service key, private app or OAuth with refresh),
what a credential may do, rate-limit headers, error mapping."""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any, Literal

import requests

from destination_hubspot.config import HubSpotConfig, OAuth, PrivateAppAuth, ServiceKeyAuth
from retl_shared.errors import ConfigError, TransientError
from retl_shared.http import ApiClient, Decision
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 4  # the search API's own limit, on top of the app's

LEGACY = "legacy"
Family = Literal["objects", "properties", "schemas", "associations", "oauth"]
# Where each API lives: its legacy root (/crm/v3, /crm/v4, /oauth/v3) and its date-versioned root, from
# HubSpot's published OpenAPI descriptions (HubSpot/HubSpot-public-api-spec-collection at 99893791, files
# CRM/Objects/Rollouts/424, CRM/Properties/Rollouts/145899, CRM/Schemas/Rollouts/145900,
# CRM/Associations/Rollouts/130902 and Auth/Oauth/Rollouts/279897, each for v3/v4, 2026-03 and 2026-09;
# docs/hubspot-api-versions.md has the table). Every path below them is the same in every version: objects
# {type}[/{id}], {type}/batch/{create|update|upsert|read|archive}, {type}/search; properties {type},
# {type}/batch/create, {type}/groups; schemas; associations {from}/{to}/batch/{create|associate/default};
# oauth token, token/introspect. All confirmed there. Schemas moved out of /crm/: the dated root is
# /crm-object-schemas/{version}/schemas. Legacy OAuth is v3 (v1 is deprecated on 2027-02-16).
ROOTS: dict[Family, tuple[str, str]] = {
    "objects": ("/crm/v3/objects", "/crm/objects/{version}"),
    "properties": ("/crm/v3/properties", "/crm/properties/{version}"),
    "schemas": ("/crm/v3/schemas", "/crm-object-schemas/{version}/schemas"),
    "associations": ("/crm/v4/associations", "/crm/associations/{version}"),
    "oauth": ("/oauth/v3", "/oauth/{version}"),
}
# A private-app token's scopes (HubSpot's private-apps guide). It has no date-versioned form in the
# published descriptions, so it is called on this legacy path whatever the API version; when HubSpot
# retires it (the legacy APIs end in September 2027) check just says it cannot tell the scopes.
# Whether it describes service keys is not documented (UNCONFIRMED): check asks, and reads a refusal
# as "HubSpot cannot say".
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
# Record paths in any version: /crm/v3/objects/contacts/…, /crm/objects/2026-09/contacts/…,
# /crm/v4/associations/contacts/companies/…, /crm/associations/2026-09/…, /crm/properties/2026-09/deals.
_OBJECT_PATH = re.compile(r"/crm/(?:v\d+/)?(objects|properties|associations)/(?:\d{4}-\d{2}/)?([^/?]+)")
_SCHEMAS_PATH = re.compile(r"/(?:crm/v3|crm-object-schemas/[^/]+)/schemas")
STANDARD_TYPE_IDS = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-7": "products",
    "0-8": "line_items",
}
# Scopes HubSpot accepts instead of crm.objects.<name>.<access> for some objects (the `security`
# alternatives of the objects descriptions list `tickets` and `e-commerce`).
LEGACY_SCOPES = {"tickets": "tickets", "products": "e-commerce", "line_items": "e-commerce"}


def scope_name(object_type: str) -> str:
    """The <name> of crm.objects.<name>.write: the standard object, or `custom` for any custom object."""
    name = STANDARD_TYPE_IDS.get(object_type, object_type)
    return name if name in STANDARD_TYPE_IDS.values() else "custom"


def object_scopes(object_type: str, access: str) -> tuple[str, ...]:
    """The scopes of which one lets a credential read or write an object's records."""
    name = scope_name(object_type)
    legacy = LEGACY_SCOPES.get(name)
    return (f"crm.objects.{name}.{access}", *([legacy] if legacy else []))


def schema_scopes(object_type: str, access: str) -> tuple[str, ...]:
    """Reading or creating an object's properties (reading also works with the objects' read scope)."""
    return (f"crm.schemas.{scope_name(object_type)}.{access}",)


class HubSpotClient(ApiClient):
    def __init__(self, config: HubSpotConfig, redactor: Redactor) -> None:
        super().__init__(
            config.api_base_url,
            redactor=redactor,
            headers={"Content-Type": "application/json"},
            rate_limiter=RateLimiter(config.rate_limit_per_10s, WINDOW_SECONDS),
            pool_size=config.max_concurrency,
        )
        self.search_limiter = RateLimiter(SEARCH_PER_SECOND, 1.0)
        self.api_version = config.api_version
        self.credentials = config.credentials
        self._token_lock = threading.Lock()
        self._expires_at = 0.0
        self._access_token = ""
        if isinstance(self.credentials, OAuth):
            self._refresh()
        else:
            self._access_token = (
                self.credentials.service_key
                if isinstance(self.credentials, ServiceKeyAuth)
                else self.credentials.access_token
            )
            self.session.headers["Authorization"] = f"Bearer {self._access_token}"

    def path(self, family: Family, *parts: str) -> str:
        """The path of an endpoint in the configured API version: the one place that knows them."""
        legacy, dated = ROOTS[family]
        root = legacy if self.api_version == LEGACY else dated.format(version=self.api_version)
        return "/".join([root, *parts])

    @property
    def credential_kind(self) -> str:
        if isinstance(self.credentials, ServiceKeyAuth):
            return "service key"
        return "private app token" if isinstance(self.credentials, PrivateAppAuth) else "OAuth app"

    def where_to_add_scopes(self) -> str:
        """Where the user grants a scope to the credential in use."""
        if isinstance(self.credentials, ServiceKeyAuth):
            return "edit the service key (Development → Keys → Service keys → the key → Scopes)"
        if isinstance(self.credentials, PrivateAppAuth):
            return "add it to the private app (Settings → Integrations → Private apps → the app → Scopes)"
        return "add it to the OAuth app's scopes and authorize the app again (a new refresh token)"

    # --- auth ------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """A new access token, through the same retries and error classes as every other request (its
        refusals come back to be worded here, and never trigger a refresh of their own)."""
        assert isinstance(self.credentials, OAuth)
        response = super().request(
            "POST",
            self.path("oauth", "token"),
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
        self._access_token = token
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
                f"The HubSpot {self.credential_kind} lacks the scope {', '.join(scopes)}: "
                f"{self.where_to_add_scopes()}."
            )
        return ConfigError(
            f"HubSpot refused the credentials (HTTP {response.status_code} {body.get('category', '')}): "
            f"{self.redactor.excerpt(str(body.get('message') or response.text))}. "
            f"Check the {self.credential_kind}."
        )

    def granted_scopes(self) -> frozenset[str] | None:
        """The credential's scopes where HubSpot tells them, else None.

        OAuth: token introspection with the app's client id and secret (`POST /oauth/{version}/token/
        introspect`, form body, RFC 7662 `active` and HubSpot's `scopes`). Private-app tokens, and service
        keys should HubSpot describe them there: the private apps' token info. HubSpot documents no way
        to read a service key's scopes (docs/hubspot-api-versions.md, "Credentials").
        """
        refusals = {400, 401, 403, 404}
        if isinstance(self.credentials, OAuth):
            response = self.request(
                "POST",
                self.path("oauth", "token", "introspect"),
                data={
                    "client_id": self.credentials.client_id,
                    "client_secret": self.credentials.client_secret,
                    "token": self._access_token,
                },
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                expect=refusals,
            )
        else:
            response = self.request(
                "POST", TOKEN_INFO_PATH, json={"tokenKey": self._access_token}, expect=refusals
            )
        if response.status_code != 200:
            return None
        body = _json(response)
        scopes = body.get("scopes")
        if body.get("active") is False or not isinstance(scopes, list):
            return None
        return frozenset(str(scope) for scope in scopes)

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
        self.rate_limiter.adapt(maximum, interval / 1000 if interval else None)
        in_flight = response.elapsed.total_seconds()
        if _int(headers.get("X-HubSpot-RateLimit-Remaining")) == 0 and not self.rate_limiter.saturated(
            in_flight
        ):
            # Our window had room while this request was out, but HubSpot's has none: another app
            # shares the account's limit. (Judged now, our window may have freed a slot meanwhile.)
            self.rate_limiter.pause(1.0)

    # --- endpoints -------------------------------------------------------------------------------

    def results(self, family: Family, *parts: str) -> list[dict[str, Any]]:
        """A listing's ``results`` (schemas, properties, groups): objects, each with a ``name``."""
        path = self.path(family, *parts)
        response = self.request("GET", path)
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
        path = self.path("objects", object_path, "search")
        while True:
            self.search_limiter.acquire()
            response = self.post(path, body)
            _raise_for_config(response, path, self)
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
    """The scope a request needs when HubSpot's 403 does not say (crm.objects.contacts.write, …), on the
    legacy and the date-versioned paths alike."""
    path = url.split("?", 1)[0]
    reads = method == "GET" or path.endswith(("/batch/read", "/search"))
    access = "read" if reads else "write"
    if _SCHEMAS_PATH.search(path):
        return [f"crm.schemas.custom.{access}"]
    match = _OBJECT_PATH.search(path)
    if not match:
        return []
    kind, object_type = match.groups()
    scopes = (
        schema_scopes(object_type, access) if kind == "properties" else object_scopes(object_type, access)
    )
    return [scopes[0]]
