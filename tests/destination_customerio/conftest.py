"""Fixtures for the Customer.io fake, kept beside its tests (`tests/fakes/fixtures.py` is shared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.customerio import CustomerIoFake


@pytest.fixture
def customerio_fake() -> Iterator[CustomerIoFake]:
    """A started Customer.io fake accepting site `site-good` with key `key-good`, in the US region."""
    with CustomerIoFake() as fake:
        yield fake


@pytest.fixture
def make_customerio_fake() -> Iterator[Callable[..., CustomerIoFake]]:
    """Factory for fakes with options (validation_errors=, data_center=, null_clears=, ...)."""
    started: list[CustomerIoFake] = []

    def make(**kwargs: Any) -> CustomerIoFake:
        fake = CustomerIoFake(**kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
