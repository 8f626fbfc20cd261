"""Shaping records into request bodies: per-record templates and the batch body formats."""

from __future__ import annotations

from typing import Any

import orjson

from destination_webhook.config import BodyFormat
from retl_shared.mapping import MappingError
from retl_shared.templates import TemplateFailed, compile_template


class Template:
    """A URL or payload template: strict, so a record missing a field is rejected with the reason."""

    def __init__(self, source: str, what: str) -> None:
        self.template = compile_template(source, what, strict=True)

    def render(self, record: dict[str, Any]) -> str:
        return self.template.render(record=record)


class PayloadTemplate(Template):
    def apply(self, record: dict[str, Any]) -> Any:
        try:
            return orjson.loads(self.render(record))
        except TemplateFailed as exc:
            raise MappingError(None, f"payload template failed: {exc}") from None
        except orjson.JSONDecodeError:
            raise MappingError(None, "payload template did not render valid JSON") from None


def body(payloads: list[Any], body_format: BodyFormat, stream: str, single: bool) -> tuple[bytes, str]:
    """The request body and its content type."""
    if single:
        return orjson.dumps(payloads[0]), "application/json"
    if body_format is BodyFormat.ndjson:
        return b"".join(
            orjson.dumps(p, option=orjson.OPT_APPEND_NEWLINE) for p in payloads
        ), "application/x-ndjson"
    if body_format is BodyFormat.envelope:
        return orjson.dumps(
            {"stream": stream, "records": payloads, "count": len(payloads)}
        ), "application/json"
    return orjson.dumps(payloads), "application/json"
