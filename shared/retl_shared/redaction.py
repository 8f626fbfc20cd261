"""Keep secrets out of every line the connectors print.

Secrets are collected from the config (every field marked ``airbyte_secret``) and from values
the clients derive at run time (OAuth access tokens, Basic auth ``user:secret`` pairs). Each is
masked in every form it travels or is printed in: as typed, base64 (Basic auth), URL-encoded, and
escaped the way ``repr``/JSON show it. Log and trace text is passed through ``Redactor.redact``; a
logging filter applies it to Python's logging as well. Text is always masked before it is cut to an
excerpt (``Redactor.excerpt``): a secret cut in half would no longer match.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "****"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def forms(secret: str) -> set[str]:
    """The ways a secret can show up in text: as typed, base64, URL-encoded, repr- and JSON-escaped."""
    found = {
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode(),
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    padded = {form.rstrip("=") for form in found}  # base64 in a text may have lost its padding
    return {form for form in found | padded if len(form) >= _MIN_SECRET_LENGTH}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register secret values, with every form they travel or are printed in."""
        with self._lock:
            for secret in secrets:
                if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LENGTH:
                    continue
                self._secrets |= forms(secret)
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def excerpt(self, text: str, limit: int = 300) -> str:
        """A short, single-line excerpt for messages: masked first, then cut."""
        text = " ".join(self.redact(text).split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def logging_filter(self) -> logging.Filter:
        redactor = self

        class _RedactingFilter(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                record.msg = redactor.redact(record.getMessage())
                record.args = None
                return True

        return _RedactingFilter()


def secret_values(config: Any, schema: dict[str, Any]) -> list[str]:
    """Every value in ``config`` whose JSON schema property is marked ``airbyte_secret``."""
    found: list[str] = []
    _walk(config, schema, found)
    return found


def _walk(value: Any, schema: dict[str, Any], found: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("airbyte_secret") and isinstance(value, str):
        found.append(value)
        return
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        _walk(value, alternative, found)
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _walk(value[key], sub, found)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in schema.get("properties", {}):
                    _walk(item, extra, found)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _walk(item, schema["items"], found)
