"""destination-webhook: any HTTP endpoint."""

from __future__ import annotations

from retl_shared.destination import ActivationDestination
from retl_shared.sink import ObjectSpec, Sink, Target

from destination_webhook.catalog import endpoint
from destination_webhook.client import WebhookClient
from destination_webhook.config import WebhookConfig
from destination_webhook.sink import EndpointSink


class DestinationWebhook(ActivationDestination[WebhookConfig]):
    name = "destination-webhook"
    config_model = WebhookConfig

    def check_connection(self, config: WebhookConfig) -> None:
        """A HEAD request: it proves the host answers without posting anything a receiver would act on."""
        WebhookClient(config, self.redactor).probe()

    def objects(self, config: WebhookConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        return [endpoint()]

    def create_sink(self, config: WebhookConfig, target: Target) -> Sink:
        client = WebhookClient(config, self.redactor)
        return EndpointSink(target, client, config.batch_size or 100, config.max_body_bytes)
