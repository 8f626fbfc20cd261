"""Jinja templates over a record, rendered in Jinja's sandbox.

The CDK's declarative interpolation is this same engine (``jinja2.sandbox.SandboxedEnvironment``)
with Airbyte's macros; using the sandbox directly keeps the CDK (1.8 s of imports) out of every
connector process, and lets a template be compiled, and refused with a config error, before
anything is sent. Jinja itself is imported on the first compile: a process without templates
(every `spec`, most `check`s) does not pay for it.
"""

from __future__ import annotations

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
