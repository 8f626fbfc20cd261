"""A webhook receiver with an independent Standard Webhooks 1.0 verifier.

The verifier is written from the spec with hmac/hashlib/base64 only, so it checks the
connector's signer instead of agreeing with it by construction.

Run in the foreground: `python -m tests.fakes.webhook [--port 8101] [--seed FILE] [--secret whsec_...]`
(`--help` for the rest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from requests.structures import CaseInsensitiveDict

from tests.fakes import cli
from tests.fakes.server import FakeServer, Reply, Request

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
DEFAULT_TOLERANCE = 300.0
DEFAULT_PORT = 8101  # `python -m tests.fakes.webhook` and examples/webhook.json
SEED_SHAPE = '{"records": [{...}, ...]}: records the receiver holds as if it had received them'


@dataclass
class Delivery:
    """One accepted (and, with dedupe, first-seen) webhook body."""

    request: Request
    webhook_id: str | None
    body: bytes
    parsed: Any  # dict, list (array or NDJSON lines) or None (empty / non-JSON body)

    @property
    def records(self) -> list[Any]:
        return records_of(self.parsed)


def records_of(parsed: Any) -> list[Any]:
    """Flatten a parsed body into records: an object is one record, an array/NDJSON is one per
    item, and an envelope `{"stream", "records": [...], "count"}` contributes its records."""
    if parsed is None:
        return []
    if isinstance(parsed, list):
        return [record for item in parsed for record in records_of(item)]
    if isinstance(parsed, dict) and isinstance(parsed.get("records"), list):
        return list(parsed["records"])
    return [parsed]


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str | None:
    """Check Standard Webhooks headers; return the reason for rejection, or None if valid.

    `headers` must be case-insensitive (e.g. `Request.headers`). Any `v1,<sig>` entry in the
    space-separated `webhook-signature` header may match, which is how key rotation works.
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    try:
        sent_at = int(timestamp)
    except ValueError:
        return f"invalid webhook-timestamp {timestamp!r}"
    age = (time.time() if now is None else now) - sent_at
    if age > tolerance:
        return f"timestamp too old ({age:.0f}s)"
    if age < -tolerance:
        return f"timestamp too new ({-age:.0f}s in the future)"
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        return "receiver secret is not valid base64"
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return None
    return "no matching v1 signature"


class WebhookReceiver(FakeServer):
    """Accepts POST/PUT/PATCH on any path and keeps what it receives.

    `secret` (whsec_...) turns on signature verification (401 + reason on failure);
    `dedupe=True` answers a repeated `webhook-id` (or, with `dedupe_header="Idempotency-Key"`, a
    repeated value of that header) with 200 without storing it again, so `deliveries` holds unique
    accepted bodies while `requests` holds every attempt;
    `max_body_bytes` answers 413 to larger bodies, as a proxy or framework body limit does.
    """

    def __init__(
        self,
        port: int = 0,
        secret: str | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        dedupe: bool = False,
        on_delivery: Callable[[Delivery], None] | None = None,
        on_reject: Callable[[Request, str], None] | None = None,
        max_body_bytes: int | None = None,
        dedupe_header: str = "webhook-id",
    ) -> None:
        super().__init__(port)
        self.max_body_bytes = max_body_bytes
        self.dedupe_header = dedupe_header
        self.secret = secret
        self.tolerance = tolerance
        self.dedupe = dedupe
        self.on_delivery = on_delivery
        self.on_reject = on_reject
        self._deliveries: list[Delivery] = []
        self._seen_ids: set[str] = set()
        for method in ("POST", "PUT", "PATCH"):
            self.route(method, r".*", self._receive)
        # A probe-friendly receiver: HEAD and OPTIONS answer 200 with the methods it takes (a test
        # routes them otherwise to play receivers built on frameworks that answer them 404 or 405).
        for method in ("HEAD", "OPTIONS"):
            self.route(
                method, r".*", lambda request: (200, None, {"Allow": "POST, PUT, PATCH, HEAD, OPTIONS"})
            )

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def received_records(self) -> list[Any]:
        """All records across stored bodies, in arrival order."""
        return [record for delivery in self.deliveries for record in delivery.records]

    def load_seed(self, seed: Mapping[str, Any]) -> None:
        """Start with records as if received earlier, in one delivery (`SEED_SHAPE`)."""
        records = seed.get("records", [])
        if not isinstance(records, list):
            raise ValueError('"records" must be a list')
        body = json.dumps(records).encode()
        request = Request("SEED", "/", {}, {}, CaseInsensitiveDict(), body, status=200, applied=True)
        with self._lock:
            self._deliveries.append(Delivery(request, None, body, records))

    def contents(self) -> dict[str, Any]:
        """Every record received (seeded ones first), in the seed's shape."""
        return {"records": self.received_records()}

    def reset(self) -> None:
        """Also forget deliveries and seen ids; configuration (secret, dedupe) is kept."""
        super().reset()
        with self._lock:
            self._deliveries.clear()
            self._seen_ids.clear()

    def refuse_with_echo(self, status: int, header: str = "Authorization", at: int = 270) -> None:
        """Answer every request, of any method, with ``status`` and a text body echoing the request's
        ``header`` from character ``at`` on (then every header and the body), as some frameworks'
        error pages do: a credential placed where messages cut their excerpts of a body."""

        def echo(req: Request) -> Reply:
            headers = "; ".join(f"{name}: {value}" for name, value in req.headers.items())
            return status, f"{'.' * at}{req.headers.get(header)} refused; {headers}; body: {req.text}"

        self.route("*", r".*", echo)

    def _reject(self, req: Request, status: int, reason: str) -> Reply:
        if self.on_reject is not None:
            self.on_reject(req, reason)
        return status, {"error": "rejected", "reason": reason}

    def _receive(self, req: Request) -> Reply:
        if self.max_body_bytes is not None and len(req.body) > self.max_body_bytes:
            return self._reject(
                req, 413, f"body of {len(req.body)} bytes; the limit is {self.max_body_bytes}"
            )
        if self.secret is not None:
            reason = verify_signature(self.secret, req.headers, req.body, self.tolerance)
            if reason is not None:
                return self._reject(req, 401, reason)
        try:
            parsed = _parse(req)
        except ValueError as exc:
            return self._reject(req, 400, f"invalid JSON body: {exc}")
        webhook_id = req.headers.get("webhook-id")
        delivery = Delivery(req, webhook_id, req.body, parsed)
        seen = req.headers.get(self.dedupe_header)
        with self._lock:
            if self.dedupe and seen is not None and seen in self._seen_ids:
                return 200, {"status": "duplicate", self.dedupe_header: seen}
            if seen is not None:
                self._seen_ids.add(seen)
            self._deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return 200, {"status": "ok"}


def _parse(req: Request) -> Any:
    """Parse by content type: NDJSON into a list of lines, otherwise try JSON.

    A body that claims to be JSON but is not raises ValueError (the receiver answers 400);
    other content types that are not JSON are stored raw with `parsed=None`."""
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in NDJSON_TYPES:
        return [json.loads(line) for line in req.text.splitlines() if line.strip()]
    if not req.body.strip():
        return None
    try:
        return json.loads(req.body)
    except ValueError:
        if "json" in content_type:
            raise
        return None


def _compact(delivery: Delivery) -> str:
    if delivery.parsed is None:
        return delivery.request.text
    return json.dumps(delivery.parsed, separators=(",", ":"), ensure_ascii=False, default=str)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground and print one compact line per received body."""
    parser = cli.parser(
        "webhook", DEFAULT_PORT, "A webhook receiver that keeps and prints what it receives.", SEED_SHAPE
    )
    parser.add_argument("--secret", help="whsec_... to verify Standard Webhooks signatures")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="seconds")
    parser.add_argument("--dedupe", action="store_true", help="ignore repeated webhook-id")
    args = parser.parse_args(argv)

    printing = threading.Lock()  # the server's handler threads print concurrently: one whole line each

    def show(delivery: Delivery) -> None:
        req = delivery.request
        line = f"{req.method} {req.path} {_compact(delivery)}"
        with printing:
            print(line, flush=True)

    def rejected(req: Request, reason: str) -> None:
        with printing:
            print(f"REJECTED {req.method} {req.path}: {reason}", file=sys.stderr, flush=True)

    receiver = WebhookReceiver(
        args.port, args.secret, args.tolerance, args.dedupe, on_delivery=show, on_reject=rejected
    )
    checks = "verifying signatures" if args.secret else "no signature check"
    return cli.serve(receiver, parser, args, "Webhook receiver", checks)


if __name__ == "__main__":
    sys.exit(main())
