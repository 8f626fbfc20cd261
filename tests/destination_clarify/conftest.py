"""Fixtures for destination-clarify's tests: the Clarify fake, default or with switches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.clarify import ClarifyFake


@pytest.fixture
def clarify_fake() -> Iterator[ClarifyFake]:
    """A started fake: key `clarify-key-good`, workspace `acme`, create upserts, indexed pointers, 25/bulk."""
    with ClarifyFake() as fake:
        yield fake


@pytest.fixture
def make_clarify_fake() -> Iterator[Callable[..., ClarifyFake]]:
    """Factory for fakes with switches (upsert=, pointers=, bulk_limit=, ...); all stopped at teardown."""
    started: list[ClarifyFake] = []

    def make(**kwargs: Any) -> ClarifyFake:
        fake = ClarifyFake(**kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
