"""destination-customerio: warehouse models into Customer.io people, events and custom objects.

The client and the sinks (and with them requests) are imported where they are used, so that `spec`,
which needs none of them, starts as fast as the source's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from destination_customerio.catalog import OBJECTS
from destination_customerio.config import CustomerIoConfig, CustomerIoStreamMapping
from retl_shared.destination import ActivationDestination
from retl_shared.errors import ConfigError
from retl_shared.sink import ObjectSpec, Sink, Target

if TYPE_CHECKING:
    from destination_customerio.client import CustomerIoClient


class DestinationCustomerIo(ActivationDestination[CustomerIoConfig]):
    name = "destination-customerio"
    config_model = CustomerIoConfig
    documentation_url = "https://github.com/retl-suite/retl-suite/blob/main/destination-customerio/README.md"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: CustomerIoClient | None = None

    def client(self, config: CustomerIoConfig) -> CustomerIoClient:
        """One client per run: one rate limiter and one connection pool shared by every stream."""
        from destination_customerio.client import CustomerIoClient

        if self._client is None:
            self._client = CustomerIoClient(config, self.redactor)
        return self._client

    def check_connection(self, config: CustomerIoConfig) -> list[str]:
        """The region probe proves the keys; a region other than the account's is a config error too.

        A US account's data sent to the EU endpoint fails, and an EU account's sent to the US
        endpoint is redirected through US servers: neither should go unnoticed.
        """
        answer = self.client(config).region()
        # Customer.io's OpenAPI and docs name the member `region`; some clients' mocks `data_center`.
        data_center = answer.get("region") or answer.get("data_center")
        if data_center and data_center != config.region:
            raise ConfigError(
                f"The Customer.io account is in the {str(data_center).upper()} region: set region to "
                f"{data_center!r} (it is {config.region.value!r})."
            )
        return []

    def objects(self, config: CustomerIoConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        return [spec for spec in OBJECTS if names is None or spec.name in names]

    def create_sink(self, config: CustomerIoConfig, target: Target) -> Sink:
        from destination_customerio.sink import SINKS

        mapping = target.mapping
        if not isinstance(mapping, CustomerIoStreamMapping):
            mapping = CustomerIoStreamMapping.model_validate(mapping.model_dump())
            target = replace(target, mapping=mapping)
        if target.object.name != "object" and (mapping.object_type_id or mapping.relationship):
            raise ConfigError(f"{target.label}: object_type_id and relationship are for object streams only")
        guarded = mapping.max_event_age or "backfill" in mapping.model_fields_set
        if target.object.name != "event" and guarded:
            raise ConfigError(f"{target.label}: max_event_age and backfill are for event streams only")
        if "backfill" in mapping.model_fields_set and not mapping.max_event_age:
            raise ConfigError(
                f"{target.label}: backfill says what to do with events older than max_event_age: set it"
            )
        return SINKS[target.object.name](target, self.client(config))
