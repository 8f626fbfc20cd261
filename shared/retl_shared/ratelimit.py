"""A client-side rate limiter shared by every request of a run.

A sliding window (at most N requests in any W seconds) rather than a token bucket, because the
vendors we talk to (HubSpot's TEN_SECONDLY_ROLLING) count that way: a bucket that refills
continuously would burst past a rolling window's ceiling. ``pause`` stops every caller at once
after a 429, so concurrent workers do not each discover the limit (no retry storms).

A server counts a request when it arrives, a little after the limiter let it go and unevenly (two
requests a window apart can arrive less than a window apart). So a slot frees ``arrival_margin``
seconds after the window has passed: 50 ms absorbs ordinary jitter while costing 5% of a one-second
window and 0.5% of a ten-second one. A 429 that slips through anyway pauses everyone and is retried.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

ARRIVAL_MARGIN_SECONDS = 0.05


class RateLimiter:
    def __init__(
        self,
        max_requests: int,
        per_seconds: float,
        arrival_margin: float = ARRIVAL_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or per_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive interval")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self.arrival_margin = arrival_margin
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _forget_expired(self, now: float) -> None:
        while self._sent and self._sent[0] + self._span <= now:
            self._sent.popleft()

    @property
    def _span(self) -> float:
        return self.per_seconds + self.arrival_margin

    def acquire(self) -> float:
        """Block until a request may go; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._forget_expired(now)
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    return waited
                else:
                    wait = self._sent[0] + self._span - now
            self._sleep(wait)
            waited += wait

    def saturated(self) -> bool:
        """Whether our own window is full: then a server saying "none left" is just agreeing with us."""
        with self._lock:
            self._forget_expired(self._clock())
            return len(self._sent) >= self.max_requests

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (the server said so: Retry-After, or no quota left)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def adapt(self, max_requests: int | None = None, per_seconds: float | None = None) -> None:
        """Follow the server's advertised limit when it is lower than ours."""
        with self._lock:
            if max_requests and max_requests < self.max_requests:
                self.max_requests = max_requests
            if per_seconds and per_seconds > self.per_seconds:
                self.per_seconds = per_seconds
