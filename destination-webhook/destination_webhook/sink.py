"""Posts a batch of mapped records: one JSON object for batch size 1, else a JSON array."""

from __future__ import annotations

import orjson
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Sink, Target

from destination_webhook.client import WebhookClient


class EndpointSink(Sink):
    requires_match_key = False  # a webhook takes whatever it is sent; a key only deduplicates

    def __init__(self, target: Target, client: WebhookClient, batch_size: int, max_body_bytes: int) -> None:
        super().__init__(target)
        self.client = client
        self.single = batch_size == 1
        self.limits = BatchLimits(
            max_records=batch_size, max_bytes=max_body_bytes - 2, max_record_bytes=max_body_bytes
        )

    def send(self, batch: list[Record]) -> list[Outcome]:
        payload = batch[0].data if self.single else [record.data for record in batch]
        response = self.client.deliver(orjson.dumps(payload))
        if response.ok:
            return [ACCEPTED] * len(batch)
        return [Outcome.rejected(self.client.describe(response))] * len(batch)
