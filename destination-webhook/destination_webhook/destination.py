"""destination-webhook: any HTTP endpoint."""

from __future__ import annotations

from destination_webhook.catalog import endpoint
from destination_webhook.client import WebhookClient
from destination_webhook.config import WebhookConfig
from destination_webhook.sink import EndpointSink
from retl_shared.config import StreamMapping
from retl_shared.destination import ActivationDestination
from retl_shared.sink import ObjectSpec, Sink


class DestinationWebhook(ActivationDestination[WebhookConfig]):
    name = "destination-webhook"
    config_model = WebhookConfig

    def check_connection(self, config: WebhookConfig) -> None:
        """Only the URL's shape: a webhook has no harmless probe, and an empty POST could trigger work."""
        WebhookClient(config, self.redactor)

    def objects(self, config: WebhookConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        return [endpoint()]

    def create_sink(
        self, config: WebhookConfig, object_spec: ObjectSpec, operation: str, mapping: StreamMapping
    ) -> Sink:
        client = WebhookClient(config, self.redactor)
        return EndpointSink(object_spec, operation, client, config.batch_size or 100, config.max_body_bytes)
