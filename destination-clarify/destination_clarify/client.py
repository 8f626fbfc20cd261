"""All HTTP for Clarify: the workspace URL, the api-key scheme, JSON:API bodies and error objects.

Clarify's API is in beta and several wire details are unconfirmed (see the README), so every one
of them lives here: the sink speaks in records and outcomes, never in URLs or JSON:API members.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from destination_clarify.config import ClarifyConfig
from retl_shared.errors import ConfigError
from retl_shared.http import ApiClient
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

# "/data/3/attributes/email" names record 3 and its field; "/data/attributes/email" only the field.
_POINTER = re.compile(r"^/data(?:/(?P<index>\d+))?(?:/attributes/(?P<field>[^/]+)|/(?P<member>id|type))?")
_DUPLICATE = re.compile(r"duplicate|already exists", re.IGNORECASE)
LOOKUP_PAGE = 10


@dataclass(frozen=True)
class ApiError:
    """One JSON:API error object, with the record index and field its pointer names (if any)."""

    status: int
    title: str
    detail: str
    index: int | None = None
    field: str | None = None

    @property
    def reason(self) -> str:
        """Title and detail in one line (both were masked when the error was read, so cutting is safe)."""
        text = f"{self.title}: {self.detail}" if self.title and self.detail else self.title or self.detail
        text = " ".join((text or f"HTTP {self.status}").split())
        return text if len(text) <= 500 else text[:497] + "..."

    @property
    def duplicate(self) -> bool:
        """Clarify's answer to creating a record whose unique field another record already has."""
        return self.status in (400, 409) and bool(_DUPLICATE.search(f"{self.title} {self.detail}"))


class ClarifyClient(ApiClient):
    def __init__(self, config: ClarifyConfig, redactor: Redactor) -> None:
        self.slug = config.workspace_slug
        super().__init__(
            f"{config.api_base_url.rstrip('/')}/v1/workspaces/{quote(self.slug, safe='')}",
            redactor=redactor,
            headers={
                "Authorization": f"api-key {config.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/vnd.api+json, application/json",
            },
            rate_limiter=RateLimiter(config.requests_per_second, 1.0),
            pool_size=config.max_concurrency,
        )
        self._schemas: dict[str, Any] | None = None
        self._schemas_lock = threading.Lock()

    def auth_error(self, response: requests.Response) -> ConfigError:
        reason = "; ".join(e.reason for e in self.errors(response))
        if response.status_code == 403:
            return ConfigError(
                f"Clarify refused the API key access to this workspace (HTTP 403: {reason}). "
                "Use a key created by an admin of the workspace."
            )
        return ConfigError(
            f"Clarify refused the API key (HTTP 401: {reason}). Clarify authenticates with the header "
            "`Authorization: api-key <KEY>` (not Bearer): check api_key, created under Settings → API Keys."
        )

    # --- reading ---------------------------------------------------------------------------------

    def schemas(self) -> dict[str, Any]:
        """``GET /schemas`` once per run: it proves the key and the slug, and describes every object."""
        with self._schemas_lock:
            if self._schemas is None:
                response = self.request("GET", "/schemas", expect={404})
                if response.status_code == 404:
                    raise ConfigError(
                        f"Clarify answered 404: workspace slug not found ({self.slug!r}). The slug is the "
                        "part after /workspaces/ in your Clarify URL, also shown under the avatar menu."
                    )
                if response.status_code >= 300:
                    why = f"HTTP {response.status_code} to GET /schemas: {self.reasons(response)}"
                    raise ConfigError(f"Clarify answered {why}")
                self._schemas = self._schemas_in(response)
            return self._schemas

    def _schemas_in(self, response: requests.Response) -> dict[str, Any]:
        """Schema key → schema, from either layout Clarify's material shows: a dict keyed by
        ``core/person`` (the schema reference), or a list of ``{"id": "core/person", "attributes": {…}}``
        (the clarify-api skill's "array of schema JSONs … in the `attributes` field"). Anything else, or
        properties that are not objects, is a garbled answer."""
        data = self.json_body(response).get("data")
        if isinstance(data, list) and all(isinstance(item, dict) for item in data):
            data = {item.get("id"): item.get("attributes") for item in data}
        if isinstance(data, dict) and all(
            isinstance(key, str) and isinstance(schema, dict) and _objects(schema.get("properties", {}))
            for key, schema in data.items()
        ):
            return data
        raise self.garbled(response, "`data` that does not describe objects and their properties")

    def find(self, object_name: str, field: str, values: list[str]) -> str | None:
        """The id of the record whose ``field`` holds one of ``values`` (case-insensitively), if any.

        The filter may match loosely (Clarify's collections filter by "contains"), so results are
        checked for an exact match before one is trusted.
        """
        wanted = {v.strip().lower() for v in values}
        for value in values:
            response = self.request(
                "GET",
                f"/objects/{object_name}/resources",
                params={f"filter[{field}]": value, "page[limit]": LOOKUP_PAGE},
            )
            if response.status_code >= 300:
                raise ConfigError(
                    f"Clarify answered HTTP {response.status_code} to a {object_name} lookup by {field}: "
                    f"{self.reasons(response)}"
                )
            resources = self.json_body(response).get("data")
            if not isinstance(resources, list) or not all(_resource(r) for r in resources):
                raise self.garbled(response, "`data` that is not a list of records with an id each")
            for resource in resources:
                held = plain_values((resource.get("attributes") or {}).get(field))
                if wanted & {v.strip().lower() for v in held}:
                    return str(resource["id"])
        return None

    def errors(self, response: requests.Response) -> list[ApiError]:
        return api_errors(response, self.redactor)

    def reasons(self, response: requests.Response) -> str:
        return "; ".join(e.reason for e in self.errors(response))

    def exists(self, object_name: str, record_id: str) -> bool:
        record = f"/objects/{object_name}/records/{quote(record_id, safe='')}"
        response = self.request("GET", record, expect={404})
        return response.status_code < 300

    # --- writing ---------------------------------------------------------------------------------

    def bulk_create(
        self, object_name: str, items: list[dict[str, Any]], match_on: str | None = None
    ) -> requests.Response:
        """One atomic bulk create; ``match_on`` asks Clarify to upsert by that unique field."""
        body: dict[str, Any] = {"data": [{"type": object_name, "attributes": a} for a in items]}
        if match_on:
            body["match_on"] = match_on
        # Without a field to match on, a create sent twice creates twice: never repeated blindly.
        return self.request(
            "POST", f"/objects/{object_name}/records/bulk", json=body, idempotent=match_on is not None
        )

    def bulk_update(self, object_name: str, items: list[tuple[str, dict[str, Any]]]) -> requests.Response:
        """One atomic bulk update of (record id, attributes) pairs; a 404 names a record id it lacks."""
        data = [{"type": object_name, "id": record_id, "attributes": a} for record_id, a in items]
        return self.request("PATCH", f"/objects/{object_name}/records", json={"data": data}, expect={404})


def api_errors(response: requests.Response, redactor: Redactor) -> list[ApiError]:
    """The response's JSON:API errors, their text masked; a body without them becomes one error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    raw = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(raw, list) or not raw:
        code = response.status_code
        return [ApiError(code, f"HTTP {code}", redactor.excerpt(response.text))]
    errors = []
    for item in raw:
        item = item if isinstance(item, dict) else {"detail": str(item)}
        source = item.get("source")
        pointer = str(source.get("pointer") or "") if isinstance(source, dict) else ""
        match = _POINTER.match(pointer)
        index = match.group("index") if match else None
        status = str(item.get("status") or response.status_code)
        errors.append(
            ApiError(
                status=int(status) if status.isdigit() else response.status_code,
                title=redactor.redact(str(item.get("title") or "")),
                detail=redactor.redact(str(item.get("detail") or "")),
                index=int(index) if index is not None else None,
                field=match.group("field") if match else None,
            )
        )
    return errors


def _resource(item: Any) -> bool:
    """Whether a lookup's item is a record: an object with an id and (if any) attributes."""
    return (
        isinstance(item, dict)
        and item.get("id") is not None
        and isinstance(item.get("attributes") or {}, dict)
    )


def _objects(properties: Any) -> bool:
    """Whether a schema's ``properties`` are field descriptors: an object of objects."""
    return isinstance(properties, dict) and all(isinstance(raw, dict) for raw in properties.values())


def plain_values(value: Any) -> list[str]:
    """A collection's items (``{"items": [...]}``), a list, or one value, as strings."""
    if isinstance(value, dict):
        value = value.get("items")
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [text for text in (str(v).strip() for v in items if v is not None) if text]
