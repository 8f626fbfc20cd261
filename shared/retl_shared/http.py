"""The HTTP client every destination's ``client.py`` builds on.

requests gives pooling and timeouts; urllib3's Retry is not used because retries here must
share the run's rate limiter, pause every worker on a 429, log with redaction and turn an
exhausted budget into a ``transient_error`` – so the loop is ours, the backoff policy standard
(exponential with full jitter, Retry-After wins).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from retl_shared.errors import ConfigError, TransientError
from retl_shared.ratelimit import RateLimiter
from retl_shared.redaction import Redactor

log = logging.getLogger("retl.http")

RETRYABLE_STATUS = frozenset({423, 429, 500, 502, 503, 504})


class Decision(Enum):
    ok = "ok"  # hand the response to the caller (2xx, or a 4xx it maps to record rejections)
    retry = "retry"
    auth = "auth"  # credentials or permissions: the user must fix the config


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


def excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        self.session.verify = verify
        self.session.headers.update({"User-Agent": "retl-suite/0.1", **(headers or {})})
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # --- hooks for vendor clients ---------------------------------------------------------------

    def classify(self, response: requests.Response) -> Decision:
        if response.status_code in (401, 403):
            return Decision.auth
        if response.status_code in RETRYABLE_STATUS:
            return Decision.retry
        return Decision.ok

    def observe(self, response: requests.Response) -> None:
        """Adapt the rate limiter to the vendor's rate-limit headers (none by default)."""

    def auth_error(self, response: requests.Response) -> ConfigError:
        """The config error for a 401/403; vendors name the missing scope."""
        return ConfigError(
            f"The API refused the credentials (HTTP {response.status_code}): {excerpt(response.text)}. "
            "Check the credentials and their permissions in the destination config."
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

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send with retries; return the final response, or raise ConfigError/TransientError."""
        url = self.url(path)
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        refreshed = False
        problem = ""
        for attempt in range(self.max_retries + 1):
            wait_here: float | None = None
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            extra = self.attempt_headers(kwargs.get("headers") or {}, kwargs.get("data"))
            if extra:
                kwargs["headers"] = {**(kwargs.get("headers") or {}), **extra}
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                problem = f"{type(exc).__name__} calling {method} {self._safe(url)}"
                wait = self.backoff(attempt)
            else:
                self.observe(response)
                decision = self.classify(response)
                if decision is Decision.ok:
                    return response
                if decision is Decision.auth:
                    if response.status_code == 401 and not refreshed and self.refresh_auth():
                        refreshed = True
                        continue
                    raise self.auth_error(response)
                problem = (
                    f"HTTP {response.status_code} from {method} {self._safe(url)}: {excerpt(response.text)}"
                )
                retry_after = retry_after_seconds(response)
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise TransientError(
                        f"The API asked us to wait {retry_after:.0f} s, longer than we wait within a sync; "
                        f"the platform will retry the sync later. ({self._safe(problem)})"
                    )
                wait = retry_after if retry_after is not None else self.backoff(attempt)
                if response.status_code == 429 and self.rate_limiter is not None:
                    self.rate_limiter.pause(wait)  # every worker waits, not just this one
                    wait_here = 0.0
            if attempt < self.max_retries:
                log.warning(
                    "%s; retry %d/%d in %.1f s", self._safe(problem), attempt + 1, self.max_retries, wait
                )
                self.sleep(wait_here if wait_here is not None else wait)
        raise TransientError(
            f"Gave up after {self.max_retries + 1} attempts: {self._safe(problem)}. "
            "The API is unavailable or throttling; the platform will retry the sync."
        )

    def _safe(self, text: str) -> str:
        return self.redactor.redact(text)
