"""How many contacts per second destination-hubspot upserts, against the HubSpot fake.

The destination runs in this process as the platform calls it (``write`` with a config file, a
configured catalog and RECORD lines on stdin, here a BytesIO): contacts upserted by email, 100 per
batch, at the default max_concurrency of 8. The fake runs in a child process, so the two share
neither a GIL nor a core (the machine has two). The fake's OpenAPI request-body check is off: it
tests the client's bodies (the test suite runs it), and would cost the fake ~14 ms per batch.

a. At the ceiling: 200 ms per request, the fake's limit at 190 requests per 10 s and the config's
   tier 190: 190 x 100 records / 10 s = 1,900 records/s. The sliding window lets the first 190
   requests go at once, and then the next 190 as soon as those leave it, so the run goes in bursts
   10 s apart and its overall rate overstates the long-run one. The steady rate comes from the fake's
   log of the requests it accepted: request i (from the 191st on) could only be accepted once request
   i - 190 had left the window, so its *cycle* t[i] - t[i - 190] is 10 s when the client keeps the
   window full, and 190 requests per mean cycle is the long-run rate, whatever the phase of the
   bursts. The records of whole 10 s windows from the 191st request are shown too; they cannot see
   a delay shorter than the gap between bursts, so they may read a full 19,000 when cycles are late.
b. Unthrottled: no latency, the fake's limit out of reach (1,000,000 per 10 s), the top tier 250.
   The client's own limiter still holds the run to 250 requests per 10 s (2,500 records/s): the
   tier is a Literal of 100, 190 or 250, and the fake's rate-limit headers can only lower it. So b
   reports that capped rate (its steady rate measured as in a, over 250-request cycles), and b'
   what the kernel, the client and the fake manage with the client's limiter raised out of reach:
   a bench-only override of the client object that no config can reach.

The fake's own capacity (batch upserts of 100 new contacts per second from a trivial threaded client
with pre-built bodies) shows when the fake, not the destination, is the bottleneck; the CPU time of
this process during a write (the destination alone: the fake has its own process) shows what the
destination itself costs per record.
"""

from __future__ import annotations

import itertools
import json
import statistics
import threading
import time
from dataclasses import dataclass

import orjson
import requests

from destination_hubspot.client import HubSpotClient
from destination_hubspot.config import HubSpotConfig
from destination_hubspot.destination import DestinationHubSpot
from tests.bench import timed_write
from tests.bench._fakes import FakeProcess
from tests.fakes.hubspot import all_scopes
from tests.fakes.server import Request
from tests.harness import configured_catalog, record_line, state_line

TOKEN = "pat-bench"
WINDOW = 10.0  # seconds: HubSpot's TEN_SECONDLY_ROLLING window, the fake's and the client's
BATCH = 100
CONCURRENCY = 8  # the config's default: 8 x 5 requests/s at 200 ms is twice the ceiling's 19/s
STREAM = "contacts"
UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
OUT_OF_REACH = 1_000_000


@dataclass(frozen=True)
class Hit:
    """One request the fake answered: when it arrived (wall clock), its status and its batch size."""

    at: float
    status: int
    records: int


# -- the fake, in a child process -----------------------------------------------------------------


def _hit(request: Request) -> Hit:
    records = 0
    if request.path.endswith("/batch/upsert") and request.status in (200, 207):
        records = len(json.loads(request.body).get("inputs", []))
    return Hit(request.timestamp, request.status or 0, records)


def hubspot_fake(rate_limit_max: int, latency: float = 0.0) -> FakeProcess:
    """The HubSpot fake in a child process; its log holds a ``Hit`` per request."""
    options = {"tokens": {TOKEN: all_scopes()}, "rate_limit_max": rate_limit_max, "openapi_dir": None}
    return FakeProcess("tests.fakes.hubspot.HubSpotFake", options, latency, summary=f"{__name__}._hit")


def fake_capacity(seconds: float, threads: int) -> float:
    """Batch upserts of 100 new contacts per second the fake serves to a trivial threaded client."""
    numbers = itertools.count()
    lock = threading.Lock()
    done = [0] * threads

    def body() -> bytes:
        with lock:
            k = next(numbers)
        inputs = [
            {
                "id": f"capacity-{k}-{i}@example.com",
                "idProperty": "email",
                "properties": {"firstname": f"First{i}", "lastname": "Bench", "company": "Example Inc"},
                "objectWriteTraceId": str(i),
            }
            for i in range(BATCH)
        ]
        return orjson.dumps({"inputs": inputs})

    with hubspot_fake(OUT_OF_REACH) as fake:
        url = fake.url + UPSERT_PATH
        deadline = time.perf_counter() + seconds

        def worker(slot: int) -> None:
            session = requests.Session()
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            while time.perf_counter() < deadline:
                response = session.post(url, data=body(), headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"the fake answered {response.status_code}: {response.text[:200]}")
                done[slot] += 1

        clock = time.perf_counter()
        pool = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return sum(done) / (time.perf_counter() - clock)


# -- the destination, in this process -------------------------------------------------------------


class LimiterLiftedHubSpot(DestinationHubSpot):
    """Bench-only: the client's limiter raised out of reach, to see what lies beyond the tier's cap."""

    def client(self, config: HubSpotConfig) -> HubSpotClient:
        client = super().client(config)
        if client.rate_limiter is not None:
            client.rate_limiter.max_requests = OUT_OF_REACH
        return client


@dataclass(frozen=True)
class Run:
    """One ``write`` of ``records`` contacts and the fake's log of it."""

    records: int
    seconds: float  # the destination's run(), start to return
    cpu_seconds: float  # this process's CPU time meanwhile: the destination's
    hits: list[Hit]

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def throttled(self) -> int:
        return sum(hit.status == 429 for hit in self.hits)

    @property
    def accepted(self) -> list[Hit]:
        """Requests the rate limit counted: every accepted API call (the schema and property reads too)."""
        return sorted((hit for hit in self.hits if hit.status != 429), key=lambda hit: hit.at)


def contact_lines(count: int) -> bytes:
    """``count`` RECORD lines of new contacts and a closing STATE, as the source would send them."""
    lines = [
        record_line(
            STREAM,
            {
                "email": f"bench-{i}@example.com",
                "firstname": f"First{i}",
                "lastname": "Bench",
                "company": "Example Inc",
                "city": "Berlin",
            },
        )
        for i in range(count)
    ]
    lines.append(state_line(STREAM, {"cursor": count}))
    return b"\n".join(lines) + b"\n"


def write(
    fake: FakeProcess, records: int, tier: int, destination: type[DestinationHubSpot] = DestinationHubSpot
) -> Run:
    """Upsert ``records`` contacts by email; fail loudly unless every one was written."""
    config = {
        "credentials": {"auth_type": "private_app", "access_token": TOKEN},
        "api_base_url": fake.url,
        "rate_limit_per_10s": tier,
        "max_concurrency": CONCURRENCY,
        "streams": [{"stream": STREAM, "object": "contacts", "operation": "upsert", "match_key": ["email"]}],
    }
    catalog = configured_catalog(STREAM, sync_mode="append_dedup", primary_key=["email"])
    seconds, cpu_seconds = timed_write(destination, config, catalog, contact_lines(records), records)
    hits = fake.log()
    upserted = sum(hit.records for hit in hits)
    if upserted != records:
        raise RuntimeError(f"the fake accepted {upserted} of {records} contacts")
    return Run(records, seconds, cpu_seconds, hits)


# -- analysis ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Steady:
    rate: float  # records/s
    how: str
    cycles: tuple[float, ...] = ()  # t[i] - t[i - limit] for every request after the first `limit`
    windows: tuple[int, ...] = ()  # records of each whole 10 s window from request limit + 1


def steady_rate(run: Run, limit: int | None) -> Steady:
    """The long-run rate once a sliding window of ``limit`` requests has filled (see the docstring);
    every request after the first ``limit`` carries a full batch. Without a limit: the records over
    the span from the first upsert to the last (start-up excluded)."""
    accepted = run.accepted
    if limit is None or len(accepted) <= limit:
        upserts = [hit for hit in accepted if hit.records]
        span = upserts[-1].at - upserts[0].at
        return Steady(sum(hit.records for hit in upserts[1:]) / span, "first to last upsert")
    cycles = tuple(accepted[i].at - accepted[i - limit].at for i in range(limit, len(accepted)))
    start, end = accepted[limit].at, accepted[-1].at
    windows = tuple(
        sum(hit.records for hit in accepted if start + i * WINDOW <= hit.at < start + (i + 1) * WINDOW)
        for i in range(int((end - start) // WINDOW))
    )
    rate = limit * BATCH / statistics.fmean(cycles)
    return Steady(rate, f"{len(cycles)} cycles of requests {limit + 1}..{len(accepted)}", cycles, windows)


# -- report -----------------------------------------------------------------------------------------


def row(name: str, run: Run, steady: Steady, cap: float | None) -> str:
    share = f"{steady.rate / cap:.1%}" if cap else "-"
    return (
        f"{name:<36} {run.records:>8,} {run.seconds:>7.1f} {run.rate:>9,.0f} {steady.rate:>9,.0f}"
        f" {share:>7} {run.throttled:>5} {run.cpu_seconds / run.records * 1e6:>7.0f}"
    )


def describe_cycles(steady: Steady) -> str:
    cycles = sorted(steady.cycles)
    if not cycles:
        return "-"
    quantiles = statistics.quantiles(cycles, n=10) if len(cycles) > 1 else cycles * 9
    return (
        f"mean {statistics.fmean(cycles):.2f} s, min {cycles[0]:.2f}, median {statistics.median(cycles):.2f},"
        f" p90 {quantiles[-1]:.2f}, max {cycles[-1]:.2f} (10.00 = every slot reused at once)"
    )


def main(quick: bool = False) -> None:
    at_ceiling, unthrottled = (28_500, 30_000) if quick else (115_000, 120_000)
    capacity_seconds = 3.0 if quick else 5.0
    print(
        f"destination-hubspot write: contacts upserted by email, batch {BATCH}, max_concurrency"
        f" {CONCURRENCY} (the default); the fake in a child process, its OpenAPI body check off"
    )
    capacity = fake_capacity(capacity_seconds, CONCURRENCY)
    print(
        f"fake capacity: {capacity:,.0f} batch upserts/s = {capacity * BATCH:,.0f} records/s"
        f" (trivial client, {CONCURRENCY} threads, pre-built bodies, {capacity_seconds:.0f} s)"
    )
    print()
    print(f"{'':<36} {'':>8} {'':>7} {'overall':>9} {'steady':>9} {'of':>7} {'':>5} {'CPU':>7}")
    print(
        f"{'scenario':<36} {'records':>8} {'seconds':>7} {'rec/s':>9} {'rec/s':>9} {'ceiling':>7}"
        f" {'429s':>5} {'µs/rec':>7}",
        flush=True,
    )
    ceiling_a = 190 * BATCH / WINDOW
    with hubspot_fake(190, latency=0.2) as fake:
        run_a = write(fake, at_ceiling, tier=190)
    steady_a = steady_rate(run_a, 190)
    print(row("a: 200 ms, fake 190/10 s, tier 190", run_a, steady_a, ceiling_a), flush=True)

    cap_b = 250 * BATCH / WINDOW
    with hubspot_fake(OUT_OF_REACH) as fake:
        run_b = write(fake, unthrottled, tier=250)
    steady_b = steady_rate(run_b, 250)
    print(row("b: no latency or limit, tier 250", run_b, steady_b, cap_b), flush=True)
    with hubspot_fake(OUT_OF_REACH) as fake:
        run_c = write(fake, unthrottled, tier=250, destination=LimiterLiftedHubSpot)
    steady_c = steady_rate(run_c, None)
    print(row("b': as b, client limiter lifted", run_c, steady_c, None), flush=True)

    print()
    verdict = "meets" if steady_a.rate >= 0.95 * ceiling_a else "MISSES"
    print(
        f"a: {steady_a.rate:,.0f} records/s steady = {steady_a.rate / ceiling_a:.1%} of the"
        f" {ceiling_a:,.0f} records/s ceiling ({verdict} the 95% aim), from {steady_a.how}"
    )
    print(f"   cycles: {describe_cycles(steady_a)}")
    burst = sum(hit.records for hit in run_a.accepted[:190])
    windows = ", ".join(f"{n:,}" for n in steady_a.windows) or "none in a run this short"
    print(f"   records in the first burst: {burst:,}; in each whole 10 s window after it: {windows}")
    print(f"   429s sent by the fake: {run_a.throttled}")
    print(
        f"b: {steady_b.rate:,.0f} records/s steady = {steady_b.rate / cap_b:.1%} of the {cap_b:,.0f}"
        f" records/s that the client's limiter allows at tier 250, from {steady_b.how}"
    )
    print(f"   cycles: {describe_cycles(steady_b)}")
    print(
        f"b': {steady_c.rate:,.0f} records/s from the first upsert to the last ="
        f" {steady_c.rate / (capacity * BATCH):.0%} of the fake's capacity; the destination's CPU:"
        f" {run_c.cpu_seconds / run_c.records * 1e6:.0f} µs per record"
        f" (one core: {run_c.records / run_c.cpu_seconds:,.0f} records/s)"
    )
