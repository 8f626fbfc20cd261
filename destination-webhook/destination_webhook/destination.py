"""destination-webhook: any HTTP endpoint."""

from __future__ import annotations

from destination_webhook.catalog import ENDPOINT, endpoint
from destination_webhook.client import WebhookClient
from destination_webhook.config import WebhookConfig, WebhookStreamMapping
from destination_webhook.sink import EndpointSink
from retl_shared.destination import ActivationDestination
from retl_shared.sink import ObjectSpec, Sink, Target


class DestinationWebhook(ActivationDestination[WebhookConfig]):
    name = "destination-webhook"
    config_model = WebhookConfig
    single_object = ENDPOINT

    def check_connection(self, config: WebhookConfig) -> None:
        """A HEAD request: it proves the host answers without posting anything a receiver would act on."""
        client = WebhookClient(config, self.redactor)
        for url in {config.url, *(m.url for m in config.streams if m.url)}:
            if "{{" not in url:
                client.probe(client.url(url))

    def objects(self, config: WebhookConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        return [endpoint()]

    def create_sink(self, config: WebhookConfig, target: Target) -> Sink:
        mapping = target.mapping
        per_stream = mapping if isinstance(mapping, WebhookStreamMapping) else None
        return EndpointSink(
            target,
            WebhookClient(config, self.redactor),
            url=(per_stream and per_stream.url) or config.url,
            payload_template=(per_stream and per_stream.payload_template) or config.payload_template,
            body_format=config.body_format,
            batch_size=config.batch_size or 100,
            max_body_bytes=config.max_body_bytes,
        )
