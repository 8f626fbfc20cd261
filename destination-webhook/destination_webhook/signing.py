"""Standard Webhooks 1.0 signatures: webhook-id, webhook-timestamp, webhook-signature.

Hand-written because the reference ``standardwebhooks`` package is not on our dependency list and
the scheme is three lines of HMAC; the receiver fake checks it with an independent implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key a ``whsec_<base64>`` secret (or its bare base64) stands for; ValueError when it is neither."""
    key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)  # binascii.Error is a ValueError
    if not key:
        raise ValueError("empty key")
    return key


def message_id(sync: str, stream: str, url: str, lines: Iterable[int]) -> str:
    """Standard Webhooks' webhook-id: unique for each message, the same on every retry of it.

    A message is its sync, its stream, its URL and where its records stand in the sync (their input
    lines): two messages differ in one of those even when their bodies are equal (a value that returns
    to an earlier one in a later sync, two records with the same body sent to different URLs), and a
    retry of a message resends exactly the same records.
    """
    position = ",".join(str(line) for line in lines)
    return "msg_" + hashlib.sha256(f"{sync}\n{stream}\n{url}\n{position}".encode()).hexdigest()[:32]


def content_key(stream: str, url: str, body: bytes) -> str:
    """An Idempotency-Key derived from the content alone: a resumed sync that resends the same body gets
    the same key (and a receiver that dedupes by it drops the replay — and also a value that comes back
    to an earlier one with the very same body)."""
    return "content_" + hashlib.sha256(stream.encode() + b"\n" + url.encode() + b"\n" + body).hexdigest()[:32]


class Signer:
    def __init__(self, secrets: list[str], clock: Callable[[], float] = time.time) -> None:
        self.keys = [decode_secret(s) for s in secrets]
        self.clock = clock

    def headers(self, webhook_id: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self.clock()))
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        signatures = " ".join(
            "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            for key in self.keys
        )
        return {"webhook-timestamp": timestamp, "webhook-signature": signatures}
