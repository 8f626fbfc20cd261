"""destination-clarify's settings: the workspace, its API key and the request rate."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from retl_shared.config import DestinationConfig, HttpUrl, StreamMapping, Token, secret

SLUG = re.compile(r"^[^/\s]+$")


class ClarifyStreamMapping(StreamMapping):
    model_config = ConfigDict(extra="forbid", title="Stream mapping")

    create_missing_companies: bool = Field(
        False,
        title="Create missing companies",
        description="person streams mapping a column to company_domain: create a company (named after the "
        "domain) when none has that domain, before the people are written and related to it. Off: such "
        "people are written unrelated, and counted.",
    )


class ClarifyConfig(DestinationConfig):
    model_config = ConfigDict(title="Clarify destination", extra="forbid")

    workspace_slug: str = Field(
        title="Workspace slug",
        description="The workspace's slug, as in your Clarify login URL and under the avatar menu "
        "(https://api.clarify.ai/v1/workspaces/<slug>).",
        min_length=1,
        pattern=SLUG.pattern,
        json_schema_extra={"order": 0},
    )
    api_key: Token = secret(
        title="API key",
        description="A workspace API key (Settings → API Keys, created by a workspace admin). "
        "It is sent as `Authorization: api-key <KEY>`.",
        min_length=1,
        json_schema_extra={"order": 1},
    )
    api_base_url: HttpUrl = Field(
        "https://api.clarify.ai",
        title="API host",
        description="Where the Clarify API lives; the workspace path is added to it. "
        "Change it only for a proxy or a test server.",
        json_schema_extra={"order": 90},
    )
    requests_per_second: int = Field(
        1,
        ge=1,
        le=100,
        title="Requests per second",
        description="Client-side ceiling shared by every request of a sync (bulk writes, lookups, "
        "relationships). 1 is Clarify's recommendation (one 25-record batch per second). A 429 pauses "
        "every worker.",
    )
    max_concurrency: int = Field(
        2, ge=1, le=16, title="Max concurrency", description="Requests in flight at once."
    )
    streams: list[ClarifyStreamMapping] = Field(
        default_factory=list,
        title="Streams",
        description="One entry per source stream: object (person, company, deal or c_<slug>), operation, "
        "match key, fields; person streams may map a column to company_domain.",
    )

    @field_validator("workspace_slug", mode="before")
    @classmethod
    def _slug(cls, value: object) -> object:
        """Say what a slug is instead of quoting the pattern; a pasted URL is the usual mistake."""
        if isinstance(value, str) and value and not SLUG.match(value):
            raise PydanticCustomError(
                "slug",
                "{shown} is not a workspace slug: use only the part after /workspaces/ in your Clarify URL "
                "(no slashes or spaces)",
                {"shown": repr(value[:100])},
            )
        return value
