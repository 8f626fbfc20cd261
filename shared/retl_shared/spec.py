"""Pydantic config models → the spec's JSON Schema, in the shape Airbyte's UI renders."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from airbyte_cdk.sources.utils.schema_helpers import expand_refs
from pydantic import BaseModel


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    expand_refs(schema)  # the UI does not follow $ref
    schema.pop("$defs", None)
    _collapse_optional(schema)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def spec_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A fresh copy of the model's connection specification."""
    return copy.deepcopy(_schema(model))


def _collapse_optional(node: Any) -> None:
    """Turn pydantic's ``anyOf: [X, {type: null}]`` for optional fields into plain X."""
    if isinstance(node, dict):
        options = node.get("anyOf")
        if isinstance(options, list):
            concrete = [o for o in options if o != {"type": "null"}]
            if len(concrete) == 1 and len(options) == 2:
                del node["anyOf"]
                for key, value in concrete[0].items():
                    node.setdefault(key, value)
                if node.get("default", "") is None:
                    del node["default"]
        for value in node.values():
            _collapse_optional(value)
    elif isinstance(node, list):
        for item in node:
            _collapse_optional(item)
