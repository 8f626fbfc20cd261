"""destination-webhook: any HTTP endpoint.

The client and the sink (and with them requests) are imported where they are used, so that `spec`,
which needs neither, starts as fast as the source's.
"""

from __future__ import annotations

from destination_webhook.catalog import ENDPOINT, endpoint
from destination_webhook.config import WebhookConfig, WebhookStreamMapping
from retl_shared.destination import ActivationDestination
from retl_shared.sink import ObjectSpec, Sink, Target


class DestinationWebhook(ActivationDestination[WebhookConfig]):
    name = "destination-webhook"
    config_model = WebhookConfig
    single_object = ENDPOINT

    def check_connection(self, config: WebhookConfig) -> list[str]:
        """Probe every fixed URL with the check method, judging each answer like a delivery's. Templated
        URLs depend on the records: their host is probed at its fixed part only at the first write."""
        from destination_webhook.client import WebhookClient
        from destination_webhook.payload import body

        client = WebhookClient(config, self.redactor, self.sync)
        notes = []
        for url in sorted({config.url, *(m.url for m in config.streams if m.url)}):
            if "{{" in url or "{%" in url:
                notes.append(f"{url} is templated per record: it is verified at the first write")
                continue
            empty = body([], config.body_format, "retl_check", single=False)
            note = client.probe(client.url(url), config.check_method, empty)
            if note:
                notes.append(note)
        return notes

    def objects(self, config: WebhookConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        return [endpoint()]

    def create_sink(self, config: WebhookConfig, target: Target) -> Sink:
        from destination_webhook.client import WebhookClient
        from destination_webhook.sink import EndpointSink

        mapping = target.mapping
        per_stream = mapping if isinstance(mapping, WebhookStreamMapping) else None
        return EndpointSink(
            target,
            WebhookClient(config, self.redactor, self.sync),
            url=(per_stream and per_stream.url) or config.url,
            payload_template=(per_stream and per_stream.payload_template) or config.payload_template,
            body_format=config.body_format,
            batch_size=config.batch_size or 100,
            max_body_bytes=config.max_body_bytes,
        )
