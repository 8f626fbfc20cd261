"""Standard Webhooks 1.0 signatures: webhook-id, webhook-timestamp, webhook-signature.

Hand-written because the reference ``standardwebhooks`` package is not on our dependency list and
the scheme is three lines of HMAC; the receiver fake checks it with an independent implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key a ``whsec_<base64>`` secret (or its bare base64) stands for; ValueError when it is neither."""
    key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)  # binascii.Error is a ValueError
    if not key:
        raise ValueError("empty key")
    return key


def message_id(stream: str, body: bytes) -> str:
    """The same batch content always gets the same id: retries and replayed syncs dedupe at the receiver."""
    return "msg_" + hashlib.sha256(stream.encode() + b"\n" + body).hexdigest()[:32]


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
