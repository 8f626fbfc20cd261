"""The webhook destination's settings: where to send, how to authenticate, sign and shape batches."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from destination_webhook.signing import decode_secret
from retl_shared.config import DestinationConfig, Password, StreamMapping, TemplatedUrl, Token, secret

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP field name (RFC 9110 `token`)


def _header_name(value: str) -> str:
    """Checked here: requests would refuse it only when sending, quoting the header's value."""
    if not re.fullmatch(HEADER_NAME, value):
        raise PydanticCustomError(
            "header_name",
            "{name} is not a valid header name: letters, digits and !#$%&'*+-.^_`|~ only, "
            "no colon, space or line break",
            {"name": repr(value[:100])},
        )
    return value


def _signing_secret(value: str) -> str:
    try:
        decode_secret(value)
    except ValueError:
        raise PydanticCustomError(
            "signing_secret", "is not whsec_<base64>: copy the signing secret exactly as issued"
        ) from None
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]
# Standard Webhooks secrets: whsec_ and the base64 of the key.
SigningSecret = Annotated[Token, AfterValidator(_signing_secret)]


class NoAuth(BaseModel):
    model_config = ConfigDict(title="None")
    auth_type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    model_config = ConfigDict(title="Bearer token")
    auth_type: Literal["bearer"] = "bearer"
    token: Token = secret(title="Token")


class BasicAuth(BaseModel):
    model_config = ConfigDict(title="Basic")
    auth_type: Literal["basic"] = "basic"
    username: Password = Field(title="Username")
    password: Password = secret(title="Password")


class ApiKeyAuth(BaseModel):
    model_config = ConfigDict(title="API key header")
    auth_type: Literal["api_key"] = "api_key"
    header: HeaderName = Field("X-API-Key", title="Header name", json_schema_extra={"pattern": HEADER_NAME})
    api_key: Token = secret(title="API key")


Auth = Annotated[NoAuth | BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="auth_type")]


class CheckMethod(StrEnum):
    head = "head"
    options = "options"
    post_empty = "post_empty"


class BodyFormat(StrEnum):
    json_array = "json_array"
    ndjson = "ndjson"
    envelope = "envelope"


class WebhookStreamMapping(StreamMapping):
    url: TemplatedUrl | None = Field(
        None,
        title="URL",
        description="This stream's endpoint, instead of the top-level one; may template record fields, "
        "e.g. https://example.com/users/{{ record.user_id }}.",
    )
    payload_template: str | None = Field(
        None,
        title="Payload template",
        description="Jinja template rendering one record as JSON, e.g. "
        '{"email": {{ record.email | tojson }}, "traits": {"tier": {{ record.tier | tojson }}}}.',
    )


class WebhookConfig(DestinationConfig):
    model_config = ConfigDict(title="Webhook destination", extra="forbid")

    url: TemplatedUrl = Field(
        title="URL",
        description="Endpoint that receives the records, e.g. https://example.com/hooks/crm; may template "
        "record fields into the path or query ({{ record.field }}).",
    )
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", title="HTTP method")
    auth: Auth = Field(default_factory=NoAuth, title="Authentication")
    headers: dict[HeaderName, Password] = Field(
        default_factory=dict,
        title="Extra headers",
        description="Sent with every request; values are treated as secrets.",
        json_schema_extra={"additionalProperties": {"type": "string", "airbyte_secret": True}},
    )
    streams: list[WebhookStreamMapping] = Field(
        default_factory=list, title="Streams", description="Per-stream mapping, URL and payload template."
    )
    batch_size: int | None = Field(
        100,
        ge=1,
        le=10_000,
        title="Batch size",
        description="Records per request: 1 sends one JSON object; more send the body format below.",
    )
    body_format: BodyFormat = Field(
        BodyFormat.json_array,
        title="Body format",
        description="json_array: [..]; ndjson: one JSON object per line; "
        'envelope: {"stream", "records", "count"}.',
    )
    payload_template: str | None = Field(
        None, title="Payload template", description="Default payload template for every stream (see Streams)."
    )
    max_body_bytes: int = Field(
        5_000_000, ge=1024, title="Max body bytes", description="Batches are split to stay under this size."
    )
    signing_secrets: list[SigningSecret] = Field(
        default_factory=list,
        title="Signing secrets",
        description="Standard Webhooks secrets (whsec_…); several sign each request during a key rotation.",
        json_schema_extra={"items": {"type": "string", "airbyte_secret": True}},
    )
    idempotency_key_header: bool = Field(
        False,
        title="Content Idempotency-Key header",
        description="Also send an Idempotency-Key derived from the body's content (and stream and URL), for "
        "receivers that want to drop replays of the same content across a resumed sync. Trade-off: such a "
        "receiver also drops a value that returns to an earlier one with the very same body. The webhook-id "
        "(always sent) is unique per message and removes only HTTP retries.",
    )
    check_method: CheckMethod = Field(
        CheckMethod.head,
        title="Check method",
        description="How `check` proves a delivery would be accepted: head (a HEAD request; receivers that "
        "answer HEAD with 405 are verified at the first write), options, or post_empty (POST an empty batch "
        "in the body format: opt in only if the receiver ignores it).",
    )
    ca_certificate: str | None = secret(
        default=None,
        title="CA certificate (PEM)",
        description="Trust this CA (or chain) too, for endpoints with a private CA: it is added to the CAs "
        "this process already trusts (REQUESTS_CA_BUNDLE when set, else the public CAs).",
    )
    timeout_seconds: float = Field(30, gt=0, title="Timeout (seconds)")
