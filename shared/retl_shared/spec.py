"""Pydantic config models → the spec's JSON Schema in the shape Airbyte's UI renders, and back."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from retl_shared.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema()
    schema = _inline_refs(raw, raw.pop("$defs", {}))  # the UI does not follow $ref
    _tidy(schema)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def spec_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A fresh copy of the model's connection specification."""
    return copy.deepcopy(_schema(model))


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace each ``$ref`` with its definition.

    The CDK's ``expand_refs`` does this, but importing it loads the whole CDK (about 1.8 s), which
    every connector command would pay; pydantic's refs are all local ``#/$defs/Name`` ones.
    """
    if isinstance(node, dict):
        if "$ref" in node:
            target = _inline_refs(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
            return {**target, **{k: _inline_refs(v, definitions) for k, v in node.items() if k != "$ref"}}
        return {key: _inline_refs(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def parse_config(model: type[M], raw: Any) -> M:
    """Validate a config; the error lists every problem by path, never the values (they may be secrets)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"The config must be a JSON object of settings ({{...}}), not {_json_kind(raw)}: "
            "see the connector's spec for its settings."
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"The config is not valid: {problems}") from None


def _json_kind(value: Any) -> str:
    kinds = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _tidy(node: Any) -> None:
    """Drop what pydantic adds that the UI misreads: ``anyOf: [X, {type: null}]`` for optional fields
    becomes X, ``default: null`` goes, and ``discriminator`` (it points into the removed $defs; the
    const discriminating field suffices) goes."""
    if isinstance(node, dict):
        if "oneOf" in node:
            node.pop("discriminator", None)
        options = node.get("anyOf")
        if isinstance(options, list):
            concrete = [o for o in options if o != {"type": "null"}]
            if len(concrete) == 1 and len(options) == 2:
                del node["anyOf"]
                for key, value in concrete[0].items():
                    node.setdefault(key, value)
        if "default" in node and node["default"] is None:
            del node["default"]
        for value in node.values():
            _tidy(value)
    elif isinstance(node, list):
        for item in node:
            _tidy(item)
