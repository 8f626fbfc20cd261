"""destination-hubspot's tests run on the 2026-09 API: every HubSpot fake a test starts must have seen no
legacy (v1–v4) path, except the private apps' token info, which HubSpot publishes in no dated form.
Tests of the `2026-03` and `legacy` settings say so with the `api_version` marker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.hubspot import LEGACY, HubSpotFake

NO_DATED_FORM = ("oauth.private-app-token-info",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "api_version(version): the test configures another API version")


def legacy_calls(fake: HubSpotFake) -> int:
    """Requests on legacy paths that have a dated form."""
    exempt = sum(fake.calls_by_version(endpoint)[LEGACY] for endpoint in NO_DATED_FORM)
    return fake.calls_by_version()[LEGACY] - exempt


@pytest.fixture
def start_fake(
    start_fake: Callable[..., Any], request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """The shared `start_fake`, checking afterwards that HubSpot fakes saw dated paths only."""
    started: list[Any] = []

    def start(fake_class: type, **kwargs: Any) -> Any:
        fake = start_fake(fake_class, **kwargs)
        started.append(fake)
        return fake

    yield start
    if request.node.get_closest_marker("api_version") is None:
        for fake in started:
            if isinstance(fake, HubSpotFake):
                used: Counter[str] = fake.calls_by_version()
                assert legacy_calls(fake) == 0, f"legacy paths used: {used}"
                assert used["2026-03"] == 0, f"2026-03 paths used: {used}"
