"""HubSpotClient's reading of X-HubSpot-RateLimit-* headers (unit level, no server)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from destination_hubspot.client import WINDOW_SECONDS, HubSpotClient
from destination_hubspot.config import HubSpotConfig
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor


def client(tier: int = 190) -> HubSpotClient:
    config = {
        "credentials": {"auth_type": "private_app", "access_token": "pat-x"},
        "rate_limit_per_10s": tier,
    }
    return HubSpotClient(HubSpotConfig.model_validate(config), Redactor())


def response(**headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = 200
    answer.headers.update({f"X-HubSpot-RateLimit-{k}": v for k, v in headers.items()})
    return answer


def test_window_is_hubspots_with_the_kernels_arrival_margin() -> None:
    limiter = client().rate_limiter
    assert limiter is not None
    assert (limiter.per_seconds, limiter.arrival_margin) == (WINDOW_SECONDS, 0.1)


def test_a_lower_advertised_maximum_is_followed() -> None:
    api = client(250)
    api.observe(response(Max="100", Remaining="90", **{"Interval-Milliseconds": "10000"}))
    assert api.rate_limiter.max_requests == 100  # type: ignore[union-attr]


def test_none_left_pauses_only_when_someone_else_uses_the_budget() -> None:
    api = client(100)
    limiter = api.rate_limiter
    assert limiter is not None
    limiter.max_requests = 2  # as if HubSpot advertised 2
    limiter.acquire()
    api.observe(response(Max="2", Remaining="0", **{"Interval-Milliseconds": "10000"}))
    assert limiter._paused_until > 0  # our window had room: another app spent HubSpot's
    limiter._paused_until = 0.0
    limiter.acquire()
    api.observe(response(Max="2", Remaining="0", **{"Interval-Milliseconds": "10000"}))
    assert limiter._paused_until == 0.0  # our own window is full: HubSpot just agrees


def test_none_left_agrees_with_a_window_that_filled_while_the_request_was_out() -> None:
    """Judged at the answer alone, our window may have freed a slot meanwhile: no pause for that."""
    api = client(100)
    clock = [0.0]
    api.rate_limiter = RateLimiter(2, WINDOW_SECONDS, clock=lambda: clock[0], sleep=lambda s: None)
    api.rate_limiter.acquire()
    clock[0] = 5.0
    api.rate_limiter.acquire()  # fills our window
    clock[0] = 10.2  # the first slot is free again
    answer = response(Max="2", Remaining="0", **{"Interval-Milliseconds": "10000"})
    answer.elapsed = timedelta(seconds=5.5)  # it left at 4.7, before our window filled
    api.observe(answer)
    assert api.rate_limiter._paused_until == 0.0
    answer.elapsed = timedelta(seconds=1.0)  # it left at 9.2 and found room in ours: someone else's
    api.observe(answer)
    assert api.rate_limiter._paused_until == pytest.approx(11.2)
