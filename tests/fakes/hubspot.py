"""An in-memory fake of HubSpot's CRM API: objects (batch), properties, schemas, associations and OAuth, on
the legacy paths (v1–v4) and on the date-versioned ones (`2026-03`, `2026-09`).

It follows the HubSpot section of `/work/shared/reference/api-contracts.md` and the public OpenAPI
descriptions beside it, so the destination's tests exercise the same status codes, bodies and headers
that production would. Where HubSpot's behaviour could not be confirmed the fake picks one answer, makes
it switchable where that matters, and says so in the docstring of the code that implements it
("UNCONFIRMED"). The main choices:

* Validation errors (unknown, read-only or badly typed property values, unique-value conflicts) answer the
  whole batch (400 / 409) unless multi-status applies, as HubSpot documents for batch create: when every
  input carries an `objectWriteTraceId`, failures come back per input in a 207 that echoes the trace id.
  `validation_errors` forces either behaviour ("batch" / "per_input"). The fake applies the rule to update
  and upsert too (UNCONFIRMED: HubSpot documents it for create; public connector tests show it for both).
* Records that an update names but that do not exist always answer 207 with OBJECT_NOT_FOUND errors.
* Request bodies are checked against the OpenAPI request schemas when the JSON files are present
  (upsert borrows the update schema: the descriptions predate upsert). The published schemas are
  stricter than HubSpot's own guides: create inputs need `associations` and batch read needs
  `properties` and `propertiesWithHistory`. Clients should send them (`[]` is fine).
* Batch read and update take an `idProperty` only when it is unique (`email` too, for contacts), as
  upsert does; records found by a non-unique value (companies by `domain`) come from the search API.
* Rate limits are kept per app (a private-app token or service key, or an OAuth client id) in a 10 s
  sliding window; daily headers are sent for static tokens only (HubSpot does not report daily limits to
  OAuth apps). Search has its own per-second limit and, as at HubSpot, answers without rate-limit headers.
* Every API family answers on its legacy and its dated paths with the same handlers (`FAMILIES`,
  `ENDPOINTS`); what differs by version is in `VERSION_TRAITS`, and `calls_by_version()` tells which paths
  a client used. `docs/hubspot-api-versions.md` lists the paths, their sources and what is confirmed.
* From `2026-09` on, writes obey the portal's required-property rules (`require_properties()`); a refusal is
  a VALIDATION_ERROR naming the properties, reported like other validation errors unless
  `validation_rule_errors` says otherwise.
* Service keys (`add_service_key()`) are Bearer credentials with scopes, limited like private apps. Whether
  HubSpot's private-app token-info endpoint describes them is UNCONFIRMED (`service_key_token_info`).

Run in the foreground: `python -m tests.fakes.hubspot [--port 8102] [--seed FILE] [--token pat-good]`
(`--help` for the rest).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qs

from tests.fakes import cli
from tests.fakes.openapi import OpenApiSchemas, SchemaViolation, load_schemas
from tests.fakes.server import FakeServer, Handler, Reply, Request

PORTAL_ID = 12345678
MAX_BATCH = 100
MAX_SEARCH_PAGE = 200
WINDOW_SECONDS = 10.0
DEFAULT_TOKEN = "pat-good"
DEFAULT_PORT = 8102  # `python -m tests.fakes.hubspot` and examples/hubspot.json
SEED_SHAPE = (
    '{"properties": {"contacts": [{"name": "tier", "type": "enumeration", "options": ["a", "b"]}]}, '
    '"records": {"contacts": [{"id": "1001", "properties": {"email": "ada@example.com"}}]}}: properties to '
    "define per object type (name; type string, number, date, datetime, enumeration with options, or bool) "
    "and records per object type (a numeric id, or none for the next free one)"
)
DEFAULT_CLIENT_ID = "client-id"
DEFAULT_CLIENT_SECRET = "client-secret"  # a test fixture value, not a credential
DEFAULT_REFRESH_TOKEN = "refresh-good"
OPENAPI_DIR = Path(os.environ.get("HUBSPOT_OPENAPI_DIR", "/work/shared/reference/openapi"))

ValidationMode = Literal["hubspot", "batch", "per_input"]

SCOPES_URL = "https://developers.hubspot.com/scopes"
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPE_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. "
    f"Read more about required scopes here: {SCOPES_URL}."
)
OAUTH_V1 = "/oauth/v1/"
RFC6749_ERRORS = {
    "BAD_GRANT_TYPE": "unsupported_grant_type",
    "BAD_CLIENT_ID": "invalid_client",
    "BAD_CLIENT_SECRET": "invalid_client",
    "BAD_REFRESH_TOKEN": "invalid_grant",
}
INSTALLING_USER_ID = 7001  # the fake portal's one user, who installed every app and created every key
NOT_FOUND_MESSAGE = (
    "Could not get some {noun} objects, they may be deleted or not exist. Check that ids are valid."
)

# type -> the fieldTypes HubSpot accepts with it (properties guide, "Property type and fieldType values").
FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "file", "html", "phonenumber", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}
MAX_UNIQUE_PROPERTIES = 10
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
NUMBER = re.compile(r"-?\d+(\.\d+)?")
EPOCH_MS = re.compile(r"-?\d+")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DAY_MS = 86_400_000

# Legacy scope names HubSpot still accepts for some objects, besides crm.objects.<name>.<access>.
LEGACY_SCOPES = {"tickets": ("tickets",), "products": ("e-commerce",), "line_items": ("e-commerce",)}


# -- API versions and routes --------------------------------------------------------------------------

LEGACY = "legacy"  # every v1–v4 path; calls_by_version() counts them together
DATED_VERSIONS = ("2026-03", "2026-09")
PartialFailures = Literal["multi_status", "success_status"]


@dataclass(frozen=True)
class VersionTraits:
    """What one API version does differently; sources in docs/hubspot-api-versions.md."""

    enforces_write_rules: bool = False  # admin-configured required properties apply to CRM writes
    association_ids_as_strings: bool = False  # association answers carry record ids as strings
    option_order_required: bool = False  # each property option needs `displayOrder` (OptionInput)
    association_archive_body: bool = False  # associations batch/archive: 200 with a batch body, not 204
    association_create_status: int = 201
    property_batch_create_status: int = 201


VERSION_TRAITS: dict[str, VersionTraits] = {
    LEGACY: VersionTraits(),
    "2026-03": VersionTraits(
        association_ids_as_strings=True, option_order_required=True, association_archive_body=True
    ),
    "2026-09": VersionTraits(
        enforces_write_rules=True,
        association_ids_as_strings=True,
        option_order_required=True,
        association_archive_body=True,
        association_create_status=200,
        property_batch_create_status=200,
    ),
}


@dataclass(frozen=True)
class Family:
    """Where one HubSpot API lives: its legacy roots by semantic version, and its dated root."""

    legacy: Mapping[str, tuple[str, ...]]
    dated: str  # "{version}" stands for the date


FAMILIES: dict[str, Family] = {
    "objects": Family({"v3": ("/crm/v3/objects",)}, "/crm/objects/{version}"),
    "properties": Family({"v3": ("/crm/v3/properties",)}, "/crm/properties/{version}"),
    "schemas": Family(
        {"v3": ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas")}, "/crm-object-schemas/{version}/schemas"
    ),
    "associations": Family({"v4": ("/crm/v4/associations",)}, "/crm/associations/{version}"),
    "record-associations": Family({"v4": ("/crm/v4/objects",)}, "/crm/objects/{version}"),
    "oauth": Family({"v1": ("/oauth/v1",), "v2": ("/oauth/v2",), "v3": ("/oauth/v3",)}, "/oauth/{version}"),
}

EndpointKind = Literal["api", "search", "public"]


@dataclass(frozen=True)
class Endpoint:
    """One operation, served by one handler under every root of its family's listed versions."""

    method: str
    family: str
    path: str  # regex after the family root; named groups become path params
    name: str  # what call_count() and calls_by_version() count
    handler: str  # the HubSpotFake method that answers
    legacy: tuple[str, ...] | None = None  # legacy versions that have it (None: all of the family's)
    dated: tuple[str, ...] = DATED_VERSIONS
    kind: EndpointKind = "api"  # "search": own rate limit, no headers; "public": no Bearer token


TYPE = r"/(?P<object_type>[^/]+)"
PAIR = r"/(?P<from_type>[^/]+)/(?P<to_type>[^/]+)"
BATCH_OPERATIONS = ("create", "update", "upsert", "read", "archive")

# Where two patterns match one path, the later entry wins (properties/{name} and properties/groups).
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "oauth", "/token", "oauth.token", "_oauth_token", ("v1", "v3"), kind="public"),
    Endpoint(
        "GET",
        "oauth",
        r"/access-tokens/(?P<token>[^/]+)",
        "oauth.token-info",
        "_token_info",
        ("v1",),
        (),
        "public",
    ),
    Endpoint("POST", "oauth", "/token/introspect", "oauth.introspect", "_introspect", ("v3",), kind="public"),
    Endpoint(
        "POST",
        "oauth",
        "/private-apps/get/access-token-info",
        "oauth.private-app-token-info",
        "_private_app_token_info",
        ("v2",),
        (),
        "public",
    ),
    Endpoint("GET", "schemas", "", "schemas.list", "_list_schemas"),
    Endpoint("GET", "schemas", TYPE, "schemas.get", "_get_schema"),
    Endpoint("GET", "properties", TYPE, "properties.list", "_list_properties"),
    Endpoint("POST", "properties", TYPE, "properties.create", "_create_property"),
    Endpoint("GET", "properties", TYPE + r"/(?P<name>[^/]+)", "properties.get", "_get_property"),
    Endpoint(
        "POST", "properties", TYPE + "/batch/create", "properties.batch/create", "_batch_create_properties"
    ),
    Endpoint("GET", "properties", TYPE + "/groups", "properties.groups.list", "_list_groups"),
    Endpoint("POST", "properties", TYPE + "/groups", "properties.groups.create", "_create_group"),
    Endpoint("GET", "objects", TYPE, "objects.list", "_list_objects"),
    Endpoint("GET", "objects", TYPE + r"/(?P<object_id>[^/]+)", "objects.get", "_get_object"),
    Endpoint("POST", "objects", TYPE + "/search", "objects.search", "_search", kind="search"),
    *(
        Endpoint("POST", "objects", f"{TYPE}/batch/{op}", f"objects.batch/{op}", f"_batch_{op}")
        for op in BATCH_OPERATIONS
    ),
    Endpoint("POST", "associations", PAIR + "/batch/create", "associations.batch/create", "_associate"),
    Endpoint(
        "POST",
        "associations",
        PAIR + "/batch/associate/default",
        "associations.batch/associate/default",
        "_associate_default",
    ),
    Endpoint("POST", "associations", PAIR + "/batch/read", "associations.batch/read", "_read_associations"),
    Endpoint(
        "POST", "associations", PAIR + "/batch/archive", "associations.batch/archive", "_archive_associations"
    ),
    # The 2026-09 associations description drops this GET (only PUT and DELETE remain on the path).
    Endpoint(
        "GET",
        "record-associations",
        TYPE + r"/(?P<object_id>[^/]+)/associations/(?P<to_type>[^/]+)",
        "associations.list",
        "_list_associations",
        dated=("2026-03",),
    ),
)


def route_patterns(endpoint: Endpoint) -> list[str]:
    """The path regexes serving one endpoint: its legacy roots, then its dated root."""
    family = FAMILIES[endpoint.family]
    labels = tuple(family.legacy) if endpoint.legacy is None else endpoint.legacy
    roots = [re.escape(root) for label in labels for root in family.legacy[label]]
    patterns = [f"(?:{'|'.join(roots)}){endpoint.path}"] if roots else []
    if endpoint.dated:
        before, after = family.dated.split("{version}")
        version = f"(?P<version>{'|'.join(re.escape(v) for v in endpoint.dated)})"
        patterns.append(f"{re.escape(before)}{version}{re.escape(after)}{endpoint.path}")
    return patterns


def request_version(req: Request) -> str:
    """The API version a request used: the date in a dated path, else LEGACY."""
    return req.path_params.get("version", LEGACY)


def version_traits(req: Request) -> VersionTraits:
    return VERSION_TRAITS[request_version(req)]


# -- data model ---------------------------------------------------------------------------------------


@dataclass
class Prop:
    """One property definition, kept in HubSpot's terms and rendered like the properties API does."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group_name: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    has_unique_value: bool = False
    read_only_value: bool = False
    calculated: bool = False
    hubspot_defined: bool = False
    description: str = ""
    display_order: int = -1
    created_at: str = ""

    @property
    def option_values(self) -> list[str]:
        return [str(option["value"]) for option in self.options]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [dict(option) for option in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value or self.calculated,
            },
            "formField": not (self.read_only_value or self.calculated),
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "archived": False,
        }


@dataclass
class HubSpotRecord:
    """One CRM record; property values are strings, as HubSpot stores and returns them."""

    id: str
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False

    def to_json(self, only: Sequence[str] | None = None) -> dict[str, Any]:
        """`only` names the properties to return; a requested property without a value comes back null."""
        props: dict[str, str | None] = (
            dict(self.properties) if only is None else {name: self.properties.get(name) for name in only}
        )
        out: dict[str, Any] = {
            "id": self.id,
            "properties": props,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.archived:
            out["archivedAt"] = self.updated_at
        return out


@dataclass(frozen=True)
class RequiredRule:
    """An admin's rule: `properties` must have values, on every record or on those matching `when`.

    HubSpot's forms: required fields on the Create Record form, and conditional required properties
    (e.g. `closedate` once `dealstage` is `closedwon`). Enforced on writes from 2026-09 on."""

    properties: tuple[str, ...]
    when: tuple[tuple[str, str], ...] = ()

    def unmet(self, before: Mapping[str, str] | None, written: Mapping[str, str]) -> list[str]:
        """Required properties this write leaves empty: on create always; on update only when the write
        empties one or brings the rule's condition about (UNCONFIRMED: HubSpot may also refuse updates
        of records that already break a rule)."""
        after = {name: value for name, value in {**(before or {}), **written}.items() if value != ""}
        if any(after.get(name) != value for name, value in self.when):
            return []
        brought_about = before is None or any(name in written for name, _ in self.when)
        return [name for name in self.properties if name not in after and (brought_about or name in written)]


@dataclass
class ObjectType:
    """A standard or custom object type with its properties, groups, records and write rules."""

    name: str  # the path name: "contacts", or a custom object's name
    type_id: str  # "0-1", "2-12345"
    singular: str  # "contact", "line_item"
    scope: str  # crm.objects.<scope>.read: "contacts", or "custom" for custom objects
    created_property: str
    modified_property: str
    default_read: tuple[str, ...]
    fully_qualified_name: str | None = None
    primary_display_property: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Prop] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, HubSpotRecord] = field(default_factory=dict)
    unique_index: dict[str, dict[str, str]] = field(default_factory=dict)  # property -> value key -> id
    rules: list[RequiredRule] = field(default_factory=list)
    created_at: str = ""

    @property
    def custom(self) -> bool:
        return self.type_id.startswith("2-")

    @property
    def noun(self) -> str:
        """How HubSpot names the type in messages: CONTACT, LINE_ITEM."""
        return self.singular.upper()

    @property
    def title(self) -> str:
        return self.singular.replace("_", " ").capitalize()

    def is_unique(self, name: str) -> bool:
        """Contacts accept `email` as an id property although it is not `hasUniqueValue`."""
        prop = self.properties.get(name)
        return prop is not None and (prop.has_unique_value or (self.name == "contacts" and name == "email"))

    def aliases(self) -> set[str]:
        names = {self.type_id}
        if self.custom:
            names.add(self.fully_qualified_name or self.name)
        else:
            names.update({self.name, self.singular})
        return names


@dataclass(frozen=True)
class AssociationType:
    """One direction of an association definition; `inverse_id` is the type of the other direction."""

    from_type_id: str
    to_type_id: str
    type_id: int
    category: str
    label: str | None
    inverse_id: int


@dataclass(frozen=True)
class Association:
    """An association as a client wrote it (one direction; the inverse is implied)."""

    from_type: str  # object type name, e.g. "contacts"
    from_id: str
    to_type: str
    to_id: str
    type_id: int
    category: str


@dataclass(frozen=True)
class OAuthApp:
    """An OAuth app installed in the portal: `refresh_token` trades for access tokens with `scopes`."""

    client_id: str
    client_secret: str
    refresh_token: str
    scopes: frozenset[str]


CredentialKind = Literal["private-app", "service-key", "oauth"]


@dataclass
class _Credential:
    app: str  # the rate-limit bucket: a private-app token or service key, or "oauth:<client id>"
    scopes: frozenset[str]
    kind: CredentialKind = "private-app"
    expires_at: float | None = None

    @property
    def oauth(self) -> bool:
        return self.kind == "oauth"


@dataclass
class _Bucket:
    hits: deque[float] = field(default_factory=deque)
    search_hits: deque[float] = field(default_factory=deque)
    daily_used: int = 0


def all_scopes() -> frozenset[str]:
    """Every scope the fake checks: objects and schemas read/write for each standard object and custom."""
    names = ["contacts", "companies", "deals", "tickets", "products", "line_items", "custom"]
    return frozenset(
        f"crm.{kind}.{name}.{access}"
        for kind in ("objects", "schemas")
        for name in names
        for access in ("read", "write")
    ) | {"oauth"}


# -- default catalogue --------------------------------------------------------------------------------


def _options(*values: str) -> list[dict[str, Any]]:
    return [
        {"label": value.replace("_", " ").title(), "value": value, "displayOrder": i, "hidden": False}
        for i, value in enumerate(values)
    ]


LIFECYCLE_STAGES = _options(
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
DEAL_STAGES = _options(
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)

# name, type id, singular, group, the modified-date property, HubSpot's default read properties, extra props
_STANDARD: tuple[tuple[str, str, str, str, str, tuple[str, ...], tuple[Prop, ...]], ...] = (
    (
        "contacts",
        "0-1",
        "contact",
        "contactinformation",
        "lastmodifieddate",
        ("email", "firstname", "lastname"),
        (
            Prop("email", "Email"),
            Prop("firstname", "First Name"),
            Prop("lastname", "Last Name"),
            Prop("phone", "Phone Number", field_type="phonenumber"),
            Prop("company", "Company Name"),
            Prop("jobtitle", "Job Title"),
            Prop("website", "Website URL"),
            Prop("city", "City"),
            Prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE_STAGES),
            Prop("hs_email_domain", "Email Domain", calculated=True, read_only_value=True),
            Prop("num_associated_deals", "Associated Deals", "number", "number", calculated=True),
        ),
    ),
    (
        "companies",
        "0-2",
        "company",
        "companyinformation",
        "hs_lastmodifieddate",
        ("domain", "name"),
        (
            Prop("name", "Company name"),
            Prop("domain", "Company Domain Name"),
            Prop("phone", "Phone Number", field_type="phonenumber"),
            Prop("city", "City"),
            Prop("industry", "Industry"),
            Prop("numberofemployees", "Number of Employees", "number", "number"),
            Prop("annualrevenue", "Annual Revenue", "number", "number"),
            Prop("num_associated_contacts", "Associated Contacts", "number", "number", calculated=True),
        ),
    ),
    (
        "deals",
        "0-3",
        "deal",
        "dealinformation",
        "hs_lastmodifieddate",
        ("amount", "closedate", "dealname", "dealstage", "pipeline"),
        (
            Prop("dealname", "Deal Name"),
            Prop("amount", "Amount", "number", "number"),
            Prop("closedate", "Close Date", "datetime", "date"),
            Prop("dealstage", "Deal Stage", "enumeration", "radio", options=DEAL_STAGES),
            Prop("pipeline", "Pipeline", "enumeration", "select", options=_options("default")),
            Prop("description", "Deal Description", field_type="textarea"),
        ),
    ),
    (
        "tickets",
        "0-5",
        "ticket",
        "ticketinformation",
        "hs_lastmodifieddate",
        ("content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "subject"),
        (
            Prop("subject", "Ticket name"),
            Prop("content", "Ticket description", field_type="textarea"),
            Prop("hs_pipeline", "Pipeline", "enumeration", "select", options=_options("0")),
            Prop(
                "hs_pipeline_stage",
                "Ticket status",
                "enumeration",
                "select",
                options=_options("1", "2", "3", "4"),
            ),
            Prop(
                "hs_ticket_priority",
                "Priority",
                "enumeration",
                "select",
                options=_options("LOW", "MEDIUM", "HIGH", "URGENT"),
            ),
        ),
    ),
    (
        "products",
        "0-7",
        "product",
        "productinformation",
        "hs_lastmodifieddate",
        ("description", "name", "price"),
        (
            Prop("name", "Name"),
            Prop("description", "Description", field_type="textarea"),
            Prop("price", "Unit price", "number", "number"),
            Prop("hs_sku", "SKU"),
        ),
    ),
    (
        "line_items",
        "0-8",
        "line_item",
        "lineiteminformation",
        "hs_lastmodifieddate",
        ("hs_product_id", "name", "price", "quantity"),
        (
            Prop("name", "Name"),
            Prop("quantity", "Quantity", "number", "number"),
            Prop("price", "Unit price", "number", "number"),
            Prop("hs_product_id", "Product ID", "number", "number"),
        ),
    ),
)

# HUBSPOT_DEFINED association types: from, to, type id, inverse type id, label. The first unlabeled entry
# of a pair is its default (batch/associate/default). Ids from HubSpot's association type table.
_HUBSPOT_DEFINED: tuple[tuple[str, str, int, int, str | None], ...] = (
    ("0-1", "0-2", 279, 280, None),
    ("0-1", "0-2", 1, 2, "Primary"),
    ("0-3", "0-2", 341, 342, None),
    ("0-3", "0-2", 5, 6, "Primary"),
    ("0-1", "0-3", 4, 3, None),
    ("0-5", "0-1", 16, 15, None),
    ("0-5", "0-2", 339, 340, None),
    ("0-5", "0-2", 26, 25, "Primary"),
    ("0-3", "0-5", 27, 28, None),
    ("0-3", "0-8", 19, 20, None),
)


def _system_properties(obj: ObjectType, group: str) -> list[Prop]:
    """Properties HubSpot maintains itself; writing them is a READ_ONLY_VALUE error."""
    return [
        Prop("hs_object_id", "Record ID", "number", "number", group, read_only_value=True),
        Prop(obj.created_property, "Create Date", "datetime", "date", group, read_only_value=True),
        Prop(obj.modified_property, "Last Modified Date", "datetime", "date", group, read_only_value=True),
    ]


def _install_properties(obj: ObjectType, group: str, props: Iterable[Prop], hubspot_defined: bool) -> None:
    obj.groups[group] = {"name": group, "label": group.replace("_", " ").title(), "displayOrder": -1}
    system = _system_properties(obj, group)
    for order, prop in enumerate([*system, *props]):
        copy = replace(
            prop,
            options=[dict(option) for option in prop.options],
            group_name=prop.group_name or group,
            hubspot_defined=hubspot_defined or prop in system,
            display_order=order,
            created_at=obj.created_at,
        )
        obj.properties[copy.name] = copy
        if obj.is_unique(copy.name):
            obj.unique_index.setdefault(copy.name, {})


def _standard_objects(now: str) -> dict[str, ObjectType]:
    objects: dict[str, ObjectType] = {}
    for name, type_id, singular, group, modified, reads, props in _STANDARD:
        obj = ObjectType(
            name=name,
            type_id=type_id,
            singular=singular,
            scope=name,
            created_property="createdate",
            modified_property=modified,
            default_read=("createdate", modified, "hs_object_id", *reads),
            created_at=now,
        )
        _install_properties(obj, group, props, hubspot_defined=True)
        objects[name] = obj
    return objects


# -- values -------------------------------------------------------------------------------------------


def _iso(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_text(value: Any) -> str:
    """Values travel as strings; without the schema check a client may still send JSON scalars."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"))


def _unique_key(name: str, value: str) -> str:
    """Emails match case-insensitively (HubSpot stores them lowercased); other unique values exactly."""
    return value.strip().lower() if name == "email" else value


Problem = tuple[str, str]  # (error code, message)


def normalize_value(prop: Prop, value: str, *, email: bool = False) -> tuple[str, Problem | None]:
    """Check one non-empty value against its property type; return the stored form or a problem.

    Error codes follow HubSpot's (INVALID_INTEGER, INVALID_DATE, INVALID_OPTION, INVALID_EMAIL); the
    exact message texts are UNCONFIRMED except INVALID_OPTION's list format.
    """
    if email:
        if not EMAIL.fullmatch(value.strip()):
            return value, ("INVALID_EMAIL", f"Email address {value} is invalid")
        return value.strip().lower(), None
    checker = _CHECKERS.get(prop.type)
    return checker(prop, value) if checker else (value, None)


def _check_number(prop: Prop, value: str) -> tuple[str, Problem | None]:
    if NUMBER.fullmatch(value.strip()):
        return value.strip(), None
    return value, ("INVALID_INTEGER", f"{value} was not a valid number.")


def _check_date(prop: Prop, value: str) -> tuple[str, Problem | None]:
    """`date`: YYYY-MM-DD, or epoch milliseconds at midnight UTC; stored as YYYY-MM-DD."""
    if ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat(), None
        except ValueError:
            pass
    elif EPOCH_MS.fullmatch(value):
        ms = int(value)
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        if ms % DAY_MS == 0:
            return moment.date().isoformat(), None
        return value, ("INVALID_DATE", f"{value} is at {moment:%H:%M:%S}.{ms % 1000:03d} UTC, not midnight!")
    return value, ("INVALID_DATE", f"{value} is not a valid date: use YYYY-MM-DD or epoch milliseconds")


def _check_datetime(prop: Prop, value: str) -> tuple[str, Problem | None]:
    """`datetime`: ISO 8601 (a bare date means midnight UTC, no offset means UTC) or epoch milliseconds."""
    try:
        if EPOCH_MS.fullmatch(value):
            moment = datetime.fromtimestamp(int(value) / 1000, UTC)
        else:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return value, ("INVALID_DATE", f"{value} is not a valid datetime: use ISO 8601 or epoch milliseconds")
    return _iso(moment.timestamp()), None


def _check_bool(prop: Prop, value: str) -> tuple[str, Problem | None]:
    if value.strip().lower() in ("true", "false"):
        return value.strip().lower(), None
    return value, ("INVALID_OPTION", f"{value} was not one of the allowed options: [true, false]")


def _check_enumeration(prop: Prop, value: str) -> tuple[str, Problem | None]:
    """Option values match exactly; multi-select (checkbox) values are `;`-separated."""
    allowed = prop.option_values
    chosen = value.split(";") if prop.field_type == "checkbox" else [value]
    bad = [choice for choice in chosen if choice not in allowed]
    if not bad:
        return value, None
    return value, ("INVALID_OPTION", f"{bad[0]} was not one of the allowed options: [{', '.join(allowed)}]")


_CHECKERS: dict[str, Callable[[Prop, str], tuple[str, Problem | None]]] = {
    "number": _check_number,
    "date": _check_date,
    "datetime": _check_datetime,
    "bool": _check_bool,
    "enumeration": _check_enumeration,
}


# -- errors -------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """Stops a handler and answers `status` with `body`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def _error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def _fail(status: int, category: str, message: str, **extra: Any) -> NoReturn:
    raise _ApiError(status, _error_body(category, message, **extra))


@dataclass
class _InputError:
    """Why one batch input failed; rendered as a whole-batch error or as one item of a 207."""

    status: int
    category: str
    message: str
    context: dict[str, list[str]] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    always_partial: bool = False  # a 207 item whatever the validation mode (missing records)
    sub_category: str | None = None
    rule: bool = False  # a refusal by the portal's required-property rules (validation_rule_errors)

    def batch_body(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"errors": self.details} if self.details else {}
        if self.sub_category:
            extra["subCategory"] = self.sub_category
        if self.rule:
            extra["context"] = dict(self.context)
        return _error_body(self.category, self.message, **extra)

    def item(self, trace: str | None, ids: Sequence[str] = ()) -> dict[str, Any]:
        context = dict(self.context)
        if ids:
            context["ids"] = list(ids)
        if trace is not None:
            context["objectWriteTraceId"] = [trace]
        item = {"status": "error", "category": self.category, "message": self.message, "context": context}
        return item | ({"subCategory": self.sub_category} if self.sub_category else {})


def _invalid_properties(problems: list[tuple[str, Problem]], portal_id: int) -> _InputError:
    """HubSpot's VALIDATION_ERROR: the per-property results JSON-encoded inside the message."""
    results = [
        {
            "isValid": False,
            "message": message,
            "error": code,
            "name": name,
            "localizedErrorMessage": message,
            "portalId": portal_id,
        }
        for name, (code, message) in problems
    ]
    encoded = json.dumps(results, separators=(",", ":"), ensure_ascii=False)
    details = [
        {"message": message, "code": code, "context": {"propertyName": [name]}}
        for name, (code, message) in problems
    ]
    return _InputError(400, "VALIDATION_ERROR", f"Property values were not valid: {encoded}", details=details)


def _unmet_rules(obj: ObjectType, missing: Sequence[str], creating: bool) -> _InputError:
    """HubSpot's refusal of a write that leaves required properties empty: 400 VALIDATION_ERROR with
    the names in `context.properties`, as HubSpot answers creates missing a type's required properties
    ("Error creating NOTE.  Some required properties were not set.", hubspot-api-nodejs issue #124).
    UNCONFIRMED: the update wording and the per-property `errors` (code REQUIRED_PROPERTY)."""
    verb = "creating" if creating else "updating"
    details = [
        {
            "message": f'Property "{name}" is required',
            "code": "REQUIRED_PROPERTY",
            "context": {"propertyName": [name]},
        }
        for name in missing
    ]
    message = f"Error {verb} {obj.noun}.  Some required properties were not set."
    return _InputError(400, "VALIDATION_ERROR", message, {"properties": list(missing)}, details, rule=True)


# -- OpenAPI request schemas --------------------------------------------------------------------------

SCHEMA_FILES = {
    "objects": "hubspot_crm_objects.json",
    "properties": "hubspot_crm_properties.json",
    "associations": "hubspot_crm_associations_v4.json",
}


def load_openapi(directory: str) -> OpenApiSchemas | None:
    """HubSpot's descriptions (OpenAPI 3.0: JSON Schema draft 7) from `directory`, if present."""
    return load_schemas(directory, "hubspot", tuple(SCHEMA_FILES.items()), "draft7")


# -- the fake -----------------------------------------------------------------------------------------

_ApiHandler = Callable[[Request, _Credential], tuple[int, Any]]


@dataclass
class _Plan:
    """A write that passed validation, applied only once the whole batch is known to go ahead."""

    record_id: str
    new: bool
    props: dict[str, str]
    associations: list[tuple[ObjectType, str, AssociationType]] = field(default_factory=list)


class HubSpotFake(FakeServer):
    """HubSpot's CRM API over real HTTP. See the module docstring for the decisions it makes.

    Switches (all safe to flip while a client runs): `latency`, `inject()` (e.g. 423 or 502),
    `rate_limit_max`, `oauth_rate_limit_max`, `daily_limit`, `exhaust_daily_limit()`,
    `expire_access_tokens()`, `access_token_ttl`, `validation_errors`, `validation_rule_errors`,
    `partial_failures_2026_09`, `service_key_token_info`, `echo_credentials`.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        tokens: Mapping[str, Iterable[str]] | None = None,
        oauth_apps: Iterable[OAuthApp] | None = None,
        portal_id: int = PORTAL_ID,
        rate_limit_max: int = 190,
        oauth_rate_limit_max: int = 110,
        daily_limit: int = 625_000,
        search_rate_limit: int = 5,
        validation_errors: ValidationMode = "hubspot",
        validation_rule_errors: ValidationMode = "hubspot",
        partial_failures_2026_09: PartialFailures = "multi_status",
        service_key_token_info: bool = False,
        access_token_ttl: int = 1800,
        openapi_dir: str | Path | None = OPENAPI_DIR,
        echo_credentials: int | None = None,
    ) -> None:
        """`tokens` maps private-app tokens to their scopes (default: `pat-good` with `all_scopes()`);
        `oauth_apps` default to one app (`client-id` / `client-secret` / `refresh-good`, all scopes);
        `openapi_dir=None` turns the request-schema check off.

        `validation_rule_errors`: how 2026-09 refusals by required-property rules answer a batch:
        "hubspot" as other validation errors do (400 for the whole batch, a 207 item per input when every
        input carries an objectWriteTraceId), "batch" always 400, "per_input" always 207 items. HubSpot
        documents "a 400 validation error" without saying how batches report it (UNCONFIRMED).

        `partial_failures_2026_09`: the 2026-09 descriptions list no 207 for batch endpoints and fold
        `errors`/`numErrors` into the success body. "multi_status" (default) keeps 207, as HubSpot's
        error-handling guide documents and no changelog retracts; "success_status" answers partial
        failures with the success status instead (UNCONFIRMED either way).

        `service_key_token_info`: whether the private-app token-info endpoint describes service keys as it
        does private-app tokens. Not documented (UNCONFIRMED); off, a service key is unknown there.

        `echo_credentials`: a hostile or careless server (HubSpot is not known to do this): refusals of
        credentials (401, 403, and the token endpoint's 400) quote what was sent – the Authorization header,
        or the form's refresh token and client secret – after this many characters of filler, so that a
        client cutting the message to an excerpt before masking it would cut inside the secret."""
        super().__init__(port)
        self.portal_id = portal_id
        self.rate_limit_max = rate_limit_max
        self.oauth_rate_limit_max = oauth_rate_limit_max
        self.daily_limit = daily_limit
        self.search_rate_limit = search_rate_limit
        self.validation_errors: ValidationMode = validation_errors
        self.validation_rule_errors: ValidationMode = validation_rule_errors
        self.partial_failures_2026_09: PartialFailures = partial_failures_2026_09
        self.service_key_token_info = service_key_token_info
        self.access_token_ttl = access_token_ttl
        self.echo_credentials = echo_credentials
        self.openapi = load_openapi(str(openapi_dir)) if openapi_dir is not None else None
        self.schema_violations: list[SchemaViolation] = []
        self.calls: Counter[str] = Counter()
        self._calls_by_type: Counter[tuple[str, str]] = Counter()
        self._calls_by_version: Counter[tuple[str, str]] = Counter()
        self._state = threading.RLock()
        self._static_tokens: dict[str, _Credential] = {}  # private-app tokens and service keys
        self._access_tokens: dict[str, _Credential] = {}
        self._oauth_apps: dict[str, OAuthApp] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._daily_exhausted = False
        for token, scopes in (tokens if tokens is not None else {DEFAULT_TOKEN: all_scopes()}).items():
            self.add_private_app(token, scopes)
        default_app = OAuthApp(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, all_scopes())
        for app in oauth_apps if oauth_apps is not None else [default_app]:
            self._oauth_apps[app.client_id] = app
        self._init_data()
        self._register_routes()

    # -- setup ------------------------------------------------------------------------------------
    def _init_data(self) -> None:
        now = _iso()
        self._objects: dict[str, ObjectType] = _standard_objects(now)
        self._association_types: dict[tuple[str, str, int], AssociationType] = {}
        self._default_types: dict[tuple[str, str], int] = {}
        self._links: dict[Association, None] = {}  # insertion-ordered set
        self._ids = itertools.count(1001)
        self._custom_ids = itertools.count(12345)
        self._user_type_ids = itertools.count(9001)
        for from_id, to_id, type_id, inverse_id, label in _HUBSPOT_DEFINED:
            self._define_association(from_id, to_id, type_id, inverse_id, "HUBSPOT_DEFINED", label)

    def _register_routes(self) -> None:
        """Every endpoint of `ENDPOINTS` under each of its paths, legacy and dated, with one handler."""
        for endpoint in ENDPOINTS:
            handler = getattr(self, endpoint.handler)
            if endpoint.kind == "public":
                wrapped = self._public(endpoint.name, handler)
            else:
                wrapped = self._api(endpoint.name, handler, search=endpoint.kind == "search")
            for pattern in route_patterns(endpoint):
                self.route(endpoint.method, pattern, wrapped)

    # -- credentials and switches -----------------------------------------------------------------
    def add_private_app(self, token: str, scopes: Iterable[str] | None = None) -> None:
        """A private-app token with `scopes` (default: all); it is its own rate-limit bucket."""
        with self._state:
            scopes = frozenset(all_scopes() if scopes is None else scopes)
            self._static_tokens[token] = _Credential(token, scopes)

    def add_service_key(self, key: str, scopes: Iterable[str]) -> None:
        """A service key (Settings > Integrations > Service Keys): a Bearer credential with the scopes
        chosen for it, not tied to a user, limited like a private app (its own rate-limit bucket).
        Adding a known key again replaces its scopes, as editing the key in HubSpot does."""
        with self._state:
            self._static_tokens[key] = _Credential(key, frozenset(scopes), "service-key")

    def require_properties(
        self, object_type: str, names: Sequence[str], *, when: Mapping[str, str] | None = None
    ) -> None:
        """An admin's rule, enforced on 2026-09 writes: records of the type need values for `names`
        (only records whose properties equal `when`, for a conditional rule). Legacy and 2026-03 paths
        ignore it. `clear_data()` forgets the rules."""
        with self._state:
            rule = RequiredRule(tuple(names), tuple((when or {}).items()))
            self._object(object_type, loose=True).rules.append(rule)

    def add_oauth_app(self, app: OAuthApp) -> None:
        with self._state:
            self._oauth_apps[app.client_id] = app

    def issue_access_token(self, client_id: str = DEFAULT_CLIENT_ID) -> str:
        """An OAuth access token without the HTTP round trip, for tests that start authenticated."""
        with self._state:
            return self._issue(self._oauth_apps[client_id])

    def expire_access_tokens(self) -> None:
        """Every OAuth access token issued so far expires now; a client must refresh on the 401."""
        with self._state:
            for credential in self._access_tokens.values():
                credential.expires_at = time.time() - 1

    def exhaust_daily_limit(self, exhausted: bool = True) -> None:
        """Switch: every authenticated request answers 429 with `policyName: DAILY` until switched off."""
        with self._state:
            self._daily_exhausted = exhausted

    def reset(self) -> None:
        """Also forget rate-limit windows, daily usage, call counters and schema violations; data stays
        (see `clear_data()`), and so do credentials."""
        super().reset()
        with self._state:
            self._buckets.clear()
            self._daily_exhausted = False
            self.schema_violations.clear()
            self.calls.clear()
            self._calls_by_type.clear()
            self._calls_by_version.clear()

    def clear_data(self) -> None:
        """Back to the default catalogue: no records, associations, custom objects, added properties or
        required-property rules."""
        with self._state:
            self._init_data()

    # -- seeding helpers --------------------------------------------------------------------------
    def add_property(
        self,
        object_type: str,
        name: str,
        type: str = "string",
        field_type: str | None = None,
        *,
        label: str | None = None,
        has_unique_value: bool = False,
        options: Sequence[str] | None = None,
        read_only: bool = False,
        calculated: bool = False,
        group_name: str | None = None,
    ) -> dict[str, Any]:
        """Define a property directly (no validation of the combination); returns its JSON."""
        with self._state:
            obj = self._object(object_type, loose=True)
            prop = Prop(
                name=name,
                label=label or name.replace("_", " ").title(),
                type=type,
                field_type=field_type or _default_field_type(type),
                group_name=group_name or next(iter(obj.groups)),
                options=_options(*options)
                if options
                else (_options("true", "false") if type == "bool" else []),
                has_unique_value=has_unique_value,
                read_only_value=read_only,
                calculated=calculated,
                display_order=len(obj.properties),
                created_at=_iso(),
            )
            obj.properties[name] = prop
            if obj.is_unique(name):
                obj.unique_index.setdefault(name, {})
            return prop.to_json()

    def add_custom_object(
        self,
        name: str,
        properties: Sequence[Mapping[str, Any]] = (),
        *,
        primary_display_property: str | None = None,
        singular: str | None = None,
        plural: str | None = None,
    ) -> str:
        """Define a custom object (`properties` as keyword arguments of `add_property`); returns its
        objectTypeId. Paths accept the type id or `p_<portal>_<name>`, as HubSpot's do."""
        with self._state:
            type_id = f"2-{next(self._custom_ids)}"
            obj = ObjectType(
                name=name,
                type_id=type_id,
                singular=singular or name.rstrip("s"),
                scope="custom",
                created_property="hs_createdate",
                modified_property="hs_lastmodifieddate",
                default_read=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
                fully_qualified_name=f"p_{self.portal_id}_{name}",
                labels={"singular": singular or name.rstrip("s").title(), "plural": plural or name.title()},
                created_at=_iso(),
            )
            _install_properties(obj, f"{name}_information", [], hubspot_defined=False)
            self._objects[name] = obj
        for spec in properties:
            self.add_property(type_id, **dict(spec))
        with self._state:
            display = primary_display_property or next(
                (p for p in obj.properties if p not in obj.default_read), "hs_object_id"
            )
            obj.primary_display_property = display
            obj.default_read = (*obj.default_read, display)
        return type_id

    def add_record(
        self, object_type: str, properties: Mapping[str, Any], record_id: str | None = None
    ) -> str:
        """Store a record as if it existed before the test (no validation); returns its id. An explicit
        `record_id` (numeric, unused) lets a seed match ids a warehouse already holds; ids handed out
        later skip past it."""
        with self._state:
            obj = self._object(object_type, loose=True)
            values = {name: _as_text(value) for name, value in properties.items()}
            if obj.name == "contacts" and values.get("email"):
                values["email"] = values["email"].strip().lower()
            if record_id is None:
                record_id = str(next(self._ids))
            else:
                if not record_id.isdigit() or any(record_id in o.records for o in self._objects.values()):
                    raise ValueError(f"record id {record_id!r} is not numeric or is already used")
                self._ids = itertools.count(max(next(self._ids), int(record_id) + 1))
            return self._commit(obj, _Plan(record_id, True, values)).id

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        """Define properties, then store records (`SEED_SHAPE`), as a portal would have them."""
        for object_type, specs in seed.get("properties", {}).items():
            for spec in specs:
                self.add_property(object_type, **spec)
        for object_type, records in seed.get("records", {}).items():
            for record in records:
                self.add_record(object_type, record.get("properties", {}), record.get("id"))

    def contents(self) -> dict[str, Any]:
        """Active records of every type that has some, in the seed's shape."""
        with self._state:
            types = [obj.name for obj in self._objects.values() if obj.records]
        records = {name: self.objects(name) for name in types}
        return {
            "records": {
                name: [{"id": rid, "properties": props} for rid, props in found.items()]
                for name, found in records.items()
                if found
            }
        }

    def add_association_label(
        self, from_type: str, to_type: str, label: str, inverse_label: str | None = None
    ) -> int:
        """A USER_DEFINED association label between two types; returns the from->to type id."""
        with self._state:
            source, target = self._object(from_type, loose=True), self._object(to_type, loose=True)
            type_id, inverse_id = next(self._user_type_ids), next(self._user_type_ids)
            self._define_association(
                source.type_id, target.type_id, type_id, inverse_id, "USER_DEFINED", label, inverse_label
            )
            return type_id

    # -- inspection helpers -----------------------------------------------------------------------
    def objects(self, object_type: str) -> dict[str, dict[str, str]]:
        """Active records of a type: {id: properties}."""
        with self._state:
            obj = self._object(object_type, loose=True)
            return {rid: dict(rec.properties) for rid, rec in obj.records.items() if not rec.archived}

    def record(self, object_type: str, record_id: str) -> HubSpotRecord | None:
        """A record by id, archived ones included."""
        with self._state:
            return self._object(object_type, loose=True).records.get(record_id)

    def find(self, object_type: str, prop: str, value: str) -> HubSpotRecord | None:
        """The first active record whose `prop` equals `value` (emails compare case-insensitively)."""
        found = self.find_all(object_type, prop, value)
        return found[0] if found else None

    def find_all(self, object_type: str, prop: str, value: str) -> list[HubSpotRecord]:
        with self._state:
            wanted = _unique_key(prop, value)
            return [
                rec
                for rec in self._object(object_type, loose=True).records.values()
                if not rec.archived and _unique_key(prop, rec.properties.get(prop, "")) == wanted
            ]

    @property
    def associations(self) -> list[Association]:
        """Associations in the direction the client wrote them (the inverse exists implicitly)."""
        with self._state:
            return list(self._links)

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """Ids of active `to_type` records associated with a record, whichever direction was written."""
        with self._state:
            source, target = self._object(from_type, loose=True), self._object(to_type, loose=True)
            return [to_id for to_id, _ in self._associations_of(source, from_id, target)]

    def object_type_id(self, object_type: str) -> str:
        with self._state:
            return self._object(object_type, loose=True).type_id

    def call_count(self, endpoint: str, object_type: str | None = None) -> int:
        """Requests that reached `endpoint` (e.g. "objects.batch/upsert"), optionally for one type."""
        with self._state:
            if object_type is None:
                return self.calls[endpoint]
            return self._calls_by_type[(endpoint, self._type_key(object_type, loose=True))]

    def calls_by_version(self, endpoint: str | None = None) -> Counter[str]:
        """Requests per API version ("legacy", "2026-03", "2026-09"), of one endpoint or of all; a test
        asserts e.g. `calls_by_version()[LEGACY] == 0` for a client that must use dated paths only."""
        counts: Counter[str] = Counter()
        with self._state:
            for (name, version), count in self._calls_by_version.items():
                if endpoint in (None, name):
                    counts[version] += count
        return counts

    # -- request plumbing -------------------------------------------------------------------------
    def _api(self, endpoint: str, handler: _ApiHandler, search: bool = False) -> Handler:
        """Wrap an API handler: count, authenticate, throttle per app, then run it under the state lock.
        Search answers carry no rate-limit headers, as HubSpot's do not."""

        def handle(req: Request) -> Reply:
            self._count(endpoint, req)
            try:
                credential = self._authenticate(req)
            except _ApiError as exc:
                return exc.status, exc.body
            refusal, headers = self._throttle(credential, search)
            headers = {} if search else headers
            if refusal is not None:
                return 429, refusal, headers
            try:
                with self._state:
                    status, body = handler(req, credential)
            except _ApiError as exc:
                status, body = exc.status, exc.body
            return status, body, headers

        return handle

    def _public(self, endpoint: str, handler: Handler) -> Handler:
        """Wrap an endpoint that takes no Bearer token (OAuth): it is counted, not authenticated or
        throttled."""

        def handle(req: Request) -> Reply:
            self._count(endpoint, req)
            return handler(req)

        return handle

    def _count(self, endpoint: str, req: Request) -> None:
        raw = req.path_params.get("object_type") or req.path_params.get("from_type")
        with self._state:
            self.calls[endpoint] += 1
            self._calls_by_version[(endpoint, request_version(req))] += 1
            if raw is not None:
                self._calls_by_type[(endpoint, self._type_key(raw))] += 1

    def _type_key(self, raw: str, loose: bool = False) -> str:
        obj = self._find_object(raw, loose)
        return obj.name if obj else raw

    def _authenticate(self, req: Request) -> _Credential:
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        with self._state:
            credential = self._static_tokens.get(token.strip()) or self._access_tokens.get(token.strip())
        if scheme.lower() != "bearer" or credential is None:
            _fail(
                401, "INVALID_AUTHENTICATION", self._echo(AUTH_MESSAGE, req.headers.get("Authorization", ""))
            )
        if credential.expires_at is not None and credential.expires_at <= time.time():
            ago = max(1, int(time.time() - credential.expires_at))
            _fail(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
            )
        return credential

    def _throttle(
        self, credential: _Credential, search: bool
    ) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """HubSpot's per-app 10 s sliding window and daily allowance, plus the search API's own per-second
        limit; only accepted requests count. Answers (refusal body or None, rate-limit headers).

        UNCONFIRMED: 429s carry no Retry-After (HubSpot tells clients to back off by the interval
        header); the search 429 says `policyName: SECONDLY`."""
        now = time.monotonic()
        with self._state:
            limit = self.oauth_rate_limit_max if credential.oauth else self.rate_limit_max
            bucket = self._buckets.setdefault(credential.app, _Bucket())
            _expire(bucket.hits, now - WINDOW_SECONDS)
            _expire(bucket.search_hits, now - 1.0)
            daily_out = self._daily_exhausted or (
                not credential.oauth and bucket.daily_used >= self.daily_limit
            )
            refusal: dict[str, Any] | None = None
            if daily_out:
                refusal = self._rate_body("daily", "DAILY", credential)
            elif len(bucket.hits) >= limit:
                refusal = self._rate_body("ten_secondly_rolling", "TEN_SECONDLY_ROLLING", credential)
            elif search and len(bucket.search_hits) >= self.search_rate_limit:
                refusal = self._rate_body("secondly", "SECONDLY", credential)
            else:
                bucket.hits.append(now)
                bucket.daily_used += 1
                if search:
                    bucket.search_hits.append(now)
            return refusal, self._rate_headers(credential, limit, bucket)

    def _rate_headers(self, credential: _Credential, limit: int, bucket: _Bucket) -> dict[str, str]:
        """Sent on every authenticated answer; the daily pair only to static tokens (HubSpot does not
        report a daily limit to OAuth apps; service keys have private-app limits)."""
        headers = {
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limit - len(bucket.hits))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
        }
        if not credential.oauth:
            remaining = 0 if self._daily_exhausted else max(0, self.daily_limit - bucket.daily_used)
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
        return headers

    def _rate_body(self, limit_name: str, policy: str, credential: _Credential) -> dict[str, Any]:
        return {
            "status": "error",
            "message": f"You have reached your {limit_name} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": f"publicapi:{credential.kind}:{self.portal_id}",  # UNCONFIRMED for service keys
        }

    def _require(self, credential: _Credential, *any_of: str) -> None:
        """403 MISSING_SCOPES unless the credential holds one of `any_of` (HubSpot lists alternatives)."""
        if not credential.scopes.intersection(any_of):
            _fail(
                403,
                "MISSING_SCOPES",
                self._echo(SCOPE_MESSAGE, f"Bearer {credential.app}"),
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": list(any_of)},
                    }
                ],
                links={"scopes": SCOPES_URL},
            )

    def _echo(self, message: str, sent: str) -> str:
        """The message, after what was sent and `echo_credentials` characters of filler before that."""
        if self.echo_credentials is None:
            return message
        return f"{'.' * self.echo_credentials}{sent} {message}"

    def _require_objects(self, credential: _Credential, obj: ObjectType, access: str) -> None:
        self._require(credential, f"crm.objects.{obj.scope}.{access}", *LEGACY_SCOPES.get(obj.scope, ()))

    def _find_object(self, raw: str, loose: bool = False) -> ObjectType | None:
        """`loose` (test helpers only) also accepts a custom object's bare name."""
        with self._state:
            return next(
                (
                    obj
                    for obj in self._objects.values()
                    if raw in obj.aliases() or (loose and raw == obj.name)
                ),
                None,
            )

    def _object(self, raw: str, loose: bool = False) -> ObjectType:
        """Resolve a path object type: name (or singular), type id, or a custom object's full name.
        UNCONFIRMED: the status and text for an unknown type (400 here)."""
        obj = self._find_object(raw, loose)
        if obj is None:
            _fail(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
        return obj

    def _violation(self, req: Request, schema: str, message: str) -> NoReturn:
        self.schema_violations.append(SchemaViolation(req.method, req.path, schema, message))
        _fail(400, "VALIDATION_ERROR", f"Invalid input JSON: {message}")

    def _json(self, req: Request, document: str, schema: str) -> Any:
        """Parse the body and check it against the OpenAPI request schema when one is loaded."""
        try:
            body = json.loads(req.body or b"null")
        except ValueError as exc:
            self._violation(req, schema, f"body is not JSON ({exc})")
        problem = self.openapi.validate(document, schema, body) if self.openapi else None
        if problem is not None:
            self._violation(req, schema, problem)
        return body

    def _inputs(
        self, req: Request, document: str, schema: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The body and its `inputs`, shape-checked even without schemas, and at most MAX_BATCH of them.
        UNCONFIRMED: the message of the too-many-inputs 400."""
        body = self._json(req, document, schema)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
            self._violation(req, schema, 'expected an object with "inputs": a list of objects')
        if len(inputs) > MAX_BATCH:
            _fail(
                400,
                "VALIDATION_ERROR",
                f"Too many inputs: {len(inputs)}. A batch request accepts at most {MAX_BATCH} inputs.",
            )
        return body, inputs

    # -- OAuth --------------------------------------------------------------------------------------
    def _oauth_token(self, req: Request) -> Reply:
        """Refresh grant only. Error bodies follow HubSpot's `{"status": "BAD_…", "message"}` shape
        (UNCONFIRMED texts); v3 and the dated paths add RFC 6749's `error` and `error_description`, as
        HubSpot's changelog announced for them ("New OAuth v3 API Endpoints and Standardized Error
        Responses")."""
        form = _form(req)
        rfc6749 = not req.path.startswith(OAUTH_V1)
        with self._state:
            if form.get("grant_type") != "refresh_token":
                return 400, _oauth_error("BAD_GRANT_TYPE", "grant_type must be refresh_token", rfc6749)
            app = self._client(form, rfc6749)
            if not isinstance(app, OAuthApp):
                return app
            if form.get("refresh_token") != app.refresh_token:
                message = self._echo("missing or unknown refresh token", form.get("refresh_token", ""))
                return 400, _oauth_error("BAD_REFRESH_TOKEN", message, rfc6749)
            token = self._issue(app)
        body = {
            "token_type": "bearer",
            "token_use": "access_token",
            "refresh_token": app.refresh_token,
            "access_token": token,
            "expires_in": self.access_token_ttl,
        }
        return 200, body

    def _client(self, form: Mapping[str, str], rfc6749: bool) -> OAuthApp | Reply:
        """The app the form's client_id and client_secret name, or the 400 refusing them."""
        app = self._oauth_apps.get(form.get("client_id", ""))
        if app is None:
            return 400, _oauth_error("BAD_CLIENT_ID", "missing or unknown client_id", rfc6749)
        if form.get("client_secret") != app.client_secret:
            message = self._echo("missing or invalid client_secret", form.get("client_secret", ""))
            return 400, _oauth_error("BAD_CLIENT_SECRET", message, rfc6749)
        return app

    def _issue(self, app: OAuthApp) -> str:
        token = f"oauth-{uuid.uuid4().hex}"
        expires_at = time.time() + self.access_token_ttl
        self._access_tokens[token] = _Credential(f"oauth:{app.client_id}", app.scopes, "oauth", expires_at)
        return token

    def _live_access_token(self, token: str) -> _Credential | None:
        credential = self._access_tokens.get(token)
        if credential is None or (credential.expires_at or 0) <= time.time():
            return None
        return credential

    def _token_info(self, req: Request) -> Reply:
        """GET /oauth/v1/access-tokens/{token}: deprecated by HubSpot (sunset 2027-02-16), still served."""
        with self._state:
            credential = self._live_access_token(req.path_params["token"])
        if credential is None:
            return 404, _oauth_error("BAD_ACCESS_TOKEN", "access token not found or expired")
        body = {
            "token": req.path_params["token"],
            "hub_id": self.portal_id,
            "app_id": credential.app.removeprefix("oauth:"),
            "scopes": sorted(credential.scopes),
            "token_type": "access",
            "expires_in": int((credential.expires_at or 0) - time.time()),
        }
        return 200, body

    def _introspect(self, req: Request) -> Reply:
        """POST /oauth/{v3|date}/token/introspect (form: client_id, client_secret, token): what the app's
        own access or refresh token grants, as the 2026-03 description's PublicAccessTokenInfoResponse
        and PublicRefreshTokenInfoResponse (less `signed_access_token`). Any other token, expired ones
        included, is `{"active": false}` as RFC 7662 has it (UNCONFIRMED for another app's token)."""
        form = _form(req)
        with self._state:
            app = self._client(form, rfc6749=True)
            if not isinstance(app, OAuthApp):
                return app
            token = form.get("token", "")
            credential = self._live_access_token(token)
        grant: dict[str, Any] = {
            "active": True,
            "token": token,
            "client_id": app.client_id,
            "app_id": numeric_id(app.client_id),
            "hub_id": self.portal_id,
            "user_id": INSTALLING_USER_ID,
            "scopes": sorted(app.scopes),
        }
        if credential is not None and credential.app == f"oauth:{app.client_id}":
            expires_in = int((credential.expires_at or 0) - time.time())
            access = {"token_type": "access", "token_use": "access_token", "expires_in": expires_in}
            return 200, grant | access | {"is_private_distribution": False}
        if token == app.refresh_token:
            return 200, grant | {"token_type": "refresh", "token_use": "refresh_token"}
        return 200, {"active": False}

    def _private_app_token_info(self, req: Request) -> Reply:
        """POST /oauth/v2/private-apps/get/access-token-info `{"tokenKey": …}`: a private-app token's
        portal, app, user and scopes (documented in HubSpot's private-apps guide; public clients use it).
        Service keys only with `service_key_token_info`. UNCONFIRMED: the answer for an unknown token
        (401 INVALID_AUTHENTICATION here) and for a body without tokenKey (400)."""
        try:
            request = json.loads(req.body or b"null")
        except ValueError:
            request = None
        token = request.get("tokenKey") if isinstance(request, dict) else None
        if not isinstance(token, str) or not token:
            return 400, _error_body("VALIDATION_ERROR", "tokenKey is required")
        with self._state:
            credential = self._static_tokens.get(token)
        if credential is None or (credential.kind == "service-key" and not self.service_key_token_info):
            return 401, _error_body("INVALID_AUTHENTICATION", AUTH_MESSAGE)
        info = {
            "userId": INSTALLING_USER_ID,
            "hubId": self.portal_id,
            "appId": numeric_id(token),
            "scopes": sorted(credential.scopes),
        }
        return 200, info

    # -- schemas and properties -------------------------------------------------------------------
    def _schema_json(self, obj: ObjectType) -> dict[str, Any]:
        return {
            "id": obj.type_id.removeprefix("2-"),
            "name": obj.name,
            "labels": dict(obj.labels),
            "objectTypeId": obj.type_id,
            "fullyQualifiedName": obj.fully_qualified_name,
            "primaryDisplayProperty": obj.primary_display_property,
            "requiredProperties": [obj.primary_display_property] if obj.primary_display_property else [],
            "searchableProperties": [obj.primary_display_property] if obj.primary_display_property else [],
            "secondaryDisplayProperties": [],
            "properties": [prop.to_json() for prop in obj.properties.values()],
            "associations": [],
            "archived": False,
            "createdAt": obj.created_at,
            "updatedAt": obj.created_at,
        }

    def _list_schemas(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        self._require(credential, "crm.schemas.custom.read")
        return 200, {"results": [self._schema_json(obj) for obj in self._objects.values() if obj.custom]}

    def _get_schema(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        self._require(credential, "crm.schemas.custom.read")
        obj = self._object(req.path_params["object_type"])
        if not obj.custom:
            _fail(
                404, "OBJECT_NOT_FOUND", f"Unable to find object schema for {req.path_params['object_type']}"
            )
        return 200, self._schema_json(obj)

    def _require_schemas(self, credential: _Credential, obj: ObjectType, access: str) -> None:
        """Reading properties takes the schema or the objects read scope; creating takes schema write."""
        scopes = [f"crm.schemas.{obj.scope}.{access}"]
        if access == "read":
            scopes.append(f"crm.objects.{obj.scope}.read")
        self._require(credential, *scopes)

    def _list_properties(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        obj = self._object(req.path_params["object_type"])
        self._require_schemas(credential, obj, "read")
        if req.query.get("archived") == "true":
            return 200, {"results": []}
        return 200, {"results": [prop.to_json() for prop in obj.properties.values()]}

    def _get_property(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        obj = self._object(req.path_params["object_type"])
        self._require_schemas(credential, obj, "read")
        prop = obj.properties.get(req.path_params["name"])
        if prop is None:
            _fail(404, "OBJECT_NOT_FOUND", f"property {req.path_params['name']} does not exist")
        return 200, prop.to_json()

    def _create_property(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        obj = self._object(req.path_params["object_type"])
        self._require_schemas(credential, obj, "write")
        body = self._json(req, "properties", "PropertyCreate")
        if not isinstance(body, dict):
            self._violation(req, "PropertyCreate", "expected a JSON object")
        self._check_option_order(req, [body])
        problem = self._property_problem(obj, body, set())
        if problem is not None:
            raise _ApiError(problem.status, problem.batch_body())
        return 201, self._define_property(obj, body)

    def _batch_create_properties(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Each input succeeds or fails alone (201, or 207 listing the failures by property name)."""
        obj = self._object(req.path_params["object_type"])
        self._require_schemas(credential, obj, "write")
        _, inputs = self._inputs(req, "properties", "BatchInputPropertyCreate")
        self._check_option_order(req, inputs)
        started, results, errors = _iso(), [], []
        seen: set[str] = set()
        for spec in inputs:
            problem = self._property_problem(obj, spec, seen)
            if problem is None:
                results.append(self._define_property(obj, spec))
                seen.add(str(spec["name"]))
            else:
                errors.append(problem.item(None) | {"context": {"propertyName": [str(spec.get("name"))]}})
        return self._batch_answer(
            req, version_traits(req).property_batch_create_status, started, results, errors
        )

    def _check_option_order(self, req: Request, specs: Sequence[Mapping[str, Any]]) -> None:
        """From 2026-03 on, HubSpot's descriptions require `displayOrder` on every option (OptionInput);
        the local request schemas predate that, so the dated paths check it here. UNCONFIRMED: the
        message text, modelled on HubSpot's JSON-binding errors."""
        if not version_traits(req).option_order_required:
            return
        for spec in specs:
            options = spec.get("options") or []
            if any(isinstance(option, dict) and "displayOrder" not in option for option in options):
                message = "Cannot build OptionInput, some of required attributes are not set [displayOrder]"
                self._violation(req, "OptionInput", message)

    def _property_problem(
        self, obj: ObjectType, spec: Mapping[str, Any], batch_names: set[str]
    ) -> _InputError | None:
        """Why a PropertyCreate cannot be applied, or None. UNCONFIRMED: the 400 message texts."""
        missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not spec.get(key)]
        if missing:
            return _InputError(400, "VALIDATION_ERROR", f"Some required fields were not set: {missing}")
        name, kind, field_type = str(spec["name"]), str(spec["type"]), str(spec["fieldType"])
        if name in obj.properties or name in batch_names:
            message = f"A property named '{name}' already exists."
            return _InputError(
                409, "OBJECT_ALREADY_EXISTS", message, sub_category="Properties.PROPERTY_WITH_NAME_EXISTS"
            )
        options = [option for option in spec.get("options") or [] if isinstance(option, dict)]
        values = [str(option.get("value")) for option in options]
        unique = bool(spec.get("hasUniqueValue"))
        unique_count = sum(prop.has_unique_value for prop in obj.properties.values())
        rules = [
            (
                not PROPERTY_NAME.fullmatch(name),
                f"Invalid property name {name!r}: use lowercase letters, digits "
                "and underscores, starting with a letter",
            ),
            (kind not in FIELD_TYPES, f"Invalid property type {kind!r}"),
            (
                field_type not in FIELD_TYPES.get(kind, ()),
                f"fieldType {field_type!r} is not valid for type {kind!r}",
            ),
            (spec["groupName"] not in obj.groups, f"Property group {spec['groupName']!r} does not exist"),
            (kind == "enumeration" and not options, "Enumeration properties need options"),
            (len(set(values)) != len(values), "Option values must be unique"),
            (unique and kind not in ("string", "number"), "Only string and number properties can be unique"),
            (
                unique and unique_count >= MAX_UNIQUE_PROPERTIES,
                f"An object can have at most {MAX_UNIQUE_PROPERTIES} unique value properties",
            ),
        ]
        reason = next((message for broken, message in rules if broken), None)
        return _InputError(400, "VALIDATION_ERROR", reason) if reason else None

    def _define_property(self, obj: ObjectType, spec: Mapping[str, Any]) -> dict[str, Any]:
        options = [
            {
                "label": str(option.get("label", option.get("value"))),
                "value": str(option.get("value")),
                "displayOrder": option.get("displayOrder", i),
                "hidden": bool(option.get("hidden", False)),
            }
            for i, option in enumerate(spec.get("options") or [])
        ]
        if spec["type"] == "bool" and not options:
            options = _options("true", "false")
        prop = Prop(
            name=str(spec["name"]),
            label=str(spec["label"]),
            type=str(spec["type"]),
            field_type=str(spec["fieldType"]),
            group_name=str(spec["groupName"]),
            options=options,
            has_unique_value=bool(spec.get("hasUniqueValue", False)),
            calculated=spec["fieldType"] == "calculation_equation",
            description=str(spec.get("description", "")),
            display_order=int(spec.get("displayOrder", -1)),
            created_at=_iso(),
        )
        obj.properties[prop.name] = prop
        if obj.is_unique(prop.name):
            obj.unique_index.setdefault(prop.name, {})
        return prop.to_json()

    def _list_groups(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        obj = self._object(req.path_params["object_type"])
        self._require_schemas(credential, obj, "read")
        return 200, {"results": [group | {"archived": False} for group in obj.groups.values()]}

    def _create_group(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        obj = self._object(req.path_params["object_type"])
        self._require_schemas(credential, obj, "write")
        body = self._json(req, "properties", "PropertyGroupCreate")
        if not isinstance(body, dict) or not body.get("name") or not body.get("label"):
            self._violation(req, "PropertyGroupCreate", "name and label are required")
        if body["name"] in obj.groups:
            _fail(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{body['name']}' already exists.")
        group = {
            "name": str(body["name"]),
            "label": str(body["label"]),
            "displayOrder": body.get("displayOrder", -1),
        }
        obj.groups[group["name"]] = group
        return 201, group | {"archived": False}

    # -- object reads -----------------------------------------------------------------------------
    def _requested(self, obj: ObjectType, raw: Any) -> tuple[str, ...]:
        """Properties to return: those asked for, else the type's defaults."""
        if isinstance(raw, str):
            raw = [name for name in raw.split(",") if name]
        return tuple(raw) if raw else obj.default_read

    def _list_objects(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """GET /crm/v3/objects/{type}?limit&after&properties&archived — paged by record id."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "read")
        limit = max(1, min(100, _int(req.query.get("limit") or 10)))
        after = _int(req.query.get("after") or 0)
        archived = req.query.get("archived") == "true"
        chosen = sorted(
            (rec for rec in obj.records.values() if rec.archived == archived and int(rec.id) >= after),
            key=lambda rec: int(rec.id),
        )
        only = self._requested(obj, req.query.get("properties"))
        body: dict[str, Any] = {"results": [rec.to_json(only) for rec in chosen[:limit]]}
        if len(chosen) > limit:
            next_after = chosen[limit].id
            body["paging"] = {"next": {"after": next_after, "link": f"{req.path}?after={next_after}"}}
        return 200, body

    def _get_object(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "read")
        id_property = self._id_property(obj, req.query.get("idProperty"), reading=True)
        record_id = self._resolve(obj, req.path_params["object_id"], id_property)
        if record_id is None:
            return 404, {
                "status": "error",
                "message": "resource not found",
                "correlationId": str(uuid.uuid4()),
            }
        return 200, obj.records[record_id].to_json(self._requested(obj, req.query.get("properties")))

    def _search(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """CRM search with the filters clients use to find records by non-unique values (e.g. companies
        by `domain`): EQ, NEQ, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY. Filter groups are ORed, filters
        within a group ANDed; string comparison ignores case, as HubSpot's search does. `after` is an
        offset. Other operators and free-text `query` answer 400 (not modelled)."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "read")
        body = self._json(req, "objects", "PublicObjectSearchRequest")
        if not isinstance(body, dict):
            self._violation(req, "PublicObjectSearchRequest", "expected a JSON object")
        if body.get("query"):
            _fail(400, "VALIDATION_ERROR", "The fake does not support free-text search queries")
        groups = body.get("filterGroups") or []
        matches = [
            rec
            for rec in sorted(obj.records.values(), key=lambda rec: int(rec.id))
            if not rec.archived and (not groups or any(_group_matches(rec, group) for group in groups))
        ]
        offset = max(0, _int(body.get("after") or 0))
        limit = max(1, min(MAX_SEARCH_PAGE, _int(body.get("limit") or 10)))
        only = self._requested(obj, body.get("properties"))
        page: dict[str, Any] = {
            "total": len(matches),
            "results": [r.to_json(only) for r in matches[offset:][:limit]],
        }
        if offset + limit < len(matches):
            page["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, page

    # -- batch writes -------------------------------------------------------------------------------
    def _per_input(self, problem: _InputError, inputs: Sequence[Mapping[str, Any]]) -> bool:
        """Whether a failure answers per input (207) rather than for the whole batch."""
        if problem.always_partial:
            return True
        mode = self.validation_rule_errors if problem.rule else self.validation_errors
        if mode != "hubspot":
            return mode == "per_input"
        return bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)

    def _batch_create(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Create of an existing contact email (or unique value) is a CONFLICT: with multi-status a 207
        item, otherwise a 409 for the whole batch, naming the first conflict (as HubSpot does)."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "write")
        _, inputs = self._inputs(req, "objects", "BatchInputSimplePublicObjectInputForCreate")
        rules = version_traits(req).enforces_write_rules
        claims: dict[tuple[str, str], str] = {}
        plans: list[_Plan | _InputError] = []
        for item in inputs:
            props = self._checked_properties(obj, item.get("properties"))
            plans.append(
                props
                if isinstance(props, _InputError)
                else self._plan_create(obj, item, props, claims, rules)
            )
        return self._finish(req, obj, inputs, plans, [None] * len(inputs), 201)

    def _plan_create(
        self,
        obj: ObjectType,
        item: Mapping[str, Any],
        props: dict[str, str],
        claims: dict[tuple[str, str], str],
        rules: bool,
    ) -> _Plan | _InputError:
        missing = self._unmet(obj, None, props) if rules else []
        if missing:
            return _unmet_rules(obj, missing, creating=True)
        conflict = self._conflict(obj, props, None, claims)
        if conflict is not None:
            return conflict
        links = self._create_associations(obj, item.get("associations") or [])
        if isinstance(links, _InputError):
            return links
        plan = _Plan(str(next(self._ids)), True, props, links)
        self._claim(obj, plan, claims)
        return plan

    def _batch_update(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """By record id, or by a unique `idProperty`; ids that match nothing are 207 OBJECT_NOT_FOUND."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "write")
        _, inputs = self._inputs(req, "objects", "BatchInputSimplePublicObjectBatchInput")
        targets = [
            self._resolve(obj, str(item.get("id", "")), self._id_property(obj, item.get("idProperty")))
            for item in inputs
        ]
        self._reject_duplicates(
            inputs,
            [target or f"missing:{item.get('id')}" for item, target in zip(inputs, targets, strict=True)],
        )
        rules = version_traits(req).enforces_write_rules
        claims: dict[tuple[str, str], str] = {}
        plans: list[_Plan | _InputError] = []
        for item, target in zip(inputs, targets, strict=True):
            if target is None:
                plans.append(self._not_found(obj))
                continue
            props = self._checked_properties(obj, item.get("properties"))
            plans.append(
                props
                if isinstance(props, _InputError)
                else self._plan_update(obj, target, props, claims, rules)
            )
        return self._finish(req, obj, inputs, plans, [str(item.get("id", "")) for item in inputs], 200)

    def _plan_update(
        self,
        obj: ObjectType,
        record_id: str,
        props: dict[str, str],
        claims: dict[tuple[str, str], str],
        rules: bool,
    ) -> _Plan | _InputError:
        missing = self._unmet(obj, obj.records[record_id].properties, props) if rules else []
        if missing:
            return _unmet_rules(obj, missing, creating=False)
        conflict = self._conflict(obj, props, record_id, claims)
        if conflict is not None:
            return conflict
        plan = _Plan(record_id, False, props)
        self._claim(obj, plan, claims)
        return plan

    def _batch_upsert(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Create or update by a unique `idProperty` (per input, or `?idProperty=`); results carry `new`.

        The request schema is the update one (the OpenAPI files predate upsert). UNCONFIRMED: HubSpot's
        note that "partial upserts are not supported" with `email` is not modelled; a missing idProperty
        answers 400 here."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "write")
        _, inputs = self._inputs(req, "objects", "BatchInputSimplePublicObjectBatchInput")
        id_properties = [item.get("idProperty") or req.query.get("idProperty") for item in inputs]
        if not all(id_properties):
            _fail(400, "VALIDATION_ERROR", "Upsert requires an idProperty naming a unique property")
        keys = [self._id_property(obj, str(name)) or "" for name in id_properties]
        targets = [
            self._resolve(obj, str(item.get("id", "")), key) for item, key in zip(inputs, keys, strict=True)
        ]
        identities = [
            target or f"new:{key}:{_unique_key(key, str(item.get('id', '')))}"
            for item, key, target in zip(inputs, keys, targets, strict=True)
        ]
        self._reject_duplicates(inputs, identities)
        rules = version_traits(req).enforces_write_rules
        claims: dict[tuple[str, str], str] = {}
        plans: list[_Plan | _InputError] = []
        for item, key, target in zip(inputs, keys, targets, strict=True):
            raw = dict(item.get("properties") or {}) if isinstance(item.get("properties"), dict) else None
            if raw is not None:
                raw.setdefault(key, str(item.get("id", "")))
            props = self._checked_properties(obj, raw)
            if isinstance(props, _InputError):
                plans.append(props)
            elif target is None:
                plans.append(self._plan_create(obj, {}, props, claims, rules))
            else:
                plans.append(self._plan_update(obj, target, props, claims, rules))
        return self._finish(
            req, obj, inputs, plans, [str(item.get("id", "")) for item in inputs], 200, upsert=True
        )

    @staticmethod
    def _unmet(obj: ObjectType, before: Mapping[str, str] | None, written: Mapping[str, str]) -> list[str]:
        """Properties the type's required-property rules want and this write leaves empty."""
        return list(dict.fromkeys(name for rule in obj.rules for name in rule.unmet(before, written)))

    def _finish(
        self,
        req: Request,
        obj: ObjectType,
        inputs: Sequence[Mapping[str, Any]],
        plans: Sequence[_Plan | _InputError],
        ids: Sequence[str | None],
        ok_status: int,
        upsert: bool = False,
    ) -> tuple[int, Any]:
        """Apply the batch, or refuse it whole when a failure is not reported per input."""
        started = _iso()
        fatal = next(
            (plan for plan in plans if isinstance(plan, _InputError) and not self._per_input(plan, inputs)),
            None,
        )
        if fatal is not None:
            raise _ApiError(fatal.status, fatal.batch_body())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item, plan, raw_id in zip(inputs, plans, ids, strict=True):
            trace = item.get("objectWriteTraceId")
            trace = None if trace is None else str(trace)
            if isinstance(plan, _InputError):
                errors.append(plan.item(trace, [raw_id] if raw_id is not None else ()))
                continue
            result = self._commit(obj, plan).to_json()
            if upsert:
                result["new"] = plan.new
            if trace is not None:
                result["objectWriteTraceId"] = trace
            results.append(result)
        return self._batch_answer(req, ok_status, started, results, _group_not_found(errors))

    def _batch_answer(
        self,
        req: Request,
        ok_status: int,
        started: str,
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]],
    ) -> tuple[int, dict[str, Any]]:
        """A batch response; partial failures are a 207 unless `partial_failures_2026_09` says
        otherwise for 2026-09."""
        success_status = (
            request_version(req) == "2026-09" and self.partial_failures_2026_09 == "success_status"
        )
        return _batch_reply(ok_status, started, results, errors, ok_status if success_status else 207)

    def _checked_properties(self, obj: ObjectType, raw: Any) -> dict[str, str] | _InputError:
        """Validated, normalised values (`""` kept: it clears), or every problem of this input."""
        if not isinstance(raw, dict):
            return _InputError(400, "VALIDATION_ERROR", "Invalid input: properties must be an object")
        clean: dict[str, str] = {}
        problems: list[tuple[str, Problem]] = []
        for name, value in raw.items():
            prop = obj.properties.get(name)
            if prop is None:
                problems.append((name, ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')))
            elif prop.read_only_value or prop.calculated:
                message = f'"{name}" is a read only property; its value cannot be set.'
                problems.append((name, ("READ_ONLY_VALUE", message)))
            else:
                text = _as_text(value)
                email = obj.name == "contacts" and name == "email"
                stored, problem = (text, None) if text == "" else normalize_value(prop, text, email=email)
                if problem is not None:
                    problems.append((name, problem))
                clean[name] = stored
        return _invalid_properties(problems, self.portal_id) if problems else clean

    def _conflict(
        self,
        obj: ObjectType,
        props: Mapping[str, str],
        own_id: str | None,
        claims: Mapping[tuple[str, str], str],
    ) -> _InputError | None:
        """CONFLICT when a unique value (a contact's email included) belongs to another record, or to an
        earlier input of the same batch. UNCONFIRMED for non-email unique properties: same 409 shape."""
        for name, value in props.items():
            if value == "" or not obj.is_unique(name):
                continue
            key = (name, _unique_key(name, value))
            holder = claims.get(key) or obj.unique_index.get(name, {}).get(key[1])
            if holder is not None and holder != own_id:
                message = f"{obj.title} already exists. Existing ID: {holder}"
                return _InputError(409, "CONFLICT", message, context={"existingId": [holder]})
        return None

    def _claim(self, obj: ObjectType, plan: _Plan, claims: dict[tuple[str, str], str]) -> None:
        for name, value in plan.props.items():
            if value and obj.is_unique(name):
                claims[(name, _unique_key(name, value))] = plan.record_id

    def _not_found(self, obj: ObjectType) -> _InputError:
        return _InputError(
            404, "OBJECT_NOT_FOUND", NOT_FOUND_MESSAGE.format(noun=obj.noun), always_partial=True
        )

    def _id_property(self, obj: ObjectType, name: Any, reading: bool = False) -> str | None:
        """The unique property inputs are identified by, or None for record ids. `hs_object_id` is a 400
        for writes (send `id` without idProperty); reads accept it as the record id."""
        if name is None or (reading and name == "hs_object_id"):
            return None
        if not obj.is_unique(str(name)):
            _fail(
                400,
                "VALIDATION_ERROR",
                f"Unable to perform update/upsert by non-unique {obj.type_id} property {name} "
                f"in portal ID {self.portal_id}",
            )
        return str(name)

    def _resolve(self, obj: ObjectType, raw_id: str, id_property: str | None) -> str | None:
        """The active record an input names, or None."""
        if id_property is None:
            rec = obj.records.get(raw_id)
            return raw_id if rec is not None and not rec.archived else None
        return obj.unique_index.get(id_property, {}).get(_unique_key(id_property, raw_id))

    @staticmethod
    def _reject_duplicates(inputs: Sequence[Mapping[str, Any]], identities: Sequence[str]) -> None:
        """400 when two inputs resolve to the same record (or name the same new or missing one)."""
        seen: dict[str, str] = {}
        duplicates: list[str] = []
        for item, identity in zip(inputs, identities, strict=True):
            raw = str(item.get("id", ""))
            if identity in seen and raw not in duplicates:
                duplicates.append(raw)
            seen.setdefault(identity, raw)
        if duplicates:
            _fail(
                400,
                "VALIDATION_ERROR",
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
            )

    def _commit(self, obj: ObjectType, plan: _Plan) -> HubSpotRecord:
        """Apply one planned write: `""` clears a value; unique indexes and modified dates follow."""
        now = _iso()
        rec = obj.records.get(plan.record_id)
        if rec is None:
            rec = HubSpotRecord(plan.record_id, {}, now, now)
            obj.records[rec.id] = rec
            rec.properties.update({"hs_object_id": rec.id, obj.created_property: now})
        for name, value in plan.props.items():
            self._unindex(obj, rec, name)
            if value == "":
                rec.properties.pop(name, None)
            else:
                rec.properties[name] = value
                if obj.is_unique(name):
                    obj.unique_index.setdefault(name, {})[_unique_key(name, value)] = rec.id
        rec.properties[obj.modified_property] = now
        rec.updated_at = now
        for target, target_id, kind in plan.associations:
            self._link(obj, rec.id, target, target_id, kind)
        return rec

    @staticmethod
    def _unindex(obj: ObjectType, rec: HubSpotRecord, name: str) -> None:
        old = rec.properties.get(name)
        index = obj.unique_index.get(name)
        if old and index is not None and index.get(_unique_key(name, old)) == rec.id:
            del index[_unique_key(name, old)]

    @staticmethod
    def _archived(obj: ObjectType, raw_id: str, id_property: str | None) -> HubSpotRecord | None:
        """An archived record by id or unique value (archived records are not in the unique index)."""
        for rec in obj.records.values():
            value = rec.id if id_property is None else rec.properties.get(id_property, "")
            if rec.archived and _unique_key(id_property or "", value) == _unique_key(
                id_property or "", raw_id
            ):
                return rec
        return None

    def _batch_archive(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """204 whatever the ids (archiving a missing record is not an error); frees unique values."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "write")
        _, inputs = self._inputs(req, "objects", "BatchInputSimplePublicObjectId")
        for item in inputs:
            rec = obj.records.get(str(item.get("id", "")))
            if rec is None or rec.archived:
                continue
            for name in list(obj.unique_index):
                self._unindex(obj, rec, name)
            rec.archived = True
            rec.updated_at = _iso()
        return 204, None

    def _batch_read(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """By record id or a unique `idProperty`; the ids not found are listed in one 207 error."""
        obj = self._object(req.path_params["object_type"])
        self._require_objects(credential, obj, "read")
        body, inputs = self._inputs(req, "objects", "BatchReadInputSimplePublicObjectId")
        id_property = self._id_property(obj, body.get("idProperty"), reading=True)
        only = self._requested(obj, body.get("properties"))
        if id_property is not None and id_property not in only:
            only = (*only, id_property)
        started, results, missing = _iso(), [], []
        archived = req.query.get("archived") == "true"
        for raw_id in dict.fromkeys(str(item.get("id", "")) for item in inputs):
            record_id = None if archived else self._resolve(obj, raw_id, id_property)
            rec = self._archived(obj, raw_id, id_property) if archived else obj.records.get(record_id or "")
            if rec is None:
                missing.append(raw_id)
            else:
                results.append(rec.to_json(only))
        errors = [self._not_found(obj).item(None, missing)] if missing else []
        return self._batch_answer(req, 200, started, results, errors)

    # -- associations -------------------------------------------------------------------------------
    def _define_association(
        self,
        from_id: str,
        to_id: str,
        type_id: int,
        inverse_id: int,
        category: str,
        label: str | None,
        inverse_label: str | None = None,
    ) -> None:
        forward = AssociationType(from_id, to_id, type_id, category, label, inverse_id)
        backward = AssociationType(to_id, from_id, inverse_id, category, inverse_label or label, type_id)
        for kind in (forward, backward):
            self._association_types[(kind.from_type_id, kind.to_type_id, kind.type_id)] = kind
            if kind.label is None:
                self._default_types.setdefault((kind.from_type_id, kind.to_type_id), kind.type_id)

    def _default_type(self, source: ObjectType, target: ObjectType) -> AssociationType:
        """HubSpot's unlabeled type for the pair. UNCONFIRMED for custom objects: the fake makes up a
        USER_DEFINED unlabeled pair on first use (HubSpot defines them with the schema)."""
        key = (source.type_id, target.type_id)
        if key not in self._default_types:
            type_id, inverse_id = next(self._user_type_ids), next(self._user_type_ids)
            self._define_association(*key, type_id, inverse_id, "USER_DEFINED", None)
        return self._association_types[(*key, self._default_types[key])]

    def _association_kind(
        self, source: ObjectType, target: ObjectType, spec: Mapping[str, Any]
    ) -> AssociationType:
        """The definition a `types[]` entry names; 400 for a type the pair does not have."""
        type_id = _int(spec.get("associationTypeId"))
        if source.custom or target.custom:
            self._default_type(source, target)  # custom pairs get their definition on first use
        kind = self._association_types.get((source.type_id, target.type_id, type_id))
        if kind is None or kind.category != spec.get("associationCategory"):
            _fail(
                400,
                "VALIDATION_ERROR",
                f"{spec.get('associationCategory')} association type {spec.get('associationTypeId')} is not "
                f"valid from {source.type_id} to {target.type_id}",
            )
        return kind

    def _create_associations(
        self, obj: ObjectType, specs: Sequence[Any]
    ) -> list[tuple[ObjectType, str, AssociationType]] | _InputError:
        """`associations` of a create input: the target type follows from the association type id."""
        links: list[tuple[ObjectType, str, AssociationType]] = []
        for spec in specs:
            to_id = str((spec.get("to") or {}).get("id", ""))
            for type_spec in spec.get("types") or []:
                kind = next(
                    (
                        k
                        for (src, _, tid), k in self._association_types.items()
                        if src == obj.type_id and tid == _int(type_spec.get("associationTypeId"))
                    ),
                    None,
                )
                target = self._by_type_id(kind.to_type_id) if kind else None
                if kind is None or target is None:
                    type_id = type_spec.get("associationTypeId")
                    message = f"Association type {type_id} is not valid from {obj.type_id}"
                    return _InputError(400, "VALIDATION_ERROR", message)
                if self._resolve(target, to_id, None) is None:
                    message = f"No {target.noun} with ID {to_id} exists to associate with"
                    return _InputError(400, "VALIDATION_ERROR", message, context={"toObjectId": [to_id]})
                links.append((target, to_id, kind))
        return links

    def _by_type_id(self, type_id: str) -> ObjectType | None:
        return next((obj for obj in self._objects.values() if obj.type_id == type_id), None)

    def _link(
        self, source: ObjectType, from_id: str, target: ObjectType, to_id: str, kind: AssociationType
    ) -> None:
        association = Association(source.name, from_id, target.name, to_id, kind.type_id, kind.category)
        self._links[association] = None

    def _association_targets(
        self, req: Request, credential: _Credential, schema: str, access: str = "write"
    ) -> tuple[ObjectType, ObjectType, list[dict[str, Any]]]:
        source = self._object(req.path_params["from_type"])
        target = self._object(req.path_params["to_type"])
        # UNCONFIRMED: the fake asks for the scope on the source type only.
        self._require_objects(credential, source, access)
        _, inputs = self._inputs(req, "associations", schema)
        return source, target, inputs

    @staticmethod
    def _record_id(req: Request, record_id: str) -> int | str:
        """Record ids in association answers: integers on v4 (as the older v4 description has them),
        strings on the dated paths (as their descriptions, and HubSpot's current v4 one, have them)."""
        return record_id if version_traits(req).association_ids_as_strings else _int(record_id)

    def _missing_ends(
        self, source: ObjectType, target: ObjectType, item: Mapping[str, Any]
    ) -> _InputError | None:
        """A 207 item when either record does not exist. UNCONFIRMED: category and message."""
        from_id, to_id = _object_id(item, "from"), _object_id(item, "to")
        for obj, record_id in ((source, from_id), (target, to_id)):
            if self._resolve(obj, record_id, None) is None:
                return _InputError(
                    400,
                    "VALIDATION_ERROR",
                    f"No {obj.noun} with ID {record_id} exists",
                    context={"fromObjectId": [from_id], "toObjectId": [to_id]},
                    always_partial=True,
                )
        return None

    def _associate(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Typed (labelled or not) associations: 201 (200 on 2026-09, as its description has it), or 207
        naming inputs whose records are missing."""
        source, target, inputs = self._association_targets(
            req, credential, "BatchInputPublicAssociationMultiPost"
        )
        kinds = [
            [self._association_kind(source, target, spec) for spec in item.get("types") or []]
            for item in inputs
        ]
        started, results, errors = _iso(), [], []
        for item, item_kinds in zip(inputs, kinds, strict=True):
            missing = self._missing_ends(source, target, item)
            if missing is not None:
                errors.append(missing.item(None))
                continue
            from_id, to_id = _object_id(item, "from"), _object_id(item, "to")
            for kind in item_kinds:
                self._link(source, from_id, target, to_id, kind)
            results.append(
                {
                    "fromObjectTypeId": source.type_id,
                    "fromObjectId": self._record_id(req, from_id),
                    "toObjectTypeId": target.type_id,
                    "toObjectId": self._record_id(req, to_id),
                    "labels": [kind.label for kind in item_kinds if kind.label],
                }
            )
        status = version_traits(req).association_create_status
        return self._batch_answer(req, status, started, results, errors)

    def _associate_default(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Unlabeled default associations: 200 (207 when records are missing: UNCONFIRMED)."""
        source, target, inputs = self._association_targets(
            req, credential, "BatchInputPublicDefaultAssociationMultiPost"
        )
        kind = self._default_type(source, target)
        started, results, errors = _iso(), [], []
        for item in inputs:
            missing = self._missing_ends(source, target, item)
            if missing is not None:
                errors.append(missing.item(None))
                continue
            from_id, to_id = _object_id(item, "from"), _object_id(item, "to")
            self._link(source, from_id, target, to_id, kind)
            spec = {"associationCategory": kind.category, "associationTypeId": kind.type_id}
            results.append({"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec})
        return self._batch_answer(req, 200, started, results, errors)

    def _associations_of(
        self, source: ObjectType, from_id: str, target: ObjectType
    ) -> list[tuple[str, list[AssociationType]]]:
        """Active targets of one record with the association types seen from its side."""
        found: dict[str, list[AssociationType]] = {}
        for link in self._links:
            if (link.from_type, link.from_id, link.to_type) == (source.name, from_id, target.name):
                other, type_id = link.to_id, link.type_id
            elif (link.to_type, link.to_id, link.from_type) == (source.name, from_id, target.name):
                written = self._association_types[(target.type_id, source.type_id, link.type_id)]
                other, type_id = link.from_id, written.inverse_id
            else:
                continue
            kind = self._association_types[(source.type_id, target.type_id, type_id)]
            if self._resolve(target, other, None) is not None and kind not in found.setdefault(other, []):
                found[other].append(kind)
        return list(found.items())

    def _list_associations(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        source = self._object(req.path_params["object_type"])
        self._require_objects(credential, source, "read")
        target = self._object(req.path_params["to_type"])
        pairs = self._associations_of(source, req.path_params["object_id"], target)
        return 200, {"results": [self._associated_json(req, to_id, kinds) for to_id, kinds in pairs]}

    def _associated_json(self, req: Request, to_id: str, kinds: Sequence[AssociationType]) -> dict[str, Any]:
        """One associated record as the v4 reads render it (MultiAssociatedObjectWithLabel)."""
        return {
            "toObjectId": self._record_id(req, to_id),
            "associationTypes": [
                {"category": kind.category, "typeId": kind.type_id, "label": kind.label} for kind in kinds
            ],
        }

    def _read_associations(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Batch read: each input's associated records of the target type, unpaged. A record that is
        missing or has none is a 207 error. UNCONFIRMED: that error's message (the subCategory is the
        one HubSpot's batch reads report)."""
        source, target, inputs = self._association_targets(
            req, credential, "BatchInputPublicFetchAssociationsBatchRequest", access="read"
        )
        started, results, errors = _iso(), [], []
        for from_id in dict.fromkeys(str(item.get("id", "")) for item in inputs):
            exists = self._resolve(source, from_id, None) is not None
            pairs = self._associations_of(source, from_id, target) if exists else []
            if pairs:
                associated = [self._associated_json(req, to_id, kinds) for to_id, kinds in pairs]
                results.append({"from": {"id": from_id}, "to": associated})
                continue
            message = f"No {target.noun} is associated with {source.noun} {from_id}."
            sub_category = "crm.associations.NO_ASSOCIATIONS_FOUND"
            problem = _InputError(
                404, "OBJECT_NOT_FOUND", message, {"fromObjectId": [from_id]}, sub_category=sub_category
            )
            errors.append(problem.item(None))
        return self._batch_answer(req, 200, started, results, errors)

    def _archive_associations(self, req: Request, credential: _Credential) -> tuple[int, Any]:
        """Batch archive: every association, of any type and written in either direction, between each
        `from` record and its `to` records. 204 on v4; 200 with an empty batch body on the dated paths
        (BatchResponse / BatchResponseVoid in their descriptions). Missing records are not errors."""
        source, target, inputs = self._association_targets(
            req, credential, "BatchInputPublicAssociationMultiArchive"
        )
        started = _iso()
        doomed: set[tuple[str, str, str, str]] = set()
        for item in inputs:
            from_id, ends = _object_id(item, "from"), item.get("to")
            for end in ends if isinstance(ends, list) else []:
                to_id = str(end.get("id", "")) if isinstance(end, dict) else ""
                doomed |= {
                    (source.name, from_id, target.name, to_id),
                    (target.name, to_id, source.name, from_id),
                }
        self._links = {
            link: None
            for link in self._links
            if (link.from_type, link.from_id, link.to_type, link.to_id) not in doomed
        }
        if not version_traits(req).association_archive_body:
            return 204, None
        return self._batch_answer(req, 200, started, [], [])

    # Defined last: from here on the name `property` in this class body means this helper.
    def property(self, object_type: str, name: str) -> dict[str, Any] | None:
        """A property definition as the properties API renders it, or None."""
        with self._state:
            prop = self._object(object_type, loose=True).properties.get(name)
            return prop.to_json() if prop else None


SEARCH_OPERATORS = frozenset({"EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"})


def _group_matches(rec: HubSpotRecord, group: Mapping[str, Any]) -> bool:
    return all(_filter_matches(rec, condition) for condition in group.get("filters") or [])


def _filter_matches(rec: HubSpotRecord, condition: Mapping[str, Any]) -> bool:
    operator = condition.get("operator")
    if operator not in SEARCH_OPERATORS:
        _fail(400, "VALIDATION_ERROR", f"The fake does not support the search operator {operator}")
    stored = rec.properties.get(str(condition.get("propertyName")))
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return (stored is not None) == (operator == "HAS_PROPERTY")
    wanted = [condition.get("value")] if operator in ("EQ", "NEQ") else condition.get("values") or []
    hit = stored is not None and stored.lower() in {str(value).lower() for value in wanted}
    return hit if operator in ("EQ", "IN") else not hit


def _expire(hits: deque[float], before: float) -> None:
    while hits and hits[0] <= before:
        hits.popleft()


def _default_field_type(kind: str) -> str:
    return {"number": "number", "date": "date", "datetime": "date", "enumeration": "select"}.get(
        kind, "booleancheckbox" if kind == "bool" else "text"
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _object_id(item: Mapping[str, Any], side: str) -> str:
    end = item.get(side)
    return str(end.get("id", "")) if isinstance(end, dict) else ""


def _oauth_error(status: str, message: str, rfc6749: bool = False) -> dict[str, Any]:
    body = {"status": status, "message": message, "correlationId": str(uuid.uuid4())}
    return body | ({"error": RFC6749_ERRORS[status], "error_description": message} if rfc6749 else {})


def _form(req: Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(req.text).items()}


def numeric_id(name: str) -> int:
    """A stable numeric id for a token or client id (HubSpot's app ids are integers)."""
    return zlib.crc32(name.encode()) % 10_000_000


def _batch_reply(
    ok_status: int,
    started: str,
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    partial_status: int = 207,
) -> tuple[int, dict[str, Any]]:
    """HubSpot's batch response; any error adds `numErrors` and `errors` and makes it `partial_status`."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body.update(numErrors=len(errors), errors=errors)
    body.update(startedAt=started, completedAt=_iso())
    return (partial_status if errors else ok_status), body


def _group_not_found(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Untraced OBJECT_NOT_FOUND items merge into one listing every id, as HubSpot reports them."""
    grouped: dict[str, Any] | None = None
    out: list[dict[str, Any]] = []
    for item in errors:
        context = item["context"]
        if item["category"] == "OBJECT_NOT_FOUND" and "objectWriteTraceId" not in context:
            if grouped is None:
                grouped = item
                out.append(item)
            else:
                grouped["context"]["ids"].extend(context.get("ids", []))
            continue
        out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground; the line printed names the base URL and the token to use."""
    parser = cli.parser(
        "hubspot",
        DEFAULT_PORT,
        "HubSpot's CRM API (objects, properties, associations), in memory.",
        SEED_SHAPE,
    )
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="private-app token to accept (all scopes)")
    parser.add_argument("--service-key", help="also accept this service key (all scopes)")
    parser.add_argument("--rate-limit", type=int, default=190, help="requests per 10 s per app")
    args = parser.parse_args(argv)
    fake = HubSpotFake(args.port, tokens={args.token: all_scopes()}, rate_limit_max=args.rate_limit)
    if args.service_key:
        fake.add_service_key(args.service_key, all_scopes())
    return cli.serve(fake, parser, args, "HubSpot fake", f"Bearer {args.token}")


if __name__ == "__main__":
    sys.exit(main())
