"""Our destinations as CDK ``Destination`` objects, for the CDK's in-process standard tests.

The standard test suites drive a connector object through the CDK's ``AirbyteEntrypoint``; our
destinations own their command line (the CDK's lacks ``discover`` for destinations), so this
adapter gives the suites the same spec, check and write, delegating to the destination.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    Status,
)

from retl_shared.catalog import parse_configured_catalog
from retl_shared.destination import ActivationDestination
from retl_shared.errors import SyncError


def cdk_destination(destination: type[ActivationDestination[Any]]) -> type[Destination]:
    class Adapter(Destination):
        def spec(self, logger: logging.Logger) -> ConnectorSpecification:
            return ConnectorSpecificationSerializer.load(destination().spec())

        def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
            instance = destination()
            try:
                notes = instance.check(instance.load_config(dict(config)))
            except SyncError as exc:
                return AirbyteConnectionStatus(
                    status=Status.FAILED, message=instance.redactor.redact(exc.message)
                )
            message = instance.redactor.redact(" ".join(notes)) if notes else None
            return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=message)

        def write(
            self,
            config: Mapping[str, Any],
            configured_catalog: ConfiguredAirbyteCatalog,
            input_messages: Iterable[AirbyteMessage],
        ) -> Iterator[AirbyteMessage]:
            out = io.BytesIO()
            instance = destination(stdout=out)
            lines = (orjson.dumps(AirbyteMessageSerializer.dump(m)) for m in input_messages)
            catalog = parse_configured_catalog(ConfiguredAirbyteCatalogSerializer.dump(configured_catalog))
            instance.write(instance.load_config(dict(config)), catalog, lines)
            for line in out.getvalue().splitlines():
                yield AirbyteMessageSerializer.load(orjson.loads(line))

    Adapter.__name__ = Adapter.__qualname__ = f"Cdk{destination.__name__}"
    return Adapter
