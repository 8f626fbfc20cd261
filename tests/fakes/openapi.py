"""Request bodies checked against published OpenAPI descriptions, for the fakes that have them.

`$ref`s resolve through a `referencing` registry holding each whole document, so a schema is checked
exactly as published (OpenAPI-only keywords such as `nullable` and `example` are ignored). Files that
are absent are skipped: the project's tests must pass without the reference folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SchemaViolation:
    """A request body that broke the published request schema (or was not JSON at all)."""

    method: str
    path: str
    schema: str
    message: str


class OpenApiSchemas:
    def __init__(self, directory: Path, namespace: str, files: dict[str, str], draft: str) -> None:
        from jsonschema import Draft7Validator, Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT7, DRAFT202012

        specification = {"draft7": DRAFT7, "2020-12": DRAFT202012}[draft]
        self._validator_cls = {"draft7": Draft7Validator, "2020-12": Draft202012Validator}[draft]
        self._namespace = namespace
        registry: Registry[Any] = Registry()
        self.documents: set[str] = set()
        for key, filename in files.items():
            path = directory / filename
            if path.is_file():
                resource = specification.create_resource(json.loads(path.read_text()))
                registry = registry.with_resource(self._uri(key), resource)
                self.documents.add(key)
        self._registry = registry
        self._validators: dict[tuple[str, str], Any] = {}

    def _uri(self, key: str) -> str:
        return f"urn:{self._namespace}-openapi:{key}"

    def validate(self, document: str, schema: str, body: Any) -> str | None:
        """A readable reason when `body` breaks `schema`, or None (also when that document is absent)."""
        from jsonschema.exceptions import best_match

        if document not in self.documents:
            return None
        key = (document, schema)
        if key not in self._validators:
            ref = {"$ref": f"{self._uri(document)}#/components/schemas/{schema}"}
            self._validators[key] = self._validator_cls(ref, registry=self._registry)
        error = best_match(self._validators[key].iter_errors(body))
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        return f"{schema}: {error.message} at {where}"


@lru_cache(maxsize=8)
def load_schemas(
    directory: str, namespace: str, files: tuple[tuple[str, str], ...], draft: str
) -> OpenApiSchemas | None:
    """Schemas from `directory`, or None when none of the files is there (the check is then skipped)."""
    schemas = OpenApiSchemas(Path(directory), namespace, dict(files), draft)
    return schemas if schemas.documents else None
