"""destination-clarify: warehouse models into Clarify people, companies, deals and custom objects.
The client, the catalog reader and the sinks (and with them requests) are imported where they are
used, so that `spec`, which needs none of them, starts as fast as the source's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import IO, TYPE_CHECKING

from destination_clarify.catalog import ClarifyObject, read_objects
from destination_clarify.config import ClarifyConfig, ClarifyStreamMapping
from retl_shared.destination import ActivationDestination
from retl_shared.errors import ConfigError
from retl_shared.sink import ObjectSpec, Sink, Target

if TYPE_CHECKING:
    from destination_clarify.client import ClarifyClient
    from destination_clarify.sink import Companies


class DestinationClarify(ActivationDestination[ClarifyConfig]):
    name = "destination-clarify"
    config_model = ClarifyConfig
    documentation_url = "https://github.com/retl-suite/retl-suite/blob/main/destination-clarify/README.md"

    def __init__(self, stdout: IO[bytes] | None = None) -> None:
        super().__init__(stdout)
        self._client: ClarifyClient | None = None
        self._objects: dict[str, ClarifyObject] = {}
        self._companies: Companies | None = None

    def client(self, config: ClarifyConfig) -> ClarifyClient:
        """One client per run: one rate limiter and one connection pool shared by every stream."""
        from destination_clarify.client import ClarifyClient

        if self._client is None:
            self._client = ClarifyClient(config, self.redactor)
        return self._client

    def check_connection(self, config: ClarifyConfig) -> list[str]:
        """``GET /schemas``: a 401 names the api-key scheme, a 404 the workspace slug."""
        self.client(config).schemas()
        return []

    def objects(self, config: ClarifyConfig, names: set[str] | None = None) -> list[ObjectSpec]:
        self._objects = read_objects(self.client(config).schemas())
        return [obj.spec() for name, obj in self._objects.items() if names is None or name in names]

    def create_sink(self, config: ClarifyConfig, target: Target) -> Sink:
        mapping = target.mapping
        if not isinstance(mapping, ClarifyStreamMapping):  # a stream without an entry of its own
            mapping = ClarifyStreamMapping.model_validate(mapping.model_dump())
            target = replace(target, mapping=mapping)
        obj = self._objects[target.object.name]
        if obj.name != "person" and mapping.create_missing_companies:
            raise ConfigError(f"{target.label}: create_missing_companies is for person streams only")
        from destination_clarify.sink import ClarifySink

        companies = self.companies(config) if obj.name == "person" else None
        return ClarifySink(target, self.client(config), obj, companies)

    def companies(self, config: ClarifyConfig) -> Companies | None:
        """One directory of company ids per run, shared by every person stream (none without companies)."""
        from destination_clarify.sink import Companies

        if self._companies is None and "company" in self._objects:
            self._companies = Companies(self.client(config), self._objects["company"])
        return self._companies
