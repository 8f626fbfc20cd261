"""How long one request may take, retries and waits included, where the caller must answer promptly.

`check` must answer within seconds (a platform waits for it, and a person looks at it); the write path
retries for minutes instead. Kept apart from `http` so that importing it costs nothing (no requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CHECK_SECONDS = 10.0
BUDGET: ContextVar[float | None] = ContextVar("request_budget", default=None)


@contextmanager
def quick_answers(seconds: float = CHECK_SECONDS) -> Iterator[None]:
    """Within this block every request gives up after ``seconds``, retries and waits included."""
    token = BUDGET.set(seconds)
    try:
        yield
    finally:
        BUDGET.reset(token)
