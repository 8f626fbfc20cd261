"""A client-side rate limiter shared by every request of a run.

A sliding window (at most N requests in any W seconds) rather than a token bucket, because the
vendors we talk to (HubSpot's TEN_SECONDLY_ROLLING) count that way: a bucket that refills
continuously would burst past a rolling window's ceiling. ``pause`` stops every caller at once
after a 429, so concurrent workers do not each discover the limit (no retry storms).

A server counts a request when it arrives, some time after the limiter let it go and before its
answer came back. So each request holds its slot until a window after the latest moment it can
have arrived: its answer, when that comes within the arrival margin, else the moment its last byte
went to the socket (``sent``, told by the HTTP client's connections) plus the margin. Timed from the
socket, not from the release, a wait for the GIL or a connection in between costs nothing, and the
margin only covers the network's and the server's unevenness: 25 ms, or 1 % of a longer window (100 ms
of HubSpot's 10 s), about 2.5 % of a one-second window. A 429 that slips through anyway pauses everyone
and is retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

ARRIVAL_MARGIN_SECONDS = 0.025
ARRIVAL_MARGIN_SHARE = 0.01


@dataclass
class Slot:
    """One request's place in the window, from its sending until a window after it arrived."""

    sent: float
    free_at: float
    waited: float  # seconds the caller waited for it


class RateLimiter:
    def __init__(
        self,
        max_requests: int,
        per_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or per_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive interval")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._held: list[Slot] = []
        self._paused_until = 0.0
        self._filled_at = float("-inf")  # the last moment a request took the window's last slot
        self._lock = threading.Lock()

    @property
    def arrival_margin(self) -> float:
        return max(ARRIVAL_MARGIN_SECONDS, ARRIVAL_MARGIN_SHARE * self.per_seconds)

    def _release_expired(self, now: float) -> None:
        self._held = [slot for slot in self._held if slot.free_at > now]

    def acquire(self) -> Slot:
        """Block until a request may go; the slot it holds (``answered`` frees it sooner)."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._release_expired(now)
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif len(self._held) < self.max_requests:
                    slot = Slot(now, now + self.arrival_margin + self.per_seconds, waited)
                    self._held.append(slot)
                    if len(self._held) >= self.max_requests:
                        self._filled_at = now
                    return slot
                else:
                    wait = min(slot.free_at for slot in self._held) - now
            self._sleep(wait)
            waited += wait

    def sent(self, slot: Slot) -> None:
        """The request's last byte went to the socket: it reaches the server within the margin from now
        (not from when it was let go, which may have been a GIL wait or a connection ago)."""
        with self._lock:
            slot.sent = self._clock()
            slot.free_at = slot.sent + self.arrival_margin + self.per_seconds

    def answered(self, slot: Slot) -> None:
        """The request's answer (or failure) came back: it arrived by now, if not by its margin."""
        with self._lock:
            arrived_by = min(self._clock(), slot.sent + self.arrival_margin)
            slot.free_at = min(slot.free_at, arrived_by + self.per_seconds)

    def saturated(self, within: float = 0.0) -> bool:
        """Whether our own window is full, or was at some moment in the last ``within`` seconds (since
        the request now answered left): then a server saying "none left" is just agreeing with us."""
        with self._lock:
            now = self._clock()
            self._release_expired(now)
            return len(self._held) >= self.max_requests or self._filled_at >= now - within

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
