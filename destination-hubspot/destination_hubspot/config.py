"""destination-hubspot's settings: credentials, API version, rate tier, property creation, associations."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from retl_shared.config import DestinationConfig, HttpUrl, StreamMapping, Token, secret


class ServiceKeyAuth(BaseModel):
    model_config = ConfigDict(title="Service key (recommended)")
    auth_type: Literal["service_key"] = "service_key"
    service_key: Token = secret(
        title="Service key",
        description="A service key (Development → Keys → Service keys) with the scopes the README lists "
        "for your objects and operations.",
    )


class PrivateAppAuth(BaseModel):
    model_config = ConfigDict(title="Private app token (legacy)")
    auth_type: Literal["private_app"] = "private_app"
    access_token: Token = secret(
        title="Access token",
        description="A legacy private app's access token (pat-…). HubSpot no longer lets you create new "
        "private apps: use a service key instead.",
    )


class OAuth(BaseModel):
    model_config = ConfigDict(title="OAuth")
    auth_type: Literal["oauth"] = "oauth"
    client_id: Token = Field(title="Client ID")
    client_secret: Token = secret(title="Client secret")
    refresh_token: Token = secret(title="Refresh token")


Credentials = Annotated[ServiceKeyAuth | PrivateAppAuth | OAuth, Field(discriminator="auth_type")]
ApiVersion = Literal["2026-09", "2026-03", "legacy"]


class Association(BaseModel):
    """Link each written record to another object found by a unique property's value in a column."""

    model_config = ConfigDict(extra="forbid")

    to_object: str = Field(title="To object", description="e.g. companies")
    column: str = Field(
        title="Column",
        description="Field of the mapped record holding the target's value (e.g. company_domain); "
        "it is used for the lookup and not written as a property.",
    )
    to_property: str = Field(
        title="Target property", description="Unique property of the target to look it up by, e.g. domain."
    )
    association_type_id: int | None = Field(
        None, title="Association type id", description="A labelled association type; default: unlabeled."
    )
    association_category: Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"] = Field(
        "HUBSPOT_DEFINED", title="Association category"
    )


class HubSpotStreamMapping(StreamMapping):
    associations: list[Association] = Field(default_factory=list, title="Associations")


class HubSpotConfig(DestinationConfig):
    model_config = ConfigDict(title="HubSpot destination", extra="forbid")

    credentials: Credentials = Field(title="Authentication")
    api_version: ApiVersion = Field(
        "2026-09",
        title="API version",
        description="HubSpot's date-versioned API to call: 2026-09 (latest: it enforces the portal's "
        "required-property rules on writes), 2026-03, or legacy (/crm/v3 and /crm/v4, which HubSpot stops "
        "supporting in 2027: v4 associations on 2027-03-30, every v1–v4 API in September 2027).",
    )
    api_base_url: HttpUrl = Field(
        "https://api.hubapi.com",
        title="API base URL",
        description="Change it only for a proxy or a test server.",
        json_schema_extra={"order": 90},
    )
    streams: list[HubSpotStreamMapping] = Field(
        default_factory=list,
        title="Streams",
        description="One entry per source stream: object (contacts, deals, …), operation, match key, fields.",
    )
    rate_limit_per_10s: Literal[100, 190, 250] = Field(
        100,
        title="Rate limit (requests per 10 s)",
        description="Your HubSpot tier: 100 (Free/Starter), 190 (Professional/Enterprise), "
        "250 (with the API limit increase).",
    )
    max_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        title="Max concurrency",
        description="Requests in flight; 8 reaches 250/10 s at 300 ms.",
    )
    create_missing_properties: bool = Field(
        False,
        title="Create missing properties",
        description="Create mapped properties HubSpot does not have, typed from the stream's schema (or "
        "its values), and the unique property retl_source_key that makes creates idempotent.",
    )
    property_group: str = Field(
        "retl_suite", title="Property group", description="Group for properties this destination creates."
    )
