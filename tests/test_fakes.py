"""Behaviour of the fake-server framework, exercised over real sockets with `requests`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.fakes.server import FakeServer, RateLimitInfo, Request
from tests.fakes.webhook import WebhookReceiver

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


class ItemsApi(FakeServer):
    """A minimal vendor fake, the way connector suites are expected to subclass FakeServer."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Any] = {}
        self.route("GET", r"/items/(?P<item_id>\w+)", self.get_item)
        self.route("POST", r"/items", self.create_item)
        self.route("GET", r"/boom", self.boom)

    def get_item(self, req: Request) -> tuple[int, Any]:
        item = self.items.get(req.path_params["item_id"])
        return (200, item) if item is not None else (404, {"error": "missing"})

    def create_item(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        item = req.json()
        self.items[item["id"]] = item
        return 201, item, {"X-Created": item["id"]}

    def boom(self, req: Request) -> tuple[int, Any]:
        raise RuntimeError("kaboom")


@pytest.fixture
def api() -> Iterator[ItemsApi]:
    with ItemsApi() as server:
        yield server


def sign(msg_id: str, timestamp: int, body: bytes, key: bytes = KEY) -> str:
    """Standard Webhooks v1 signature, computed here independently of the receiver."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(msg_id, ts, body),
        "Content-Type": "application/json",
    }


# -- routing and recording -------------------------------------------------------------------


def test_routes_record_requests_and_reuse_connections(api: ItemsApi) -> None:
    with requests.Session() as s:
        created = s.post(f"{api.url}/items?dry=0&tag=a&tag=b", json={"id": "x1", "n": 1})
        got = s.get(f"{api.url}/items/x1", headers={"X-Trace": "t-1"})
        missing = s.get(f"{api.url}/items/nope")
    assert (created.status_code, created.headers["X-Created"], created.json()) == (
        201,
        "x1",
        {"id": "x1", "n": 1},
    )
    assert (got.status_code, got.json()) == (200, {"id": "x1", "n": 1})
    assert missing.status_code == 404
    assert api.connections == 1  # HTTP/1.1 keep-alive: one pooled connection served all three

    post, get, _ = api.requests
    assert (post.method, post.path, post.status) == ("POST", "/items", 201)
    assert post.query == {"dry": "0", "tag": "a"} and post.query_all["tag"] == ["a", "b"]
    assert post.json() == {"id": "x1", "n": 1} and post.headers["content-type"] == "application/json"
    assert get.headers["x-trace"] == get.headers["X-TRACE"] == "t-1"
    assert get.path_params == {"item_id": "x1"} and get.timestamp >= post.timestamp
    assert [r.path for r in api.requests_matching("GET", r"/items/.*")] == ["/items/x1", "/items/nope"]

    api.reset()
    assert api.requests == []


def test_unknown_route_is_404_json_and_handler_error_is_500(api: ItemsApi) -> None:
    unknown = requests.delete(f"{api.url}/nowhere")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    boom = requests.get(f"{api.url}/boom")
    assert boom.status_code == 500 and "kaboom" in boom.json()["message"]
    assert [(r.status, r.error) for r in api.requests] == [(404, None), (500, "RuntimeError: kaboom")]


def test_decorator_route_overrides_and_content_length_always_sent(fake_server: FakeServer) -> None:
    @fake_server.on("*", r"/body/(?P<kind>\w+)")
    def body(req: Request) -> tuple[int, Any, dict[str, str]]:
        kinds: dict[str, Any] = {"text": "hé", "bytes": b"\x00\x01", "none": None, "list": [1]}
        return 200, kinds[req.path_params["kind"]], {"Content-Length": "999"}

    conn = http.client.HTTPConnection("127.0.0.1", fake_server.port, timeout=5)
    for kind, expected in [("text", "hé".encode()), ("bytes", b"\x00\x01"), ("none", b""), ("list", b"[1]")]:
        conn.request("PATCH", f"/body/{kind}")
        resp = conn.getresponse()
        assert resp.read() == expected
        assert resp.getheader("Content-Length") == str(len(expected))
    conn.request("HEAD", "/body/list")
    head = conn.getresponse()
    assert head.getheader("Content-Length") == "3" and head.read() == b""
    conn.close()

    fake_server.route("PATCH", r"/body/text", lambda req: (202, "override"))
    assert requests.patch(f"{fake_server.url}/body/text").text == "override"


def test_chunked_request_body_is_read(fake_server: FakeServer) -> None:
    fake_server.route("POST", r"/up", lambda req: (200, {"len": len(req.body)}))
    resp = requests.post(f"{fake_server.url}/up", data=iter([b"abc", b"defg"]))
    assert resp.json() == {"len": 7}
    assert fake_server.requests[0].body == b"abcdefg"


# -- switches --------------------------------------------------------------------------------


def test_latency_is_added_to_every_response(api: ItemsApi) -> None:
    api.latency = 0.2
    start = time.monotonic()
    assert requests.get(f"{api.url}/items/x").status_code == 404
    assert time.monotonic() - start >= 0.2
    assert api.requests[0].status == 404


def test_latency_runs_from_the_request_line_so_a_slow_upload_is_part_of_it(api: ItemsApi) -> None:
    """An API's latency is what its clients see: a body that takes a second to arrive, at a latency of
    a second, is answered about a second after the request began, not two."""
    api.latency = 1.0
    body = b'{"name": "slow"}'
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        start = time.monotonic()
        sock.sendall(b"POST /items HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(1.0)
        sock.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        answer = sock.recv(65536)
        elapsed = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 ")
    assert 1.0 <= elapsed < 1.6


def test_rate_limit_answers_429_then_recovers_after_window(api: ItemsApi) -> None:
    api.rate_limit(3, per_seconds=1.0)  # generous window: the first four requests must fit in it
    with requests.Session() as s:
        statuses = [s.get(f"{api.url}/items/x").status_code for _ in range(3)]
        limited = s.get(f"{api.url}/items/x")
        assert statuses == [404, 404, 404]
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json()["error"] == "rate_limited"
        assert api.requests[-1].fault == "rate_limit" and api.requests[-1].status == 429
        time.sleep(1.05)
        assert s.get(f"{api.url}/items/x").status_code == 404
    api.rate_limit(None)
    assert all(requests.get(f"{api.url}/items/x").status_code == 404 for _ in range(5))


def test_rate_limit_custom_response_and_headers_on_every_response(api: ItemsApi) -> None:
    seen: list[RateLimitInfo] = []

    def hubspot_headers(info: RateLimitInfo) -> dict[str, str]:
        seen.append(info)
        return {
            "X-HubSpot-RateLimit-Max": str(info.limit),
            "X-HubSpot-RateLimit-Remaining": str(info.remaining),
        }

    api.rate_limit(
        2,
        10,
        status=503,
        body={"category": "RATE_LIMITS"},
        headers={"Retry-After": "7"},
        headers_fn=hubspot_headers,
    )
    responses = [requests.get(f"{api.url}/items/x") for _ in range(3)]
    assert [r.status_code for r in responses] == [404, 404, 503]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert responses[0].headers["X-HubSpot-RateLimit-Max"] == "2"
    assert responses[2].json() == {"category": "RATE_LIMITS"} and responses[2].headers["Retry-After"] == "7"
    assert [i.limited for i in seen] == [False, False, True]


def test_injected_faults_then_normal_again(api: ItemsApi) -> None:
    api.inject(status=503, times=2, headers={"Retry-After": "0"})
    api.inject(status=400, body={"message": "only /boom"}, path_regex=r"/boom")
    statuses = [requests.get(f"{api.url}/items/x").status_code for _ in range(3)]
    assert statuses == [503, 503, 404]
    bad = requests.get(f"{api.url}/boom")
    assert bad.status_code == 400 and bad.json() == {"message": "only /boom"}
    assert [r.fault for r in api.requests] == ["inject", "inject", None, "inject"]


def test_timeout_injection_triggers_client_timeout(api: ItemsApi) -> None:
    api.inject_timeout(2.0)
    with pytest.raises(requests.Timeout):
        requests.get(f"{api.url}/items/x", timeout=0.2)
    assert requests.get(f"{api.url}/items/x", timeout=2).status_code == 404
    assert api.requests[0].fault == "timeout"


def test_reset_injection_raises_connection_error(api: ItemsApi) -> None:
    api.inject_reset()
    with requests.Session() as s:
        with pytest.raises(requests.ConnectionError):
            s.post(f"{api.url}/items", json={"id": "r"})
        assert s.get(f"{api.url}/items/x").status_code == 404
    first = api.requests[0]
    assert (first.fault, first.status, first.json()) == ("reset", None, {"id": "r"})


def test_switches_are_safe_under_concurrent_clients(api: ItemsApi) -> None:
    api.rate_limit(10, per_seconds=60)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as s:
            for _ in range(5):
                code = s.get(f"{api.url}/items/x").status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [404] * 10 + [429] * 10
    assert len(api.wait_for_requests(20, timeout=1)) == 20


# -- webhook receiver ------------------------------------------------------------------------


def post_signed(receiver: WebhookReceiver, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{receiver.url}/hook", data=body, headers=headers)


def test_receiver_accepts_correct_signature(make_webhook_receiver: Callable[..., WebhookReceiver]) -> None:
    receiver = make_webhook_receiver(secret=SECRET)
    body = json.dumps({"id": 1, "email": "a@example.com"}).encode()
    resp = post_signed(receiver, body, signed_headers("msg_1", body))
    assert resp.status_code == 200
    assert receiver.received_records() == [{"id": 1, "email": "a@example.com"}]
    assert receiver.deliveries[0].webhook_id == "msg_1"


def test_receiver_rejects_bad_signatures(make_webhook_receiver: Callable[..., WebhookReceiver]) -> None:
    receiver = make_webhook_receiver(secret=SECRET)
    body = b'{"id": 1}'
    wrong = signed_headers("msg_1", body)
    wrong["webhook-signature"] = sign("msg_1", int(wrong["webhook-timestamp"]), body, key=b"other-key")
    tampered = signed_headers("msg_1", b'{"id": 2}')
    stale = signed_headers("msg_1", body, timestamp=int(time.time()) - 400)  # margins survive a slow run
    future = signed_headers("msg_1", body, timestamp=int(time.time()) + 400)

    cases = [
        (wrong, "no matching"),
        (tampered, "no matching"),
        (stale, "too old"),
        (future, "too new"),
        ({"Content-Type": "application/json"}, "missing"),
    ]
    for headers, reason in cases:
        resp = post_signed(receiver, body, headers)
        assert resp.status_code == 401 and reason in resp.json()["reason"]
    assert receiver.deliveries == [] and len(receiver.requests) == 5


def test_receiver_accepts_rotated_signature_list(
    make_webhook_receiver: Callable[..., WebhookReceiver],
) -> None:
    receiver = make_webhook_receiver(secret=SECRET)
    body = b'[{"id": 1}, {"id": 2}]'
    headers = signed_headers("msg_2", body)
    old = sign("msg_2", int(headers["webhook-timestamp"]), body, key=b"previous-key")
    headers["webhook-signature"] = f"{old} v1a,ignored {headers['webhook-signature']}"
    assert post_signed(receiver, body, headers).status_code == 200
    assert receiver.received_records() == [{"id": 1}, {"id": 2}]


def test_receiver_tolerance_is_configurable(make_webhook_receiver: Callable[..., WebhookReceiver]) -> None:
    receiver = make_webhook_receiver(secret=SECRET, tolerance=10)
    body = b"{}"
    assert post_signed(receiver, body, signed_headers("a", body, int(time.time()) - 60)).status_code == 401
    assert post_signed(receiver, body, signed_headers("b", body, int(time.time()) - 5)).status_code == 200


def test_receiver_dedupes_by_webhook_id(make_webhook_receiver: Callable[..., WebhookReceiver]) -> None:
    receiver = make_webhook_receiver(dedupe=True)
    for msg_id, n in [("m1", 1), ("m1", 1), ("m2", 2)]:
        resp = requests.post(f"{receiver.url}/hook", json={"n": n}, headers={"webhook-id": msg_id})
        assert resp.status_code == 200
    assert [d.webhook_id for d in receiver.deliveries] == ["m1", "m2"]
    assert len(receiver.requests) == 3 and receiver.received_records() == [{"n": 1}, {"n": 2}]


def test_receiver_parses_ndjson_array_and_envelope(webhook_receiver: WebhookReceiver) -> None:
    url = f"{webhook_receiver.url}/ingest"
    ndjson = b'{"id": 1}\n{"id": 2}\n\n'
    assert requests.post(url, data=ndjson, headers={"Content-Type": "application/x-ndjson"}).ok
    assert requests.put(url, json=[{"id": 3}, {"id": 4}]).ok
    assert requests.patch(url, json={"stream": "users", "records": [{"id": 5}], "count": 1}).ok
    assert requests.post(url, json={"id": 6}).ok
    assert requests.post(url, data=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert requests.get(url).status_code == 404

    first = webhook_receiver.deliveries[0]
    assert (first.parsed, first.body) == ([{"id": 1}, {"id": 2}], ndjson)
    assert [r["id"] for r in webhook_receiver.received_records()] == [1, 2, 3, 4, 5, 6]
    webhook_receiver.reset()
    assert webhook_receiver.deliveries == [] and webhook_receiver.received_records() == []
