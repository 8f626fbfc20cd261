"""The connector as an ``airbyte_cdk`` Source, so CDK tooling (standard tests) can run it in-process.

It wraps the same core as the console script, converting its message dicts to CDK models.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    FailureType,
)
from airbyte_cdk.sources import Source
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_warehouse_model.config import ConfigError
from source_warehouse_model.connector import check_message, discover_message, read_messages, spec_message


class SourceWarehouseModel(Source):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        spec = AirbyteMessageSerializer.load(spec_message()).spec
        assert spec is not None
        return spec

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        status = AirbyteMessageSerializer.load(check_message(config)).connectionStatus
        assert status is not None
        return status

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        with _traced():
            catalog = AirbyteMessageSerializer.load(discover_message(config)).catalog
        assert catalog is not None
        return catalog

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        catalog_json = ConfiguredAirbyteCatalogSerializer.dump(catalog)
        state_json = [AirbyteStateMessageSerializer.dump(message) for message in state or []]
        with _traced():
            for batch in read_messages(config, catalog_json, state_json):
                for message in batch:
                    yield AirbyteMessageSerializer.load(message)


@contextmanager
def _traced() -> Iterator[None]:
    """Report config problems as config_error traces, which the platform does not retry."""
    try:
        yield
    except ConfigError as exc:
        raise AirbyteTracedException(
            message=str(exc), internal_message=str(exc), failure_type=FailureType.config_error
        ) from exc
