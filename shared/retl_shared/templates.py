"""Jinja templates over a record, rendered in Jinja's sandbox.

The CDK's declarative interpolation is this same engine (``jinja2.sandbox.SandboxedEnvironment``)
with Airbyte's macros; using the sandbox directly keeps the CDK (1.8 s of imports) out of every
connector process, and lets a template be compiled, and refused with a config error, before
anything is sent. Jinja itself is imported on the first compile: a process without templates
(every `spec`, most `check`s) does not pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from retl_shared.errors import ConfigError

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment


class TemplateFailed(Exception):
    """A template that compiled but failed for one record (a missing field, a type error in a filter)."""


class CompiledTemplate:
    def __init__(self, template: Template) -> None:
        self._template = template

    def render(self, **context: Any) -> str:
        try:
            return self._template.render(**context)
        except Exception as exc:  # Jinja raises many types; all mean the template failed for this record
            if "Undefined" in f"{type(exc).__name__} {exc}":  # UndefinedError, or tojson given one
                raise TemplateFailed(
                    f"UndefinedError: the record lacks a field the template uses ({exc})"
                ) from None
            raise TemplateFailed(f"{type(exc).__name__}: {exc}") from None


@cache
def _environment(strict: bool) -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # Field templates: a missing column renders as empty (the field is then left out, like a null).
    # Payload and URL templates (strict): a missing column fails that record, never a silent hole.
    if strict:
        return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
    return SandboxedEnvironment(autoescape=False)


def compile_template(source: str, what: str, *, strict: bool = False) -> CompiledTemplate:
    """Compile once; a syntax error is the user's to fix, named by ``what``."""
    from jinja2 import TemplateError

    try:
        return CompiledTemplate(_environment(strict).from_string(source))
    except TemplateError as exc:
        raise ConfigError(f"{what} is not a valid Jinja template: {exc}") from None


# --- the record columns a field template names ---------------------------------------------------------

# A lookup is a token range to rewrite and the column it names.
_Lookup = tuple[int, int, str]


def referenced_columns(source: str) -> set[str]:
    """The columns a template reads as ``record.NAME``, ``record["NAME"]`` or ``record.get("NAME")``
    (none for a template that does not lex: compiling it reports that)."""
    return {name for _, _, name in _lookups(source)[1]}


def rename_columns(source: str, renames: Mapping[str, str]) -> str:
    """The template with each of those lookups of a column in ``renames`` naming its new name instead;
    text, comments and other string literals stay as written."""
    tokens, lookups = _lookups(source)
    for first, end, name in reversed(lookups):
        new = renames.get(name)
        if new is None:
            continue
        if tokens[first] != ".":  # the literal of record["NAME"] or record.get("NAME")
            tokens[first:end] = [json.dumps(new)]
        else:
            tokens[first:end] = ["." + new if new.isidentifier() else f"[{json.dumps(new)}]"]
    return "".join(tokens)


def _lookups(source: str) -> tuple[list[str], list[_Lookup]]:
    """The template's tokens (joined, they are the source) and its column lookups on ``record``."""
    from jinja2 import TemplateError

    try:
        lexed = [(kind, value) for _, kind, value in _environment(False).lex(source)]
    except TemplateError:
        return [source], []
    tokens = [value for _, value in lexed]
    # (position, token) of everything but whitespace: the shape of a lookup, wherever spaces are.
    seen = [(i, value if kind in ("name", "operator") else kind) for i, (kind, value) in enumerate(lexed)]
    seen = [(i, token) for i, token in seen if token != "whitespace"]
    lookups: list[_Lookup] = []
    for at, (_, token) in enumerate(seen):
        if token != "record" or (at and seen[at - 1][1] == "."):
            continue
        following = seen[at + 1 : at + 5]
        shape = [token for _, token in following] + [""] * (4 - len(following))
        if shape[:2] == ["[", "string"] and shape[2] == "]":
            literal = following[1][0]
        elif shape[0] == "." and shape[1] == "get" and shape[2:] == ["(", "string"]:
            literal = following[3][0]
        elif shape[0] == "." and lexed[following[1][0]][0] == "name" and shape[2] != "(":
            lookups.append((following[0][0], following[1][0] + 1, shape[1]))
            continue
        else:
            continue
        quoted = tokens[literal][1:-1]
        if "\\" not in quoted:  # a name with escapes is left alone rather than guessed at
            lookups.append((literal, literal + 1, quoted))
    return tokens, lookups
