"""How many records per second destination-webhook delivers, at batch sizes 1, 100 and 1,000.

The destination runs in this process as the platform calls it (``write`` with a config file, a
configured catalog and RECORD lines on stdin, here a BytesIO), at the default max_concurrency of 4,
JSON array bodies, no signing, to the local WebhookReceiver without latency. The receiver runs in a
child process, so the two share neither a GIL nor a core (the machine has two); it parses every body
and keeps it, and its log confirms that every record arrived.

Beside each run, a floor: a trivial client (the same number of threads, one requests.Session each)
posting the same records in the same batches, bodies built beforehand. Against a local receiver
without latency every request costs CPU on both sides, so the floor is what the receiver and HTTP
allow; the destination's ratio to it is what its own work costs (reading and mapping the records,
batching, encoding, the state barrier). The CPU time of this process during a write (the
destination alone: the receiver has its own process) is its cost per record.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from destination_webhook.destination import DestinationWebhook
from tests.bench import timed_write
from tests.bench._fakes import FakeProcess
from tests.fakes.server import Request
from tests.harness import configured_catalog, record_line, state_line

STREAM = "users"
PATH = "/hooks/bench"
CONCURRENCY = 4  # the config's default


# -- the receiver, in a child process ---------------------------------------------------------------


def _delivery(request: Request) -> tuple[int, int]:
    """A request's status and the records in its JSON array body."""
    parsed = json.loads(request.body) if request.body else []
    return request.status or 0, len(parsed) if isinstance(parsed, list) else 1


class ReceiverProcess(FakeProcess):
    """The webhook receiver served from a child process."""

    def __init__(self) -> None:
        super().__init__("tests.fakes.webhook.WebhookReceiver", {}, summary=f"{__name__}._delivery")

    def totals(self) -> tuple[int, int, list[int]]:
        """Requests received, records in the accepted ones, and the distinct statuses answered."""
        deliveries = self.log()
        records = sum(count for status, count in deliveries if 200 <= status < 300)
        return len(deliveries), records, sorted({status for status, _ in deliveries})


# -- the measured runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    records: int
    requests: int
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds


def record(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "email": f"user-{i}@example.com",
        "name": f"User {i}",
        "plan": "pro" if i % 3 else "free",
        "score": i % 1000 / 7,
        "active": i % 2 == 0,
        "updated_at": "2024-06-01T12:00:00Z",
    }


def record_lines(count: int) -> bytes:
    lines = [record_line(STREAM, record(i)) for i in range(count)]
    lines.append(state_line(STREAM, {"cursor": count}))
    return b"\n".join(lines) + b"\n"


def check(receiver: ReceiverProcess, records: int, requests_expected: int) -> int:
    received_requests, received, statuses = receiver.totals()
    if received != records or received_requests != requests_expected or statuses != [200]:
        raise RuntimeError(
            f"the receiver got {received} of {records} records in {received_requests} requests"
            f" (expected {requests_expected}), statuses {statuses}"
        )
    return received_requests


def write(receiver: ReceiverProcess, records: int, batch_size: int) -> Run:
    """Send ``records`` records in batches of ``batch_size``; fail loudly unless every one arrived."""
    receiver.reset()
    config = {"url": receiver.url + PATH, "batch_size": batch_size, "max_concurrency": CONCURRENCY}
    catalog = configured_catalog(STREAM, sync_mode="append")
    seconds, cpu_seconds = timed_write(DestinationWebhook, config, catalog, record_lines(records), records)
    sent = check(receiver, records, -(-records // batch_size))
    return Run(records, sent, seconds, cpu_seconds)


def floor(receiver: ReceiverProcess, records: int, batch_size: int) -> Run:
    """The same records in the same batches from a trivial threaded client, bodies built beforehand."""
    receiver.reset()
    payloads = [record(i) for i in range(records)]
    bodies = [
        orjson.dumps(payloads[i] if batch_size == 1 else payloads[i : i + batch_size])
        for i in range(0, records, batch_size)
    ]
    todo: Iterator[bytes] = iter(bodies)
    lock = threading.Lock()
    url = receiver.url + PATH

    def worker() -> None:
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        while True:
            with lock:
                body = next(todo, None)
            if body is None:
                return
            response = session.post(url, data=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"the receiver answered {response.status_code}: {response.text[:200]}")

    clock = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - clock
    return Run(records, check(receiver, records, len(bodies)), seconds)


def main(quick: bool = False) -> None:
    sizes = {1: 1_000, 100: 20_000, 1_000: 20_000} if quick else {1: 5_000, 100: 100_000, 1_000: 100_000}
    print(
        f"destination-webhook write, JSON array bodies, max_concurrency {CONCURRENCY} (the default),"
        " no signing; the receiver in a child process, no latency"
    )
    print(
        f"{'batch':>6} {'records':>8} {'requests':>8} {'seconds':>8} {'records/s':>10} {'requests/s':>10}"
        f" {'CPU µs/rec':>10} {'floor rec/s':>11} {'vs floor':>8}",
        flush=True,
    )
    with ReceiverProcess() as receiver:
        for batch_size, records in sizes.items():
            base = floor(receiver, records, batch_size)
            run = write(receiver, records, batch_size)
            print(
                f"{batch_size:>6,} {records:>8,} {run.requests:>8,} {run.seconds:>8.2f} {run.rate:>10,.0f}"
                f" {run.request_rate:>10,.0f} {run.cpu_seconds / records * 1e6:>10.0f}"
                f" {base.rate:>11,.0f} {base.rate / run.rate:>7.2f}x",
                flush=True,
            )
    print(
        "records/s and requests/s: the destination's write, start to return (start-up included);"
        " floor: a trivial client, same batches; vs floor: how many times slower the destination is"
    )
