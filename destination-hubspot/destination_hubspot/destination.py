"""destination-hubspot: warehouse models into HubSpot CRM objects.
The client, the catalog reader and the sinks (and with them requests) are imported where they are
used, so that `spec`, which needs none of them, starts as fast as the source's.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import TYPE_CHECKING

from destination_hubspot.config import HubSpotConfig, HubSpotStreamMapping
from retl_shared.destination import ActivationDestination
from retl_shared.errors import ConfigError
from retl_shared.sink import ObjectSpec, Sink, Target

if TYPE_CHECKING:
    from destination_hubspot.catalog import ObjectCatalog
    from destination_hubspot.client import HubSpotClient
    from destination_hubspot.sink import HubSpotSink


class DestinationHubSpot(ActivationDestination[HubSpotConfig]):
    name = "destination-hubspot"
    config_model = HubSpotConfig

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._client: HubSpotClient | None = None
        self._catalog: ObjectCatalog | None = None
        self._objects: dict = {}
        self._sinks: list[HubSpotSink] = []

    def client(self, config: HubSpotConfig) -> HubSpotClient:
        """One client per run: one rate limiter and one connection pool shared by every stream."""
        from destination_hubspot.client import HubSpotClient

        if self._client is None:
            self._client = HubSpotClient(config, self.redactor)
        return self._client

    def catalog(self, config: HubSpotConfig) -> ObjectCatalog:
        from destination_hubspot.catalog import ObjectCatalog

        if self._catalog is None:
            self._catalog = ObjectCatalog(self.client(config))
        return self._catalog

    def check_connection(self, config: HubSpotConfig) -> list[str]:
        """The schemas listing every run reads first: the credentials work, and it is HubSpot that answers
        (JSON results)."""
        self.catalog(config).names()
        return []

    def check(self, config: HubSpotConfig) -> list[str]:
        """Credentials and mappings (the kernel's), then whether the credential may write what the streams
        write, where HubSpot tells a credential's scopes; and what each create stream guarantees."""
        self._sinks = []
        notes = super().check(config)
        needed: dict[tuple[str, ...], list[str]] = {}
        for scopes, why in [need for sink in self._sinks for need in sink.needed_scopes()]:
            needed.setdefault(scopes, []).append(why)
        notes += self._write_access(config, needed)
        return notes + [note for sink in self._sinks if (note := sink.check_note())]

    def _write_access(self, config: HubSpotConfig, needed: dict[tuple[str, ...], list[str]]) -> list[str]:
        """A ConfigError naming the scopes the credential lacks, or a note when HubSpot cannot say."""
        if not needed:
            return []
        client = self.client(config)
        granted = client.granted_scopes()
        if granted is None:
            wanted = ", ".join(sorted({scopes[0] for scopes in needed}))
            return [
                f"HubSpot does not tell which scopes a {client.credential_kind} has, so write access "
                f"({wanted}) is verified at the first write."
            ]
        missing = {scopes: whys for scopes, whys in needed.items() if not granted.intersection(scopes)}
        if missing:
            lacking = "; ".join(f"{scopes[0]} ({', '.join(whys)})" for scopes, whys in missing.items())
            raise ConfigError(
                f"The HubSpot {client.credential_kind} lacks scopes this sync needs: {lacking}. To add "
                f"them, {client.where_to_add_scopes()}."
            )
        return []

    def objects(self, config: HubSpotConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        """Specs named as the mapping names them (a custom object by name, type id or full name)."""
        wanted = set(names or ()) | {a.to_object for m in config.streams for a in m.associations}
        self._objects = self.catalog(config).find(wanted if names is not None else None)
        return [
            replace(obj.spec(), name=name)
            for name, obj in self._objects.items()
            if names is None or name in names
        ]

    def object_names(self, config: HubSpotConfig) -> list[str]:
        """The standard objects and the schemas listing's custom ones; no properties are read."""
        return self.catalog(config).names()

    def create_sink(self, config: HubSpotConfig, target: Target) -> Sink:
        from destination_hubspot.sink import HubSpotSink

        mapping = target.mapping
        if not isinstance(mapping, HubSpotStreamMapping):
            mapping = HubSpotStreamMapping.model_validate(mapping.model_dump())
            target = replace(target, mapping=mapping)
        to_paths = {}
        for association in mapping.associations:
            if association.to_object not in self._objects:
                known = self.object_names(config)
                close = difflib.get_close_matches(association.to_object, known, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    f"{target.label}: unknown association target {association.to_object!r} "
                    f"({hint}the objects are: {', '.join(sorted(known))})"
                )
            to_paths[association.to_object] = self._objects[association.to_object].path_name
        sink = HubSpotSink(
            target,
            self.client(config),
            self.catalog(config),
            self._objects[target.object.name],
            to_paths,
            config.create_missing_properties,
            config.property_group,
        )
        self._sinks.append(sink)
        return sink
