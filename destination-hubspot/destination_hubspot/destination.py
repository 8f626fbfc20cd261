"""destination-hubspot: warehouse models into HubSpot CRM objects."""

from __future__ import annotations

from dataclasses import replace

from destination_hubspot.catalog import read_objects
from destination_hubspot.client import HubSpotClient
from destination_hubspot.config import HubSpotConfig, HubSpotStreamMapping
from destination_hubspot.sink import HubSpotSink
from retl_shared.destination import ActivationDestination
from retl_shared.errors import ConfigError
from retl_shared.sink import ObjectSpec, Sink, Target


class DestinationHubSpot(ActivationDestination[HubSpotConfig]):
    name = "destination-hubspot"
    config_model = HubSpotConfig

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._client: HubSpotClient | None = None
        self._objects: dict = {}

    def client(self, config: HubSpotConfig) -> HubSpotClient:
        """One client per run: one rate limiter and one connection pool shared by every stream."""
        if self._client is None:
            self._client = HubSpotClient(config, self.redactor)
        return self._client

    def check_connection(self, config: HubSpotConfig) -> None:
        """One contact read: the credentials work, and it is HubSpot that answers (JSON results)."""
        client = self.client(config)
        response = client.request("GET", "/crm/v3/objects/contacts", params={"limit": 1})
        if response.status_code >= 400:
            status, excerpt = response.status_code, client.body_excerpt(response)
            raise ConfigError(f"HubSpot answered HTTP {status} to a contacts read: {excerpt}")
        client.listing(response, "id")

    def objects(self, config: HubSpotConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        wanted = set(names or ()) | {a.to_object for m in config.streams for a in m.associations}
        self._objects = read_objects(self.client(config), wanted if names is not None else None)
        return [obj.spec() for name, obj in self._objects.items() if names is None or name in names]

    def create_sink(self, config: HubSpotConfig, target: Target) -> Sink:
        mapping = target.mapping
        if not isinstance(mapping, HubSpotStreamMapping):
            mapping = HubSpotStreamMapping.model_validate(mapping.model_dump())
            target = replace(target, mapping=mapping)
        obj = self._objects[_key(self._objects, target.object.name)]
        to_paths = {}
        for association in mapping.associations:
            if association.to_object not in self._objects:
                raise ConfigError(f"{target.label}: unknown association target {association.to_object!r}")
            to_paths[association.to_object] = self._objects[association.to_object].path_name
        return HubSpotSink(
            target,
            self.client(config),
            obj,
            to_paths,
            config.create_missing_properties,
            config.property_group,
        )


def _key(objects: dict, name: str) -> str:
    return next(key for key, obj in objects.items() if obj.name == name)
