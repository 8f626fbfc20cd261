"""destination-customerio's settings: Track API credentials, region, and per-stream object options."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from retl_shared.config import BaseUrl, DestinationConfig, StreamMapping, Token, secret


class Region(StrEnum):
    us = "us"
    eu = "eu"


TRACK_URLS = {Region.us: "https://track.customer.io", Region.eu: "https://track-eu.customer.io"}

PersonIdentifier = Literal["id", "email", "cio_id"]
_DURATION = TypeAdapter(dt.timedelta)


def iso_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration (``P3D``, ``PT72H``, ``P1DT12H``) as a timedelta; ValueError otherwise."""
    if not text.strip().upper().startswith("P"):
        raise ValueError(text)
    try:
        return _DURATION.validate_python(text.strip().upper())
    except ValidationError:
        raise ValueError(text) from None


class Backfill(StrEnum):
    skip = "skip"  # not sent; counted as skipped
    rename = "rename"  # sent as `<name>_backfill`, which journeys on the live name never see


class Relationship(BaseModel):
    """Relate each custom object to the people named in one column (e.g. an account's member ids)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        title="Column",
        description="Field of the mapped record holding one person identifier or a list of them; "
        "it is used for the relationship and not written as an attribute.",
    )
    identifier: PersonIdentifier = Field(
        "id", title="Identifier", description="What the column holds: id, email or cio_id."
    )


class CustomerIoStreamMapping(StreamMapping):
    # Object type ids are strings on the wire ("1"); a number in the config is accepted as one.
    model_config = ConfigDict(extra="forbid", title="Stream mapping", coerce_numbers_to_str=True)

    object_type_id: str | None = Field(
        None,
        title="Object type id",
        description='object streams only: the custom object type\'s id, e.g. "1" '
        "(Data & Integrations → Objects).",
    )
    relationship: Relationship | None = Field(
        None, title="Relationship", description="object streams only: relate each object to people."
    )
    max_event_age: str | None = Field(
        None,
        title="Max event age",
        description="event streams only: an ISO 8601 duration (e.g. P3D, PT72H). Events whose timestamp is "
        "older than this when the sync starts are backfill: handled as `backfill` says, so they cannot "
        "trigger campaigns meant for live events. Events without a timestamp are then rejected.",
        examples=["P3D"],
    )
    backfill: Backfill = Field(
        Backfill.skip,
        title="Backfill",
        description="event streams with max_event_age: skip (not sent, counted as skipped) or rename "
        "(sent as `<name>_backfill`: stored, but journeys triggered by the live name ignore them).",
    )

    @field_validator("max_event_age")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            age = iso_duration(value)
        except ValueError:
            raise PydanticCustomError(
                "duration",
                "{shown} is not an ISO 8601 duration: write e.g. P3D (3 days), PT72H or P1DT12H",
                {"shown": repr(value[:40])},
            ) from None
        if age <= dt.timedelta(0):
            raise PydanticCustomError("duration", "max_event_age must be longer than zero", {})
        return value.strip().upper()


class CustomerIoConfig(DestinationConfig):
    model_config = ConfigDict(title="Customer.io destination", extra="forbid")

    site_id: Token = Field(
        title="Site ID",
        description="The workspace's Track API site id (Settings → Workspace Settings → API credentials).",
        json_schema_extra={"order": 0},
    )
    api_key: Token = secret(
        title="Track API key",
        description="The Track API key paired with the site id.",
        json_schema_extra={"order": 1},
    )
    region: Region = Field(
        Region.us,
        title="Region",
        description="The data center your account is in; check compares it with the account's.",
        json_schema_extra={"order": 2},
    )
    api_base_url: BaseUrl = Field(
        "",
        title="API base URL",
        description="Overrides the region's Track API URL; only for a proxy or a test server.",
        json_schema_extra={"order": 90},
    )
    requests_per_second: int = Field(
        100,
        ge=1,
        le=1000,
        title="Requests per second",
        description="Client-side ceiling shared by every request of the sync. 100 is Customer.io's long-"
        "standing fair-use figure; its Track API description now states 1,000 per second (not strictly "
        "enforced). A 429 pauses every worker.",
    )
    max_concurrency: int = Field(
        10,
        ge=1,
        le=64,
        title="Max concurrency",
        description="Requests in flight; 10 reach 100 requests/s at 100 ms a request.",
    )
    streams: list[CustomerIoStreamMapping] = Field(
        default_factory=list,
        title="Streams",
        description="One entry per source stream: object (person, event or object), operation, "
        "match key (the identifier), fields.",
    )

    @property
    def track_url(self) -> str:
        return self.api_base_url or TRACK_URLS[self.region]
