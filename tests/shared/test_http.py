"""ApiClient: retries, backoff, Retry-After, classification, auth refresh, redaction (requests-mock)."""

from __future__ import annotations

import tempfile

import pytest
import requests
import requests_mock

from retl_shared.errors import ConfigError, OutcomeUnknown, RequestTooLarge, TransientError
from retl_shared.http import ApiClient, retry_after_seconds
from retl_shared.ratelimit import RateLimiter, Slot
from retl_shared.redaction import Redactor
from tests.fakes.server import FakeServer
from tests.fakes.tls import make_certificates

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


# --- what an answer means: one place decides ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (404, {}, r"POST http://api\.test/hooks answered HTTP 404 \(nothing is there: check the URL"),
        (405, {}, r"HTTP 405 \(the endpoint does not accept POST"),
        (410, {}, r"HTTP 410 \(the endpoint is gone"),
        (415, {}, r"HTTP 415 \(the endpoint does not accept the request's content type"),
        (301, {"Location": "https://elsewhere.test/hooks"}, r"redirects \(HTTP 301\) to https://elsewhere"),
        (418, {}, r"HTTP 418 \(the request was refused as a whole, not for one record"),
        (501, {}, r"HTTP 501"),
    ],
)
def test_a_refused_request_is_a_config_error_naming_the_url_never_retried(
    status: int, headers: dict[str, str], expected: str
) -> None:
    api, sleeps = client()
    with requests_mock.Mocker() as m:
        m.post(f"{BASE}/hooks", status_code=status, headers=headers, text="no")
        with pytest.raises(ConfigError, match=expected):
            api.request("POST", "/hooks")
        assert m.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [200, 201, 204, 207, 400, 409, 422])
def test_success_and_record_level_answers_go_back_to_the_sink(status: int) -> None:
    api, _ = client()
    with requests_mock.Mocker() as m:
        m.post(f"{BASE}/batch", status_code=status)
        assert api.request("POST", "/batch").status_code == status


def test_a_status_the_caller_expects_goes_back_to_it() -> None:
    api, _ = client()
    with requests_mock.Mocker() as m:
        m.get(f"{BASE}/records/9", status_code=404)
        assert api.request("GET", "/records/9", expect={404}).status_code == 404


def test_413_is_request_too_large_for_the_kernel_to_split() -> None:
    api, _ = client()
    with requests_mock.Mocker() as m:
        m.post(f"{BASE}/batch", status_code=413, text="Payload Too Large: limit 1 MB")
        with pytest.raises(RequestTooLarge, match=r"too large \(HTTP 413 .*limit 1 MB"):
            api.request("POST", "/batch")
        assert m.call_count == 1


@pytest.mark.parametrize(
    "answers",
    [
        [{"status_code": 500}],
        [{"status_code": 502}],
        [{"exc": requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected")}],
        [{"exc": requests.exceptions.ReadTimeout("read timed out")}],
    ],
    ids=["500", "502", "reset", "read-timeout"],
)
def test_a_request_that_is_not_idempotent_is_never_repeated_after_an_ambiguous_failure(
    answers: list[dict[str, object]],
) -> None:
    api, sleeps = client()
    with requests_mock.Mocker() as m:
        m.post(f"{BASE}/create", [*answers, {"status_code": 201}])
        with pytest.raises(OutcomeUnknown, match="outcome unknown: sent, no answer"):
            api.request("POST", "/create", idempotent=False)
        assert m.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "first",
    [
        {"status_code": 429, "headers": {"Retry-After": "0"}},
        {"status_code": 408},
        {"exc": requests.exceptions.ConnectTimeout("connect timed out")},
    ],
    ids=["429", "408", "connect-timeout"],
)
def test_a_request_that_is_not_idempotent_is_repeated_when_it_cannot_have_taken_effect(
    first: dict[str, object],
) -> None:
    api, _ = client()
    with requests_mock.Mocker() as m:
        m.post(f"{BASE}/create", [first, {"status_code": 201}])
        assert api.request("POST", "/create", idempotent=False).status_code == 201
        assert m.call_count == 2


def test_a_refused_connection_says_so_not_throttling() -> None:
    api, _ = client(max_retries=1)
    with pytest.raises(TransientError, match=r"cannot connect to 127\.0\.0\.1:1 \(connection refused\)"):
        api.request("GET", "http://127.0.0.1:1/x")


@pytest.mark.parametrize("self_signed", [True, False], ids=["self-signed", "private-ca"])
def test_an_untrusted_certificate_is_a_config_error_not_retried(self_signed: bool) -> None:
    certificates = make_certificates(self_signed=self_signed)
    server = FakeServer()
    server.tls = certificates.context
    server.route("GET", "/x", lambda request: (200, {"ok": True}))
    with server:
        api, sleeps = client()
        with pytest.raises(ConfigError, match=r"TLS with 127\.0\.0\.1:\d+ failed: certificate verify failed"):
            api.request("GET", f"{server.url}/x")
        assert sleeps == []
        trusting = ApiClient(server.url, redactor=Redactor(), verify=_ca_file(certificates.ca_pem))
        assert trusting.request("GET", "/x").json() == {"ok": True}


def _ca_file(pem: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(pem)
    return handle.name


class _RecordingLimiter(RateLimiter):
    """Notes, in order, each slot's release, sending and answer, and the server's receipt."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(100, 1.0)
        self.events = events

    def acquire(self) -> Slot:
        self.events.append("acquired")
        return super().acquire()

    def sent(self, slot: Slot) -> None:
        self.events.append("sent")
        super().sent(slot)

    def answered(self, slot: Slot) -> None:
        self.events.append("answered")
        super().answered(slot)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_slot_counts_from_when_its_request_was_written_to_the_socket(scheme: str) -> None:
    """The limiter learns when the bytes left, after any wait between its release and the socket."""
    events: list[str] = []
    server = FakeServer()
    verify: bool | str = True
    if scheme == "https":
        certificates = make_certificates(self_signed=False)
        server.tls = certificates.context
        verify = _ca_file(certificates.ca_pem)

    def handle(request: object) -> tuple[int, dict[str, bool]]:
        events.append("received")
        return 200, {"ok": True}

    server.route("POST", "/x", handle)
    with server:
        assert server.url.startswith(f"{scheme}://")
        limiter = _RecordingLimiter(events)
        api = ApiClient(server.url, redactor=Redactor(), rate_limiter=limiter, verify=verify)
        for _ in range(3):  # the first on a new connection, the others on the kept-alive one
            api.request("POST", "/x", data=b"{}")
    # The server may read a request before the sending thread gets back from the socket: a stamp that
    # late only holds the slot a little longer.
    exchanges = [events[i : i + 4] for i in range(0, len(events), 4)]
    assert len(exchanges) == 3
    for exchange in exchanges:
        assert exchange[0] == "acquired" and exchange[3] == "answered"
        assert sorted(exchange[1:3]) == ["received", "sent"]
    assert server.connections == 1


def test_the_environments_proxies_are_followed_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read once per host, not per request, but as requests reads them: HTTP_PROXY, then NO_PROXY."""
    server = FakeServer()
    server.route("GET", "/x", lambda request: (200, {"ok": True}))
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    with server:
        api = ApiClient(server.url, redactor=Redactor(), max_retries=0)
        with pytest.raises(TransientError, match="ProxyError"):
            api.request("GET", "/x")
        assert server.requests == []  # it went to the proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert ApiClient(server.url, redactor=Redactor()).request("GET", "/x").json() == {"ok": True}
