"""Each destination end to end at its API's ceiling, start-up included, as the platform runs it.

The destination is its console script in a child process (``write`` with a config file, a configured
catalog and the RECORD lines on stdin), timed from the moment it is started to its exit: the
interpreter's start, imports, the config and catalog, the API's schema reads and every batch. The fake
API runs in another child process, with the vendor's latency and rate limit, so neither shares a GIL
with the other. Each figure is a same-run ratio: records (or requests) per second over the ceiling the
scenario sets.

- HubSpot: 40,000 contacts upserted by email, 100 per batch, 200 ms per request, the fake's and the
  config's limit 190 per 10 s: ceiling 1,900 records/s.
- Webhook: 20,000 records, 100 per body, ``max_concurrency`` 4, 200 ms per request: ceiling
  4 × 100 / 0.2 s = 2,000 records/s.
- Customer.io: 60,000 people identified, 100 per batch, 50 ms per request, the config's request rate
  20 per second (the fake enforces the same): ceiling 20 requests/s.
- Clarify: 7,500 people upserted, 25 per bulk request, 50 ms per request, the config's request rate 10
  per second, and the fake refusing (429) any request past exactly 10 in a second: ceiling 10
  requests/s, with zero 429s.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.bench._fakes import FakeProcess
from tests.bench._report import Figure
from tests.fakes.customerio import API_KEY, SITE_ID
from tests.harness import BIN, configured_catalog, record_line, state_line


@dataclass(frozen=True)
class Scenario:
    name: str
    destination: str
    fake: str  # module.Class
    fake_options: dict[str, Any]
    latency: float
    limit: tuple[int, float] | None
    config: Callable[[str], dict[str, Any]]  # the fake's URL → the destination's config
    stream: str
    records: int
    record: Callable[[int], dict[str, Any]]
    ceiling: float
    unit: str  # "records" or "requests"
    write_path: str  # the requests that carry records


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    seconds: float
    requests: int
    throttled: int

    @property
    def achieved(self) -> float:
        amount = self.scenario.records if self.scenario.unit == "records" else self.requests
        return amount / self.seconds

    @property
    def share(self) -> float:
        return self.achieved / self.scenario.ceiling


def run(scenario: Scenario) -> Result:
    lines = [record_line(scenario.stream, scenario.record(i)) for i in range(scenario.records)]
    stdin = b"\n".join([*lines, state_line(scenario.stream, {"n": scenario.records})]) + b"\n"
    with FakeProcess(scenario.fake, scenario.fake_options, scenario.latency, scenario.limit) as fake:
        with tempfile.TemporaryDirectory() as tmp:
            config, catalog = Path(tmp, "config.json"), Path(tmp, "catalog.json")
            config.write_text(json.dumps(scenario.config(fake.url)))
            catalog.write_text(json.dumps(configured_catalog(scenario.stream)))
            command = [str(BIN / scenario.destination), "write", "--config", str(config)]
            command += ["--catalog", str(catalog)]
            clock = time.perf_counter()
            done = subprocess.run(command, input=stdin, capture_output=True, check=False)
            seconds = time.perf_counter() - clock
        log = fake.log()
    messages = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    states = [m["state"] for m in messages if m["type"] == "STATE"]
    written = states[-1]["destinationStats"]["recordCount"] if states else 0
    if done.returncode != 0 or written != scenario.records:
        tail = done.stdout[-500:]
        raise RuntimeError(f"{scenario.name}: exit {done.returncode}, {written} records confirmed: {tail!r}")
    writes = [status for status, path in log if path.endswith(scenario.write_path)]
    throttled = sum(status == 429 for status in writes)
    return Result(scenario, seconds, len(writes) - throttled, throttled)


def scenarios(quick: bool) -> list[Scenario]:
    scale = 0.25 if quick else 1.0
    return [
        Scenario(
            "hubspot",
            "destination-hubspot",
            "tests.fakes.hubspot.HubSpotFake",
            {"tokens": {"pat-bench": None}, "rate_limit_max": 190, "openapi_dir": None},
            0.2,
            None,
            lambda url: {
                "credentials": {"auth_type": "private_app", "access_token": "pat-bench"},
                "api_base_url": url,
                "rate_limit_per_10s": 190,
                "streams": [{"stream": "contacts", "object": "contacts", "operation": "upsert"}],
            },
            "contacts",
            int(40_000 * scale),
            lambda i: {"email": f"bench-{i}@example.com", "firstname": f"First{i}", "lastname": "Bench"},
            1_900.0,
            "records",
            "/batch/upsert",
        ),
        Scenario(
            "webhook",
            "destination-webhook",
            "tests.fakes.webhook.WebhookReceiver",
            {},
            0.2,
            None,
            lambda url: {"url": f"{url}/hooks", "batch_size": 100, "max_concurrency": 4},
            "users",
            int(20_000 * scale),
            lambda i: {"id": i, "email": f"user-{i}@example.com", "plan": "pro"},
            2_000.0,
            "records",
            "/hooks",
        ),
        Scenario(
            "customerio",
            "destination-customerio",
            "tests.fakes.customerio.CustomerIoFake",
            {},
            0.05,
            (20, 1.0),
            lambda url: {
                "site_id": SITE_ID,
                "api_key": API_KEY,
                "api_base_url": url,
                "requests_per_second": 20,
                "streams": [{"stream": "users", "object": "person", "fields": {"user_id": "id"}}],
            },
            "users",
            int(60_000 * scale),
            lambda i: {"user_id": f"u{i}", "plan": "pro", "seats": i % 50},
            20.0,
            "requests",
            "/api/v2/batch",
        ),
        Scenario(
            "clarify",
            "destination-clarify",
            "tests.fakes.clarify.ClarifyFake",
            {},
            0.05,
            (10, 1.0),
            lambda url: {
                "workspace_slug": "acme",
                "api_key": "clarify-key-good",
                "api_base_url": url,
                "requests_per_second": 10,
                "max_concurrency": 4,
                "streams": [{"stream": "people", "object": "person", "fields": {"email": "email_addresses"}}],
            },
            "people",
            int(7_500 * scale),
            lambda i: {"email": f"p{i}@example.com", "title": f"Person {i}"},
            10.0,
            "requests",
            "/records/bulk",
        ),
    ]


ROUNDS = 3  # each scenario's figure is the median of this many runs: one run can catch the machine busy


def main(quick: bool = False) -> list[Figure]:
    figures = []
    rounds = 1 if quick else ROUNDS
    print("each destination's console script, start-up included, against its fake API in a child process;")
    print(f"the median of {rounds} run(s) per scenario, every run shown")
    header = f"{'scenario':<11} {'amount':>9} {'seconds':>8} {'achieved':>12} {'ceiling':>12} {'share':>7}"
    print(f"{header} {'429s':>5}", flush=True)
    for scenario in scenarios(quick):
        unit = "rec/s" if scenario.unit == "records" else "req/s"
        results = []
        for _ in range(rounds):
            result = run(scenario)
            results.append(result)
            amount = scenario.records if scenario.unit == "records" else result.requests
            print(
                f"{scenario.name:<11} {amount:>9,} {result.seconds:>8.2f} {result.achieved:>8,.0f} {unit}"
                f" {scenario.ceiling:>6,.0f} {unit} {result.share:>6.1%} {result.throttled:>5}",
                flush=True,
            )
        median = sorted(results, key=lambda result: result.achieved)[len(results) // 2]
        throttled = sum(result.throttled for result in results)
        print(f"{scenario.name:<11} median {median.share:.1%} of the ceiling; 429s in all runs: {throttled}")
        figures.append(
            Figure(
                "destinations end to end at the API's ceiling",
                scenario.name,
                median.achieved,
                scenario.ceiling,
                "ceiling",
                "records/s" if scenario.unit == "records" else "requests/s",
            )
        )
    return figures
