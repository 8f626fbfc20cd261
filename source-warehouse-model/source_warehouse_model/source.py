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

from source_warehouse_model.connector import (
    check_message,
    config_redactor,
    discover_message,
    read_messages,
    spec_message,
)
from source_warehouse_model.errors import sync_error


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
        with _traced(config):
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
        with _traced(config):
            for batch in read_messages(config, catalog_json, state_json):
                for message in batch:
                    assert isinstance(message, dict)  # records come as lines only when asked for
                    yield AirbyteMessageSerializer.load(message)


@contextmanager
def _traced(config: Mapping[str, Any]) -> Iterator[None]:
    """Report errors as the console script does: classified, so that the platform retries only what
    may pass, with every form of the config's secrets masked."""
    try:
        yield
    except Exception as exc:
        error, redactor = sync_error(exc), config_redactor(config)
        internal = redactor.redact(error.internal_message or error.message)
        raise AirbyteTracedException(
            message=redactor.redact(error.message),
            internal_message=internal,
            failure_type=FailureType(error.failure_type),
        ) from exc
