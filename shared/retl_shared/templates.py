"""Jinja templates over a record, rendered in Jinja's sandbox.

The CDK's declarative interpolation is this same engine (``jinja2.sandbox.SandboxedEnvironment``)
with Airbyte's macros; using the sandbox directly keeps the CDK (1.8 s of imports) out of every
connector process, and lets a template be compiled, and refused with a config error, before
anything is sent.
"""

from __future__ import annotations

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from retl_shared.errors import ConfigError

# Field templates: a missing column renders as empty (the field is then left out, like a null).
_LENIENT = SandboxedEnvironment(autoescape=False)
# Payload and URL templates: a missing column is an error for that record, never a silent hole.
_STRICT = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def compile_template(source: str, what: str, *, strict: bool = False) -> Template:
    """Compile once; a syntax error is the user's to fix, named by ``what``."""
    try:
        return (_STRICT if strict else _LENIENT).from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"{what} is not a valid Jinja template: {exc}") from None
