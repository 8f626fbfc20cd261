"""A fake API served from a child process, so the destination under test and the fake never share a GIL."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

from tests.fakes.server import Request


def status_and_path(request: Request) -> tuple[int, str]:
    """The default summary of a request in ``FakeProcess.log``."""
    return request.status or 0, request.path


def _load(dotted: str) -> Any:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _serve(
    conn: Connection,
    fake_path: str,
    options: dict[str, Any],
    latency: float,
    limit: tuple[int, float] | None,
    summary_path: str,
) -> None:
    """Child process: build and start the fake, then answer "log" with each request's summary."""
    # The fake keeps every record it is sent; the collector's full passes over them grow to tens of
    # milliseconds late in a run and delay when the fake counts an arrival, which a vendor's edge would
    # count on time: a fake artefact that would turn into 429s the destination did not cause.
    gc.disable()
    fake = _load(fake_path)(**options)
    summarise = _load(summary_path)
    fake.latency = latency
    if limit is not None:
        fake.throttle(*limit)
    fake.start()
    conn.send(fake.url)
    try:
        while (command := conn.recv()) != "stop":
            if command == "log":
                conn.send([summarise(request) for request in fake.requests])
            elif command == "reset":
                fake.reset()
                conn.send(None)
    finally:
        fake.stop()


class FakeProcess:
    """A fake (``module.Class`` and its options) served from a child process; ``log()`` summarises
    each request it received with the function named by ``summary`` (``module.function``)."""

    def __init__(
        self,
        fake_path: str,
        options: dict[str, Any],
        latency: float = 0.0,
        limit: tuple[int, float] | None = None,
        summary: str = f"{__name__}.status_and_path",
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        arguments = (child, fake_path, options, latency, limit, summary)
        self._process = context.Process(target=_serve, args=arguments, daemon=True)
        self.url = ""

    def __enter__(self) -> Self:
        self._process.start()
        self.url = self._conn.recv()
        return self

    def reset(self) -> None:
        """Forget the requests received so far (``FakeServer.reset``)."""
        self._conn.send("reset")
        self._conn.recv()

    def log(self) -> list[Any]:
        self._conn.send("log")
        answer: list[Any] = self._conn.recv()
        return answer

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
