"""Pytest fixtures for the fake servers; registered via `pytest_plugins = ["tests.fakes.fixtures"]`.

Every fake is started through ``start_fake`` (stopped at teardown); ``<name>`` fixtures give a
default one, ``make_<name>`` factories one with switches (``make_hubspot_fake(rate_limit_max=5)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import pytest

from tests.fakes.clarify import ClarifyFake
from tests.fakes.customerio import CustomerIoFake
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.server import FakeServer
from tests.fakes.webhook import WebhookReceiver

F = TypeVar("F", bound=FakeServer)


@pytest.fixture
def start_fake() -> Iterator[Callable[..., Any]]:
    """``start_fake(FakeClass, **switches)``: a started fake, stopped when the test ends."""
    started: list[FakeServer] = []

    def start(fake_class: type[F], **kwargs: Any) -> F:
        fake = fake_class(**kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def fake_server(start_fake: Callable[..., Any]) -> FakeServer:
    """A bare FakeServer; register routes in the test with `route()`/`on()`."""
    return start_fake(FakeServer)


@pytest.fixture
def webhook_receiver(start_fake: Callable[..., Any]) -> WebhookReceiver:
    """A receiver without signature checks or dedupe."""
    return start_fake(WebhookReceiver)


@pytest.fixture
def make_webhook_receiver(start_fake: Callable[..., Any]) -> Callable[..., WebhookReceiver]:
    """Receivers with options (secret=, dedupe=, tolerance=)."""
    return partial(start_fake, WebhookReceiver)


@pytest.fixture
def hubspot_fake(start_fake: Callable[..., Any]) -> HubSpotFake:
    """Token `pat-good` (all scopes); OAuth app client-id/client-secret/refresh-good."""
    return start_fake(HubSpotFake)


@pytest.fixture
def make_hubspot_fake(start_fake: Callable[..., Any]) -> Callable[..., HubSpotFake]:
    """HubSpot fakes with options (tokens=, rate_limit_max=, validation_errors=, ...)."""
    return partial(start_fake, HubSpotFake)


@pytest.fixture
def customerio_fake(start_fake: Callable[..., Any]) -> CustomerIoFake:
    return start_fake(CustomerIoFake)


@pytest.fixture
def make_customerio_fake(start_fake: Callable[..., Any]) -> Callable[..., CustomerIoFake]:
    return partial(start_fake, CustomerIoFake)


@pytest.fixture
def clarify_fake(start_fake: Callable[..., Any]) -> ClarifyFake:
    """Key `clarify-key-good`, workspace `acme`, create upserts, indexed pointers, 25 per bulk."""
    return start_fake(ClarifyFake)


@pytest.fixture
def make_clarify_fake(start_fake: Callable[..., Any]) -> Callable[..., ClarifyFake]:
    """Clarify fakes with switches (upsert=, pointers=, bulk_limit=, ...)."""
    return partial(start_fake, ClarifyFake)
