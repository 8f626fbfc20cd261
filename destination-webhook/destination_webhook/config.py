"""The webhook destination's settings: where to send, how to authenticate, how to shape batches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from retl_shared.config import DestinationConfig, secret


class NoAuth(BaseModel):
    model_config = ConfigDict(title="None")
    auth_type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    model_config = ConfigDict(title="Bearer token")
    auth_type: Literal["bearer"] = "bearer"
    token: str = secret(title="Token")


class BasicAuth(BaseModel):
    model_config = ConfigDict(title="Basic")
    auth_type: Literal["basic"] = "basic"
    username: str = Field(title="Username")
    password: str = secret(title="Password")


class ApiKeyAuth(BaseModel):
    model_config = ConfigDict(title="API key header")
    auth_type: Literal["api_key"] = "api_key"
    header: str = Field("X-API-Key", title="Header name")
    api_key: str = secret(title="API key")


Auth = Annotated[NoAuth | BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="auth_type")]


class WebhookConfig(DestinationConfig):
    model_config = ConfigDict(title="Webhook destination", extra="forbid")

    url: str = Field(
        title="URL", description="Endpoint that receives the records, e.g. https://example.com/hooks/crm."
    )
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", title="HTTP method")
    auth: Auth = Field(default_factory=NoAuth, title="Authentication")
    headers: dict[str, str] = Field(
        default_factory=dict, title="Extra headers", description="Sent with every request."
    )
    batch_size: int | None = Field(
        100,
        ge=1,
        le=10_000,
        title="Batch size",
        description="Records per request: 1 sends one JSON object, more send a JSON array.",
    )
    max_body_bytes: int = Field(
        5_000_000, ge=1024, title="Max body bytes", description="Batches are split to stay under this size."
    )
    timeout_seconds: float = Field(30, gt=0, title="Timeout (seconds)")
