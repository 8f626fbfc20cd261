"""The HTTP client every destination's ``client.py`` builds on, and the one place that decides what an
answer means for the records in it.

requests gives pooling and timeouts; urllib3's Retry is not used because retries here must
share the run's rate limiter, pause every worker on a 429, log with redaction, never repeat a
request that is not safe to repeat, and turn an exhausted budget into a ``transient_error`` – so
the loop is ours, the backoff policy standard (exponential with full jitter, Retry-After wins).

Every answer falls in one of these classes (``ApiClient.classify``):
- ok: 2xx (207 included) and the record-level statuses 400, 409 and 422, whose body may name the
  records at fault: the sink maps them to rejections, or splits the batch when it cannot tell;
- retry: throttled or unavailable (408, 423, 425, 429, 5xx), with backoff and Retry-After;
- too large: 413, raised as ``RequestTooLarge`` so the kernel splits the batch;
- auth: 401/403, a ``ConfigError`` naming the credentials (after one OAuth refresh);
- refused: the request itself is wrong (3xx, 404, 405, 410, 415 and any other status), a
  ``ConfigError`` naming the URL: never a record rejection, never a state past the records.
TLS failures are ``ConfigError``s naming the certificate problem, not transient errors.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from retl_shared.deadline import BUDGET
from retl_shared.errors import ConfigError, OutcomeUnknown, RequestTooLarge, TransientError
from retl_shared.ratelimit import RateLimiter, Slot
from retl_shared.redaction import Redactor

log = logging.getLogger("retl.http")

# Statuses whose body may be about single records: the sink reads them (or the kernel splits).
RECORD_LEVEL_STATUS = frozenset({400, 409, 422})
# Statuses that mean "not processed, try later": repeating such a request never duplicates a write.
SAFE_TO_REPEAT_STATUS = frozenset({408, 429})
_LOST = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
_NOT_RETRYABLE_5XX = frozenset({501, 505})  # not implemented, version not supported: our request


class Decision(Enum):
    ok = "ok"  # hand the response to the caller (2xx, 207, or a record-level 4xx)
    retry = "retry"  # throttled or unavailable
    auth = "auth"  # credentials or permissions: the user must fix the config
    too_large = "too_large"  # 413: split the batch
    refused = "refused"  # the request itself is wrong: URL, method, content type, redirect, gone


def retry_after_seconds(response: requests.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def host_of(url: str) -> str:
    """The host (and port) a URL names, without any credentials it may hold."""
    netloc = urlsplit(url).netloc
    return netloc.rsplit("@", 1)[-1] if netloc else url


def _never_connected(exc: requests.RequestException) -> bool:
    """Whether the request cannot have reached the server (so repeating it cannot duplicate a write)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


# What to call in this thread once the request being sent is on the wire (see `_WireTimedAdapter`).
_on_wire = threading.local()


class _WireTimed:
    """A connection that reports when a request's last byte was handed to the socket."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
        callback = getattr(_on_wire, "callback", None)
        if callback is not None:
            callback()


class _WireTimedHTTPConnection(_WireTimed, HTTPConnection):
    pass


class _WireTimedHTTPSConnection(_WireTimed, HTTPSConnection):
    pass


class _WireTimedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WireTimedHTTPConnection


class _WireTimedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WireTimedHTTPSConnection


class _WireTimedAdapter(HTTPAdapter):
    """Pools whose connections say when a request went out, so its rate-limit slot counts from there.

    Between the limiter letting a request go and its bytes leaving, the thread may wait for the GIL or
    a connection; a slot timed from its release would free too early by that wait, and the server,
    which counts arrivals, would see one request too many in a window. (Through a proxy the pools are
    urllib3's own and the slot counts from its release.)
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WireTimedHTTPPool, "https": _WireTimedHTTPSPool}


class ApiClient:
    """Pooled, rate-limited, retrying JSON-over-HTTP client; vendors subclass the hooks."""

    def __init__(
        self,
        base_url: str,
        *,
        redactor: Redactor,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 300.0,
        rate_limiter: RateLimiter | None = None,
        pool_size: int = 8,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.redactor = redactor
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.rate_limiter = rate_limiter
        self.sleep = sleep
        self.session = requests.Session()
        # requests reads the proxy variables, the CA bundle variables and ~/.netrc again for every request
        # (about a millisecond of CPU each, under the GIL the workers share). They cannot change during a
        # run, so they are read here, once: the CA bundle now, the proxies once per host (`_proxies`).
        self.session.trust_env = False
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.verify = verify  # passed with every request
        self._proxies_by_host: dict[str, dict[str, str]] = {}
        self.session.headers.update({"User-Agent": "retl-suite/0.1", **(headers or {})})
        adapter = _WireTimedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # --- hooks for vendor clients ---------------------------------------------------------------

    def classify(self, response: requests.Response) -> Decision:
        status = response.status_code
        if 200 <= status < 300 or status in RECORD_LEVEL_STATUS:
            return Decision.ok
        if status in (401, 403):
            return Decision.auth
        if status == 413:
            return Decision.too_large
        if status in (408, 423, 425, 429) or (status >= 500 and status not in _NOT_RETRYABLE_5XX):
            return Decision.retry
        return Decision.refused

    def observe(self, response: requests.Response) -> None:
        """Adapt the rate limiter to the vendor's rate-limit headers (none by default)."""

    def auth_error(self, response: requests.Response) -> ConfigError:
        """The config error for a 401/403; vendors name the missing scope."""
        return ConfigError(
            f"The API refused the credentials (HTTP {response.status_code}): {self.body_excerpt(response)}. "
            "Check the credentials and their permissions in the destination config."
        )

    def refusal_error(self, response: requests.Response) -> ConfigError:
        """The config error for a request refused as a whole (wrong URL, method, redirect, gone…)."""
        request = response.request
        where = f"{request.method} {self._safe(str(request.url))}"
        status = response.status_code
        if 300 <= status < 400:
            target = self._safe(response.headers.get("Location", "elsewhere"))
            return ConfigError(
                f"{where} redirects (HTTP {status}) to {target}; redirects are not followed: "
                "configure the final URL."
            )
        advice = {
            404: "nothing is there: check the URL (and the API base URL)",
            405: f"the endpoint does not accept {request.method}: check the URL and the method",
            410: "the endpoint is gone: remove or replace it",
            415: "the endpoint does not accept the request's content type: check the URL",
        }.get(status, "the request was refused as a whole, not for one record: check the settings")
        return ConfigError(f"{where} answered HTTP {status} ({advice}): {self.body_excerpt(response)}")

    def tls_error(self, url: str, exc: requests.exceptions.SSLError) -> ConfigError:
        """The config error for a failed TLS handshake; vendors add where a custom CA goes."""
        return ConfigError(
            f"TLS with {host_of(url)} failed: {_tls_reason(exc)}. The server's certificate is not trusted "
            "(expired, self-signed, for another host name, or from a private CA)."
        )

    def body_excerpt(self, response: requests.Response, limit: int = 300) -> str:
        """A short excerpt of an answer's body for messages: secrets masked first, then cut."""
        return self.redactor.excerpt(response.text, limit) or "(empty body)"

    def json_body(self, response: requests.Response, expected: type | tuple[type, ...] = dict) -> Any:
        """The answer's body as JSON of the ``expected`` type; anything else is ``garbled``."""
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise self.garbled(response, "a body that is not JSON") from None
        if not isinstance(body, expected):
            raise self.garbled(response, f"JSON of an unexpected shape (a {type(body).__name__})")
        return body

    def garbled(self, response: requests.Response, problem: str) -> TransientError:
        """The error for an answer the API would not give (an HTML page from a proxy or portal, a cut
        body, another shape): not the user's to fix, so transient, quoting a masked excerpt."""
        request = response.request
        return TransientError(
            f"{request.method} {self._safe(str(request.url))} answered HTTP {response.status_code} with "
            f"{problem}: {self.body_excerpt(response)}. Something between the connector and the API (a "
            "proxy, a captive portal) or the API itself garbled it: try again later, and check the API base "
            "URL if it persists."
        )

    def attempt_headers(self, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        """Headers computed afresh for every attempt (e.g. a signature over the attempt's timestamp)."""
        return {}

    def refresh_auth(self) -> bool:
        """Refresh expired credentials after a 401 (OAuth); return True to retry the request."""
        return False

    # --- the request loop ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, base·2^attempt], capped (AWS architecture blog's recommendation)."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: Collection[int] = (),
        idempotent: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with retries; return the final response, or raise.

        ``expect`` lists further statuses the caller reads itself (e.g. a lookup's 404). A request that
        is not ``idempotent`` (a create without a unique key) is repeated only when it cannot have
        taken effect (never connected, 408, 429); otherwise ``OutcomeUnknown`` is raised.
        Raises ``ConfigError`` (credentials, refused request, TLS), ``RequestTooLarge`` (413),
        ``TransientError`` (retries exhausted) or ``OutcomeUnknown``.
        """
        url = self.url(path)
        budget = BUDGET.get()
        deadline = time.monotonic() + budget if budget else None
        timeout = min(self.timeout, budget) if budget else self.timeout
        kwargs.setdefault("timeout", timeout)
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("proxies", self._proxies(url))
        refreshed = False
        problem = ""
        throttled = False
        for attempt in range(self.max_retries + 1):
            wait_here: float | None = None
            slot = self.rate_limiter.acquire() if self.rate_limiter is not None else None
            extra = self.attempt_headers(kwargs.get("headers") or {}, kwargs.get("data"))
            if extra:
                kwargs["headers"] = {**(kwargs.get("headers") or {}), **extra}
            try:
                response = self._exchange(method, url, slot, kwargs)
            except requests.exceptions.SSLError as exc:
                raise self.tls_error(url, exc) from None
            except requests.exceptions.InvalidHeader:
                # requests' message quotes the header's value, which may be a secret: never shown
                raise ConfigError(
                    "A header value is not valid (a line break or other control character in a credential "
                    "or header): paste the credentials and headers again."
                ) from None
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
                raise ConfigError(f"{self._safe(url)} is not a valid URL ({type(exc).__name__}).") from None
            except requests.exceptions.InvalidSchema:
                raise ConfigError(f"{self._safe(url)} is not an http:// or https:// URL.") from None
            except _LOST as exc:
                if _never_connected(exc):
                    problem = f"cannot connect to {self._safe(host_of(url))} ({_connect_reason(exc)})"
                    if budget is not None and attempt >= 1:  # check: a second refusal is the answer
                        advice = "Check the URL and that the API is reachable."
                        raise TransientError(f"{problem}. {advice}") from None
                else:
                    problem = f"{type(exc).__name__} calling {method} {self._safe(url)}"
                    if not idempotent:
                        raise OutcomeUnknown(problem) from None
                throttled = False
                wait = self.backoff(attempt)
            else:
                self.observe(response)
                decision = Decision.ok if response.status_code in expect else self.classify(response)
                if decision is Decision.ok:
                    return response
                if decision is Decision.auth:
                    if response.status_code == 401 and not refreshed and self.refresh_auth():
                        refreshed = True
                        continue
                    raise self.auth_error(response)
                if decision is Decision.too_large:
                    raise RequestTooLarge(
                        f"the API refused the request as too large (HTTP 413 from {method} "
                        f"{self._safe(url)}): {self.body_excerpt(response)}"
                    )
                if decision is Decision.refused:
                    raise self.refusal_error(response)
                status = response.status_code
                problem = f"HTTP {status} from {method} {self._safe(url)}: {self.body_excerpt(response)}"
                if not idempotent and status not in SAFE_TO_REPEAT_STATUS:
                    raise OutcomeUnknown(problem)
                throttled = status == 429
                retry_after = retry_after_seconds(response)
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise TransientError(
                        f"The API asked us to wait {retry_after:.0f} s, longer than we wait within a sync; "
                        f"the platform will retry the sync later. ({problem})"
                    )
                wait = retry_after if retry_after is not None else self.backoff(attempt)
                if status == 429 and self.rate_limiter is not None:
                    self.rate_limiter.pause(wait)  # every worker waits, not just this one
                    wait_here = 0.0
            # In `check` (a budget) the message says what to fix: no sync follows for the platform to retry.
            out_of_time = deadline is not None and time.monotonic() + wait > deadline
            if budget and (out_of_time or attempt == self.max_retries):
                gave_up = (
                    f"No answer within {budget:.0f} s"
                    if out_of_time
                    else f"Gave up after {attempt + 1} tries"
                )
                raise TransientError(
                    f"{gave_up}: {problem}. Check the URL and that the API is reachable from where the "
                    "connector runs."
                )
            if attempt < self.max_retries:
                log.warning("%s; retry %d/%d in %.1f s", problem, attempt + 1, self.max_retries, wait)
                self.sleep(wait_here if wait_here is not None else wait)
        state = "is throttling us" if throttled else "is unavailable or unreachable"
        raise TransientError(
            f"Gave up after {self.max_retries + 1} attempts: {problem}. The API {state}; "
            "the platform will retry the sync."
        )

    def _exchange(
        self, method: str, url: str, slot: Slot | None, kwargs: dict[str, Any]
    ) -> requests.Response:
        """One HTTP exchange; its rate-limit slot learns when the request went out and when the answer
        (or the failure) came back."""
        limiter = self.rate_limiter
        if slot is None or limiter is None:
            return self.session.request(method, url, **kwargs)
        _on_wire.callback = lambda: limiter.sent(slot)
        try:
            return self.session.request(method, url, **kwargs)
        finally:
            _on_wire.callback = None
            limiter.answered(slot)

    def _proxies(self, url: str) -> dict[str, str]:
        """The environment's proxies for the URL's host (none when NO_PROXY names it), as requests
        would find them."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._proxies_by_host:
            self._proxies_by_host[host] = requests.utils.get_environ_proxies(url)
        return self._proxies_by_host[host]

    def _safe(self, text: str) -> str:
        return self.redactor.redact(text)


def _tls_reason(exc: requests.exceptions.SSLError) -> str:
    """The certificate problem in OpenSSL's words ("certificate verify failed: self-signed certificate")."""
    text = str(exc)
    marker = "certificate verify failed: "
    if marker in text:
        return text[text.index(marker) :].split("(_ssl")[0].rstrip(" ')\"")
    return type(exc).__name__


def _connect_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    text = str(exc)
    reasons = ("Connection refused", "Name or service not known", "No route to host", "Temporary failure")
    for reason in reasons:
        if reason in text:
            return reason.lower()
    return "the connection failed"
