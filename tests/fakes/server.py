"""A tiny framework for fake vendor APIs served over real HTTP on 127.0.0.1.

Connectors are tested against real sockets (not mocked sessions) so that pooling, timeouts,
retries and connection errors behave exactly as they do in production. Subclasses register
routes; tests flip switches (latency, rate limit, injected faults) at runtime.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

HOST = "127.0.0.1"

Body = dict[str, Any] | list[Any] | bytes | str | None
Reply = tuple[int, Body] | tuple[int, Body, Mapping[str, str]]
Handler = Callable[["Request"], Reply]


@dataclass
class Request:
    """One received request; also the record kept in `FakeServer.requests`.

    `status` is the status sent back (None when the connection was reset), `fault` names the
    switch that shaped the answer ("inject", "rate_limit", "timeout", "reset", and for faults that
    hit after the request was applied "inject_after", "reset_after") and `error` holds a handler
    exception message. `applied` says whether the request reached its handler (was processed).
    """

    method: str
    path: str
    query: dict[str, str]
    query_all: dict[str, list[str]]
    headers: CaseInsensitiveDict[str]
    body: bytes
    timestamp: float = field(default_factory=time.time)
    path_params: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    fault: str | None = None
    error: str | None = None
    applied: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class RateLimitInfo:
    """Window state handed to a rate-limit header callback (e.g. X-HubSpot-RateLimit-*)."""

    limit: int
    window: float
    remaining: int
    reset_after: float
    limited: bool


RateLimitHeaders = Callable[[RateLimitInfo], Mapping[str, str]]


@dataclass
class _RateLimit:
    max_requests: int
    per_seconds: float
    status: int
    body: Body
    headers: Mapping[str, str]
    headers_fn: RateLimitHeaders | None
    hits: deque[float] = field(default_factory=deque)

    def check(self, now: float, consume: bool = True) -> RateLimitInfo:
        """Sliding window log: only accepted requests count, so a throttled client can recover.
        `consume=False` only reports the state (used for responses shaped by injected faults)."""
        while self.hits and self.hits[0] <= now - self.per_seconds:
            self.hits.popleft()
        limited = consume and len(self.hits) >= self.max_requests
        if consume and not limited:
            self.hits.append(now)
        reset_after = self.hits[0] + self.per_seconds - now if self.hits else 0.0
        return RateLimitInfo(
            self.max_requests, self.per_seconds, self.max_requests - len(self.hits), reset_after, limited
        )


@dataclass
class _Fault:
    kind: str  # "inject" | "timeout" | "reset"
    times: int
    path: re.Pattern[str] | None
    status: int = 500
    body: Body = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_apply: bool = False  # handle the request normally first: the answer is lost, the write is not


@dataclass
class _Chaos:
    """Faults at random: each request draws one of them (or none) with the given probabilities."""

    path: re.Pattern[str] | None
    rng: random.Random
    rate_limited: float  # 429 with Retry-After 0..1 s, never applied
    server_error: float  # 500/502/503, applied first in `after_apply` of cases
    reset: float  # connection reset, applied first in `after_apply` of cases
    after_apply: float
    retry_after: str = "0"

    def draw(self) -> _Fault | None:
        roll = self.rng.random()
        if roll < self.rate_limited:
            headers = {"Retry-After": self.retry_after}
            body = {"status": "error", "message": "chaos: too many requests", "errorType": "RATE_LIMIT"}
            return _Fault("inject", 1, None, 429, body, headers)
        roll -= self.rate_limited
        after = self.rng.random() < self.after_apply
        if roll < self.server_error:
            status = self.rng.choice((500, 502, 503))
            return _Fault("inject", 1, None, status, {"error": "chaos", "status": status}, after_apply=after)
        roll -= self.server_error
        if roll < self.reset:
            return _Fault("reset", 1, None, after_apply=after)
        return None


@dataclass
class _Route:
    method: str
    path: re.Pattern[str]
    handler: Handler


class FakeServer:
    """Base class for fake HTTP APIs; register routes in `__init__` or via `route()`/`on()`.

    All switches and records are guarded by one lock, so tests may change them while a
    connector is talking to the server from other threads.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.tls: ssl.SSLContext | None = None  # set before start() to serve HTTPS (tests/fakes/tls.py)
        # Seconds from a request's arrival (its request line) to its answer; float assignment is atomic.
        self.latency: float = 0.0
        self.connections = 0  # TCP connections accepted; shows whether clients reuse connections
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._routes: list[_Route] = []
        self._requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._rate_limit: _RateLimit | None = None
        self._chaos: _Chaos | None = None
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind (port 0 = ephemeral) and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _HTTPServer((HOST, self.port), _RequestHandler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections so no handler thread lingers."""
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping for latency/timeout faults
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- routing --------------------------------------------------------------------------
    def route(self, method: str, path_regex: str, handler: Handler) -> None:
        """Register a handler; `path_regex` must match the whole path, named groups become
        `request.path_params`. Later registrations win, so a test can override a subclass route.
        `method` may be "*" for any method."""
        with self._lock:
            self._routes.append(_Route(method.upper(), re.compile(path_regex), handler))

    def on(self, method: str, path_regex: str) -> Callable[[Handler], Handler]:
        """Decorator form of `route()`."""

        def register(handler: Handler) -> Handler:
            self.route(method, path_regex, handler)
            return handler

        return register

    # -- records --------------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        """Snapshot of all requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_matching(self, method: str | None = None, path_regex: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_regex is None or re.fullmatch(path_regex, r.path))
        ]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Request]:
        """Block until `count` requests have been answered; for clients running in other threads."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (
                sum(r.status is not None or r.fault in ("reset", "reset_after") for r in self._requests)
                < count
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"got {len(self._requests)} of {count} requests")
                self._changed.wait(remaining)
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget recorded requests and turn every switch off (latency, rate limit, faults)."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._rate_limit = None
            self._chaos = None
            self.latency = 0.0

    # -- switches -------------------------------------------------------------------------
    def rate_limit(
        self,
        max_requests: int | None,
        per_seconds: float = 1.0,
        status: int = 429,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        headers_fn: RateLimitHeaders | None = None,
    ) -> None:
        """Allow `max_requests` per sliding `per_seconds` window; `None` switches it off.

        Over the limit the server answers `status` with a `Retry-After` header (overridable via
        `headers`). `headers_fn` adds headers computed from the window state to every response.
        """
        with self._lock:
            if max_requests is None:
                self._rate_limit = None
                return
            if body is None:
                body = {"error": "rate_limited", "message": "Too many requests"}
            self._rate_limit = _RateLimit(max_requests, per_seconds, status, body, headers or {}, headers_fn)

    def inject(
        self,
        status: int = 500,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        path_regex: str | None = None,
        after_apply: bool = False,
    ) -> None:
        """Answer the next `times` requests (optionally only those whose path matches) with
        this response instead of normal handling. Faults are consumed in the order queued.
        With `after_apply` the request is handled normally first (the write happens) and only the
        answer is replaced: the client sees a failure for a request that took effect."""
        if body is None:
            body = {"error": "injected", "status": status}
        fault = _Fault(
            "inject", times, _compile(path_regex), status, body, headers or {}, after_apply=after_apply
        )
        self._queue(fault)

    def inject_timeout(self, seconds: float, times: int = 1, path_regex: str | None = None) -> None:
        """Sleep `seconds` before answering normally, to make clients hit their read timeout."""
        self._queue(_Fault("timeout", times, _compile(path_regex), seconds=seconds))

    def inject_reset(self, times: int = 1, path_regex: str | None = None, after_apply: bool = False) -> None:
        """Read the request, then close the connection (RST) without sending any response; with
        `after_apply` the request is handled (the write happens) before the reset: a lost response."""
        self._queue(_Fault("reset", times, _compile(path_regex), after_apply=after_apply))

    def chaos(
        self,
        *,
        rate_limited: float = 0.0,
        server_error: float = 0.0,
        reset: float = 0.0,
        after_apply: float = 0.5,
        path_regex: str | None = None,
        seed: int = 0,
        retry_after: str = "0",
    ) -> None:
        """Faults at random on every matching request (after any queued ones): 429s (never applied),
        5xx and connection resets, a share `after_apply` of which hit after the request took effect.
        Seeded, so a failing run can be replayed; `chaos()` with no rates switches it off."""
        rates = (rate_limited, server_error, reset)
        with self._lock:
            self._chaos = (
                _Chaos(_compile(path_regex), random.Random(seed), *rates, after_apply, retry_after)
                if any(rates)
                else None
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _queue(self, fault: _Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(fault)

    # -- request handling -----------------------------------------------------------------
    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path is None or fault.path.fullmatch(path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        chaos = self._chaos
        if chaos is not None and (chaos.path is None or chaos.path.fullmatch(path)):
            return chaos.draw()
        return None

    def _handle(self, http: _RequestHandler) -> None:
        arrived = http.arrived
        req = http.read_request()
        with self._lock:
            self._requests.append(req)
            fault = self._take_fault(req.path)
            limiter = self._rate_limit
            counted = fault is None or fault.kind == "timeout" or fault.after_apply
            info = limiter.check(arrived, consume=counted) if limiter else None
        if fault is not None:
            req.fault = fault.kind + ("_after" if fault.after_apply else "")
            if fault.kind == "reset" and not fault.after_apply:
                http.reset_connection()
                self._notify()
                return
            if fault.kind == "timeout":
                self._stopping.wait(fault.seconds)

        if fault is not None and fault.kind == "inject" and not fault.after_apply:
            status, data, headers = _encode(fault.status, fault.body, fault.headers)
        elif limiter is not None and info is not None and info.limited:
            req.fault = "rate_limit"
            retry = {"Retry-After": str(max(1, math.ceil(info.reset_after)))}
            status, data, headers = _encode(limiter.status, limiter.body, {**retry, **limiter.headers})
        else:
            status, data, headers = self._route_request(req)
            req.applied = True
            if fault is not None and fault.after_apply:  # the write happened; its answer is lost
                if fault.kind == "reset":
                    self._wait_latency(arrived)
                    req.status = None
                    http.reset_connection()
                    self._notify()
                    return
                status, data, headers = _encode(fault.status, fault.body, fault.headers)
        self._wait_latency(arrived)
        if limiter is not None and info is not None and limiter.headers_fn is not None:
            headers = {**headers, **limiter.headers_fn(info)}
        req.status = status
        self._notify()
        http.send(status, data, headers)

    def _wait_latency(self, arrived: float) -> None:
        """Answer ``latency`` after the request arrived, its handling included: an API's latency is
        what its clients see, whatever this process's other threads made the handling wait for."""
        remaining = arrived + self.latency - time.monotonic()
        if remaining > 0:
            self._stopping.wait(remaining)

    def _route_request(self, req: Request) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            routes = list(reversed(self._routes))
        for route in routes:
            match = route.path.fullmatch(req.path)
            if match and route.method in ("*", req.method):
                req.path_params = {k: v for k, v in match.groupdict().items() if v is not None}
                try:
                    reply = route.handler(req)
                    return _encode(reply[0], reply[1], reply[2] if len(reply) == 3 else {})
                except Exception as exc:
                    req.error = f"{type(exc).__name__}: {exc}"
                    return _encode(500, {"error": "internal_error", "message": req.error}, {})
        return _encode(404, {"error": "not_found", "message": f"no route for {req.method} {req.path}"}, {})

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _track(self, sock: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self.connections += 1
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)


def _compile(path_regex: str | None) -> re.Pattern[str] | None:
    return re.compile(path_regex) if path_regex is not None else None


def _encode(status: int, body: Body, headers: Mapping[str, str]) -> tuple[int, bytes, dict[str, str]]:
    """Serialise a body and pick a Content-Type unless the caller set one."""
    if body is None:
        data, content_type = b"", None
    elif isinstance(body, bytes):
        data, content_type = body, "application/octet-stream"
    elif isinstance(body, str):
        data, content_type = body.encode(), "text/plain; charset=utf-8"
    else:
        data, content_type = json.dumps(body).encode(), "application/json"
    out = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
    if content_type and not any(k.lower() == "content-type" for k in out):
        out["Content-Type"] = content_type
    return status, data, out


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_RequestHandler], fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake runs here, in the connection's own thread; a client refusing the
        certificate ends only that connection."""
        if self.fake.tls is not None:
            request = self.fake.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response (timeouts, resets) and refused handshakes are expected."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reuse connections
    disable_nagle_algorithm = True  # headers and body go in two writes: without this, +40 ms each
    arrived = 0.0  # monotonic time the current request's line came in
    timeout = 30  # idle keep-alive connections are dropped eventually

    @property
    def fake(self) -> FakeServer:
        return cast(_HTTPServer, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, open_=True)

    def finish(self) -> None:
        self.fake._track(self.connection, open_=False)
        super().finish()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:
            self.close_connection = True

    def parse_request(self) -> bool:
        """Called once the request line is in: the request has arrived, and the API's latency runs from
        here, as its clients see it (parsing the headers and reading the body are part of it)."""
        self.arrived = time.monotonic()
        return super().parse_request()

    def _dispatch(self) -> None:
        self.fake._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def read_request(self) -> Request:
        split = urlsplit(self.path)
        query_all = parse_qs(split.query, keep_blank_values=True)
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return Request(
            method=self.command,
            path=split.path,
            query={k: v[0] for k, v in query_all.items()},
            query_all=query_all,
            headers=headers,
            body=self._read_body(),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, data: bytes, headers: Mapping[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:  # client already gone (e.g. it timed out)
            self.close_connection = True

    def reset_connection(self) -> None:
        """Abort with RST (SO_LINGER 0) so the client sees a reset, not a clean close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; `FakeServer.requests` is the log."""
