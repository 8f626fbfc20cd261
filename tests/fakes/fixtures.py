"""Pytest fixtures for the fake servers; registered via `pytest_plugins = ["tests.fakes.fixtures"]`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.hubspot import HubSpotFake
from tests.fakes.server import FakeServer
from tests.fakes.webhook import WebhookReceiver


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A started bare FakeServer; register routes in the test with `route()`/`on()`."""
    with FakeServer() as server:
        yield server


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A started receiver without signature checks or dedupe (configure attributes if needed)."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def make_webhook_receiver() -> Iterator[Callable[..., WebhookReceiver]]:
    """Factory for receivers with options (secret=, dedupe=, tolerance=); all stopped at teardown."""
    started: list[WebhookReceiver] = []

    def make(**kwargs: Any) -> WebhookReceiver:
        receiver = WebhookReceiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def hubspot_fake() -> Iterator[HubSpotFake]:
    """A started HubSpot fake: token `pat-good` (all scopes); OAuth app client-id/refresh-good."""
    with HubSpotFake() as fake:
        yield fake


@pytest.fixture
def make_hubspot_fake() -> Iterator[Callable[..., HubSpotFake]]:
    """Factory for HubSpot fakes with options (tokens=, rate_limit_max=, validation_errors=, ...)."""
    started: list[HubSpotFake] = []

    def make(**kwargs: Any) -> HubSpotFake:
        fake = HubSpotFake(**kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
