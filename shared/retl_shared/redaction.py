"""Keep secrets out of every line the connectors print.

Secrets are collected from the config (every field marked ``airbyte_secret``) and from values
the clients derive at run time (OAuth access tokens, Basic auth headers). Log and trace text is
passed through ``Redactor.redact``; a logging filter applies it to Python's logging as well.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "****"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register secret values, with the encodings they travel in (Basic auth base64)."""
        with self._lock:
            for secret in secrets:
                if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LENGTH:
                    continue
                self._secrets.add(secret)
                self._secrets.add(base64.b64encode(secret.encode()).decode())
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

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
