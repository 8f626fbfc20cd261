"""All HTTP for Clarify: the workspace URL, the api-key scheme, JSON:API bodies and error objects.

Clarify's API is in beta and several wire details are unconfirmed (see the README), so every one
of them lives here: the sink speaks in records and outcomes, never in URLs or JSON:API members.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import requests

from destination_clarify.config import ClarifyConfig
from retl_shared.errors import ConfigError
from retl_shared.http import ApiClient
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

log = logging.getLogger("destination_clarify")

# "/data/3/attributes/email" names record 3 and its field; "/data/attributes/email" only the field.
_POINTER = re.compile(r"^/data(?:/(?P<index>\d+))?(?:/attributes/(?P<field>[^/]+)|/(?P<member>id|type))?")
_DUPLICATE = re.compile(r"duplicate|already exists", re.IGNORECASE)
# Clarify names the status of a refused duplicate 400 in its error list and 422 in the same page's example
# ("Validation Error", "Duplicate record found for email: …"); 409 is JSON:API's conflict. The detail says
# "Duplicate" in every reading, so the status alone decides nothing (docs/vendor-facts-customerio-clarify.md).
DUPLICATE_STATUSES = frozenset({400, 409, 422})
# Results per lookup page: Clarify pages by 25 unless asked, up to 1000. "Contains" may match look-alikes
# (a@x.com finds aa@x.com), so every page is read and only exact matches kept.
LOOKUP_PAGE = 100
MAX_LOOKUP_PAGES = 1000  # a server that ignored paging would otherwise be read forever
# Clarify recommends about one 25-record batch per second and enforces no strict rate: the limiter holds
# `requests_per_second` in any one-second window (the kernel's limiter adds the arrival margin).


@dataclass(frozen=True)
class ApiError:
    """One JSON:API error object, with the record index and field its pointer names (if any)."""

    status: int
    title: str
    detail: str
    index: int | None = None
    field: str | None = None
    code: str = ""  # none is documented for Clarify; read in case one comes

    @property
    def reason(self) -> str:
        """Title and detail in one line (both were masked when the error was read, so cutting is safe)."""
        text = f"{self.title}: {self.detail}" if self.title and self.detail else self.title or self.detail
        text = " ".join((text or f"HTTP {self.status}").split())
        return text if len(text) <= 500 else text[:497] + "..."

    @property
    def duplicate(self) -> bool:
        """Clarify's answer to creating a record whose unique field another record already has: told by
        its words ("Duplicate record found for email: …"), under any of the statuses it may come with."""
        words = f"{self.code} {self.title} {self.detail}"
        return self.status in DUPLICATE_STATUSES and bool(_DUPLICATE.search(words))


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
        self._bare_filters = False  # set once the operator form of a filter was refused

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
        (the clarify-api skill's "array of schema JSONs … in the `attributes` field"). A body that is not
        JSON is garbled on the way (transient); JSON in any other layout is a config error quoting it:
        Clarify's API is in beta, and retrying would not change the layout."""
        data = self.json_body(response).get("data")
        if isinstance(data, list) and all(isinstance(item, dict) for item in data):
            data = {item.get("id"): item.get("attributes") for item in data}
        if isinstance(data, dict) and all(
            isinstance(key, str) and isinstance(schema, dict) and _objects(schema.get("properties", {}))
            for key, schema in data.items()
        ):
            return data
        raise ConfigError(
            "Clarify's GET /schemas answered in a layout this destination does not read (neither a dict of "
            "schemas keyed like `core/person` nor a list of `{id, attributes}`, each with `properties` "
            f"describing fields): {self.body_excerpt(response)}. Clarify's API is in beta: please report it."
        )

    def find(
        self, object_name: str, field: str, values: list[str], operator: str, same: Callable[[str], str]
    ) -> str | None:
        """The id of the record whose ``field`` holds one of ``values``, compared as ``same`` makes them
        (lower-cased, a domain normalised), if any.

        Clarify documents the filter ``filter[field][Operator]=value`` (for collections only ``Contains``
        and ``Does not contain``: the clarify-api skill) and the bare ``filter[field]=value``. The operator
        form is asked first; when Clarify refuses it (400), the bare form, from then on. "Contains" matches
        look-alikes too, so every page is read and only an exact match is trusted.
        """
        wanted = {same(v) for v in values}
        for value in values:
            for resource in self._resources(object_name, field, value, operator):
                held = plain_values((resource.get("attributes") or {}).get(field))
                if wanted & {same(v) for v in held}:
                    return str(resource["id"])
        return None

    def _resources(self, object_name: str, field: str, value: str, operator: str) -> Iterator[dict[str, Any]]:
        """Every record a filter finds, page by page (``links.next`` on this host, else ``page[offset]``)."""
        path = f"/objects/{object_name}/resources"
        response = self._lookup(path, object_name, field, value, operator)
        seen: set[str] = set()
        for _ in range(MAX_LOOKUP_PAGES):
            body = self.json_body(response)
            resources = body.get("data")
            if not isinstance(resources, list) or not all(_resource(r) for r in resources):
                raise self.garbled(response, "`data` that is not a list of records with an id each")
            fresh = [r for r in resources if str(r["id"]) not in seen]
            yield from fresh
            seen |= {str(r["id"]) for r in fresh}
            following = self._next_page(response, body, len(resources))
            if following is None or not fresh:
                return
            url, params = following
            response = self.request("GET", url, params=params)
            if response.status_code >= 300:
                raise ConfigError(
                    f"Clarify answered HTTP {response.status_code} to the next page of a {object_name} "
                    f"lookup by {field}: {self.reasons(response)}"
                )

    def _lookup(
        self, path: str, object_name: str, field: str, value: str, operator: str
    ) -> requests.Response:
        """The first page of a lookup, in the operator form unless Clarify refused it before."""
        bare = {f"filter[{field}]": value, "page[limit]": LOOKUP_PAGE}
        if not self._bare_filters:
            params = {f"filter[{field}][{operator}]": value, "page[limit]": LOOKUP_PAGE}
            response = self.request("GET", path, params=params)
            if response.status_code != 400:
                return self._looked_up(response, object_name, field)
            refused = self.reasons(response)
            response = self.request("GET", path, params=bare)
            if response.status_code >= 300:
                raise ConfigError(
                    f"Clarify refused a {object_name} lookup by {field} in both documented forms: "
                    f"filter[{field}][{operator}] ({refused}) and filter[{field}] "
                    f"(HTTP {response.status_code}: {self.reasons(response)})"
                )
            log.info(
                "Clarify refused filter[%s][%s] (%s); lookups use the form filter[field]=value from now on.",
                field,
                operator,
                refused,
            )
            self._bare_filters = True
            return response
        return self._looked_up(self.request("GET", path, params=bare), object_name, field)

    def _looked_up(self, response: requests.Response, object_name: str, field: str) -> requests.Response:
        if response.status_code >= 300:
            raise ConfigError(
                f"Clarify answered HTTP {response.status_code} to a {object_name} lookup by {field}: "
                f"{self.reasons(response)}"
            )
        return response

    def _next_page(
        self, response: requests.Response, body: dict[str, Any], on_page: int
    ) -> tuple[str, dict[str, str] | None] | None:
        """Where the next page is: ``links.next`` when it points at this API's own host (the API key goes
        with it), else the same request at the next ``page[offset]`` while ``links``, ``meta.total_records``
        or a full page says there is more; None after the last page."""
        links, meta = body.get("links"), body.get("meta")
        following = links.get("next") if isinstance(links, dict) else None
        if isinstance(following, str) and following:
            absolute = urljoin(self.base_url + "/", following)
            if urlsplit(absolute)[:2] == urlsplit(self.base_url)[:2]:
                return absolute, None
        url, _, query = str(response.request.url).partition("?")
        params = dict(parse_qsl(query))
        offset = int(params.get("page[offset]") or 0) + on_page
        total = meta.get("total_records") if isinstance(meta, dict) else None
        if following:
            more = True
        elif isinstance(total, int):
            more = offset < total
        else:
            more = on_page >= int(params.get("page[limit]") or LOOKUP_PAGE)
        return (url, {**params, "page[offset]": str(offset)}) if more else None

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

    def relationship(self, object_name: str, record_id: str, relationship: str) -> requests.Response:
        """``GET …/records/{id}/relationships/{relationship}``: ``{"data": [{"id", "type"}]}``; a 404 (no such
        record) is the caller's to read."""
        return self.request("GET", _relationship_path(object_name, record_id, relationship), expect={404})

    def set_relationship(
        self, object_name: str, record_id: str, relationship: str, related: list[tuple[str, str]]
    ) -> requests.Response:
        """``PATCH`` the same path with (id, type) pairs: Clarify "Replaces the full set of related records.
        This is not additive" (its relationships reference), so callers send the set they want whole."""
        body = {"data": [{"id": related_id, "type": kind} for related_id, kind in related]}
        path = _relationship_path(object_name, record_id, relationship)
        return self.request("PATCH", path, json=body, expect={404})

    def delete(self, object_name: str, record_id: str) -> requests.Response:
        """``DELETE /objects/{object}/records/{id}`` (204); a 404 (already gone) is the caller's to read."""
        return self.request(
            "DELETE", f"/objects/{object_name}/records/{quote(record_id, safe='')}", expect={404}
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
                code=redactor.redact(str(item.get("code") or "")),
            )
        )
    return errors


def _relationship_path(object_name: str, record_id: str, relationship: str) -> str:
    return f"/objects/{object_name}/records/{quote(record_id, safe='')}/relationships/{relationship}"


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
