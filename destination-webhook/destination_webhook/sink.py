"""Sends a batch of mapped records as one or more requests (one per distinct templated URL)."""

from __future__ import annotations

from typing import Any

from destination_webhook.client import WebhookClient
from destination_webhook.config import BodyFormat
from destination_webhook.payload import PayloadTemplate, Template, body
from retl_shared.config import OnDelete
from retl_shared.errors import RequestTooLarge
from retl_shared.mapping import MappingError
from retl_shared.sink import ACCEPTED, BatchLimits, Outcome, Record, Sink, Target, encoded_size
from retl_shared.templates import TemplateFailed

ENVELOPE_OVERHEAD = 64  # {"stream":…,"records":[…],"count":…} around the records


class EndpointSink(Sink):
    requires_match_key = False  # a webhook takes whatever it is sent; a key only deduplicates
    # A diff source's rows keep `_retl_change` (payload templates can branch on it), and with
    # on_delete: delete a deleted row is sent as it is: the receiver decides what a deletion means.
    keeps_change_columns = True
    removes = frozenset({OnDelete.delete})

    def __init__(
        self,
        target: Target,
        client: WebhookClient,
        url: str,
        payload_template: str | None,
        body_format: BodyFormat,
        batch_size: int,
        max_body_bytes: int,
    ) -> None:
        super().__init__(target)
        self.client = client
        self.stream = target.mapping.stream
        self.url = Template(url, f"{target.label}: the URL") if "{{" in url or "{%" in url else None
        self.fixed_url = client.url(url)
        self.template = (
            PayloadTemplate(payload_template, f"{target.label}: payload_template")
            if payload_template
            else None
        )
        self.body_format = body_format
        self.single = batch_size == 1
        overhead = ENVELOPE_OVERHEAD + len(self.stream) if body_format is BodyFormat.envelope else 2
        self.limits = BatchLimits(batch_size, max_body_bytes - overhead, max_body_bytes - overhead)

    def record_size(self, data: dict[str, Any]) -> int:
        """The payload's size; with a template that means rendering it here as well as when sending."""
        try:
            return encoded_size(self._payload(data))
        except MappingError:
            return encoded_size(data)  # the record is rejected with the reason when it is sent

    def _payload(self, data: dict[str, Any]) -> Any:
        return self.template.apply(data) if self.template is not None else data

    def send(self, batch: list[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = [ACCEPTED] * len(batch)
        groups: dict[str, list[tuple[int, Any]]] = {}
        for position, record in enumerate(batch):
            try:
                url = self.client.url(self.url.render(record.data)) if self.url else self.fixed_url
                groups.setdefault(url, []).append((position, self._payload(record.data)))
            except MappingError as exc:
                outcomes[position] = Outcome.rejected(exc.reason, exc.field)
            except TemplateFailed as exc:  # a URL template that fails for this record (missing field, …)
                outcomes[position] = Outcome.rejected(f"URL template failed: {exc}")
        for url, items in groups.items():
            payloads = [payload for _, payload in items]
            data, content_type = body(payloads, self.body_format, self.stream, self.single)
            lines = [batch[position].line for position, _ in items]
            try:
                response = self.client.deliver(self.stream, url, data, content_type, lines)
            except RequestTooLarge as exc:  # this request only: the others of the batch went through
                for position, _ in items:
                    outcomes[position] = Outcome.split(exc.reason)
                continue
            if not response.ok:  # 400/409/422: about the records, but which ones the receiver can't say
                reason = self.client.describe(response)
                refused = Outcome.rejected(reason) if len(items) == 1 else Outcome.split(reason)
                for position, _ in items:
                    outcomes[position] = refused
        return outcomes
