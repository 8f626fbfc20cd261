"""RateLimiter on a fake clock: the rolling window, pauses, adaptation, and many threads."""

from __future__ import annotations

import threading

import pytest

from retl_shared.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_at_most_n_requests_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 10, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(7):
        limiter.acquire()
        times.append(clock.now)
    # unanswered, a request may have arrived up to the margin (1 % of 10 s) after it was sent
    assert times == [0, 0, 0, 10.1, 10.1, 10.1, 20.2]


def test_an_answer_frees_the_slot_a_window_after_it_came() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1, clock=clock, sleep=clock.sleep)
    slot = limiter.acquire()
    clock.now = 0.01
    limiter.answered(slot)  # it reached the server by 0.01 at the latest
    assert limiter.acquire().waited == pytest.approx(1.0)
    assert clock.now == pytest.approx(1.01)


def test_jittered_arrivals_stay_within_the_servers_window() -> None:
    """Waits before the socket, and arrivals within the margin of it (or before a quick answer), never
    put N+1 requests in one window."""
    clock = FakeClock()
    limiter = RateLimiter(3, 1, clock=clock, sleep=clock.sleep)
    arrivals = []
    # (seconds from release to the socket, then to the server, then to the answer or None when late)
    timings = [
        (0.0, 0.024, None),
        (0.08, 0.0, 0.001),
        (0.0, 0.0, None),
        (0.2, 0.015, 0.04),
        (0.0, 0.0, 0.0),
        (0.03, 0.02, None),
    ]
    for i in range(60):
        slot = limiter.acquire()
        to_socket, to_server, answer = timings[i % len(timings)]
        clock.now += to_socket
        limiter.sent(slot)
        arrivals.append(clock.now + to_server)
        if answer is not None:
            clock.now += answer
            limiter.answered(slot)
    for start in arrivals:
        assert sum(1 for a in arrivals if start <= a < start + 1) <= 3


def test_pause_holds_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause(4)
    assert limiter.acquire().waited == 4
    assert clock.now == 4


def test_adapt_follows_a_lower_server_limit_only() -> None:
    limiter = RateLimiter(190, 10)
    limiter.adapt(max_requests=250)
    assert limiter.max_requests == 190
    limiter.adapt(max_requests=100, per_seconds=10)
    assert limiter.max_requests == 100


def test_threads_never_exceed_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, 1, clock=clock, sleep=clock.sleep)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                stamps.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 40
    for stamp in stamps:  # any one-second window holds at most 5
        assert sum(1 for s in stamps if stamp <= s < stamp + 1) <= 5


def test_saturated_tells_whether_our_window_is_full() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    assert not limiter.saturated()
    limiter.acquire()
    assert limiter.saturated()
    clock.now = 10.05
    assert limiter.saturated()  # the window has passed, the arrival margin has not
    clock.now = 10.1
    assert not limiter.saturated()


def test_saturated_within_remembers_that_the_window_filled_since_a_request_left() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now = 5.0
    limiter.acquire()  # takes the window's last slot
    clock.now = 10.2  # the first slot is free again
    assert not limiter.saturated()
    assert limiter.saturated(within=5.5)  # a request sent at 4.7 left while the window filled
    assert not limiter.saturated(within=1.0)  # one sent at 9.2 found room
