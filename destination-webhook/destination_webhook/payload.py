"""Shaping records into request bodies: per-record templates and the batch body formats."""

from __future__ import annotations

from typing import Any

import orjson
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from destination_webhook.config import BodyFormat
from retl_shared.errors import ConfigError
from retl_shared.mapping import MappingError

# The CDK's declarative templates run on Jinja's sandbox too; this is the same engine, used directly
# because the CDK's interpolation turns output into Python literals, and here it must be JSON.
_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class Template:
    def __init__(self, source: str, what: str) -> None:
        try:
            self.template = _ENVIRONMENT.from_string(source)
        except TemplateError as exc:
            raise ConfigError(f"{what} is not a valid Jinja template: {exc}") from None

    def render(self, record: dict[str, Any]) -> str:
        return self.template.render(record=record)


class PayloadTemplate(Template):
    def apply(self, record: dict[str, Any]) -> Any:
        try:
            return orjson.loads(self.render(record))
        except (TemplateError, TypeError) as exc:
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
