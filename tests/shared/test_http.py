"""ApiClient: retries, backoff, Retry-After, classification, auth refresh, redaction (requests-mock)."""

from __future__ import annotations

import pytest
import requests
import requests_mock

from retl_shared.errors import ConfigError, TransientError
from retl_shared.http import ApiClient, retry_after_seconds
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

BASE = "http://api.test"


def client(**kwargs: object) -> tuple[ApiClient, list[float]]:
    sleeps: list[float] = []
    redactor = Redactor(["tok_secret_123"])
    return ApiClient(BASE, redactor=redactor, sleep=sleeps.append, **kwargs), sleeps  # type: ignore[arg-type]


def test_retry_after_is_honoured_over_backoff() -> None:
    api, sleeps = client()
    with requests_mock.Mocker() as m:
        m.post(f"{BASE}/x", [{"status_code": 429, "headers": {"Retry-After": "7"}}, {"status_code": 200}])
        assert api.request("POST", "/x").status_code == 200
    assert sleeps == [7.0]


def test_429_pauses_the_shared_limiter_instead_of_sleeping_alone() -> None:
    clock = [0.0]
    limiter_sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        limiter_sleeps.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(100, 10, clock=lambda: clock[0], sleep=sleep)
    api, sleeps = client(rate_limiter=limiter)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/x", [{"status_code": 429, "headers": {"Retry-After": "3"}}, {"status_code": 200}])
        api.request("GET", "/x")
    assert limiter_sleeps == [3.0]  # the next acquire waited out the pause
    assert sleeps == [0.0]


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    api, sleeps = client(max_retries=5, backoff_base=1.0, backoff_max=8.0)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/x", status_code=503, text="busy")
        with pytest.raises(TransientError, match="Gave up after 6 attempts: HTTP 503 .* busy"):
            api.request("GET", "/x")
    assert len(sleeps) == 5
    for attempt, waited in enumerate(sleeps):
        assert 0 <= waited <= min(8.0, 2**attempt)


def test_timeouts_and_resets_are_retried() -> None:
    api, sleeps = client()
    with requests_mock.Mocker() as m:
        m.get(
            f"{BASE}/x",
            [{"exc": requests.ConnectTimeout}, {"exc": requests.ConnectionError}, {"status_code": 200}],
        )
        assert api.request("GET", "/x").ok
    assert len(sleeps) == 2


def test_auth_failures_are_config_errors_and_other_4xx_come_back() -> None:
    api, _ = client()
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/denied", status_code=403, text='{"message": "missing scope"}')
        m.get(f"{BASE}/invalid", status_code=400, text="bad")
        with pytest.raises(ConfigError, match="HTTP 403"):
            api.request("GET", "/denied")
        assert api.request("GET", "/invalid").status_code == 400


def test_401_refreshes_credentials_once() -> None:
    class Refreshing(ApiClient):
        refreshed = 0

        def refresh_auth(self) -> bool:
            self.refreshed += 1
            return True

    api = Refreshing(BASE, redactor=Redactor(), sleep=lambda s: None)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/x", [{"status_code": 401}, {"status_code": 200}])
        assert api.request("GET", "/x").ok
        m.get(f"{BASE}/y", status_code=401)
        with pytest.raises(ConfigError):
            api.request("GET", "/y")
    assert api.refreshed == 2


def test_a_wait_longer_than_a_sync_tolerates_fails_fast() -> None:
    api, sleeps = client(max_retry_after=60)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/x", status_code=429, headers={"Retry-After": "3600"})
        with pytest.raises(TransientError, match="wait 3600 s"):
            api.request("GET", "/x")
    assert sleeps == []


def test_errors_are_redacted() -> None:
    api, _ = client(max_retries=0)
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/x", status_code=500, text="token tok_secret_123 rejected")
        with pytest.raises(TransientError) as raised:
            api.request("GET", "/x")
    assert "tok_secret_123" not in raised.value.message and "****" in raised.value.message


def test_retry_after_http_date() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds(response) == 0.0
    response.headers["Retry-After"] = "2.5"
    assert retry_after_seconds(response) == 2.5
