"""The webhook's single object: an endpoint that takes any fields."""

from __future__ import annotations

from retl_shared.sink import ObjectSpec

ENDPOINT = "endpoint"
SEND = "send"


def endpoint() -> ObjectSpec:
    return ObjectSpec(name=ENDPOINT, operations={SEND: "append"})
