"""docs/examples/connections.yaml stays usable as written: `retl airbyte apply`'s loader reads it, the
connectors' own config validation accepts what it configures, a PEM key taken from the environment
loads, and every column is named in the case Snowflake reports (unquoted names are upper-cased), so
the keys, cursors and mappings of the source, the connection and the destination agree.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from destination_hubspot.config import HubSpotConfig
from retl_shared import spec
from retl_shared.airbyte import apply
from retl_shared.mapping import mapping_problems
from retl_shared.redaction import Redactor
from source_warehouse_model.backends.snowflake import connect_arguments
from source_warehouse_model.config import SnowflakeWarehouse, SourceConfig, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "connections.yaml"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def example(private_key: rsa.RSAPrivateKey) -> apply.ApplyFile:
    """The file as `apply` reads it, with an encrypted PKCS#8 key as `$(cat rsa_key.p8)` exports it."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    env = {
        "SNOWFLAKE_PRIVATE_KEY": pem.rstrip("\n"),  # a shell's $(…) drops the final line break
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": PASSPHRASE,
        "HUBSPOT_TOKEN": "pat-eu1-0f9e8d7c-6b5a-4321-9abc-def012345678",
    }
    return apply.load(EXAMPLE, env, Redactor())


@pytest.fixture(scope="module")
def source(example: apply.ApplyFile) -> SourceConfig:
    (actor,) = example.sources
    return parse_config(actor.configuration)


def test_the_header_lists_every_variable_the_file_uses() -> None:
    lines = EXAMPLE.read_text().splitlines()
    header = itertools.takewhile(lambda line: line.startswith("#"), lines)
    listed = {match[1] for line in header if (match := re.match(r"#\s+([A-Z][A-Z0-9_]*)\s", line))}
    used = {name for line in lines if not line.startswith("#") for name in re.findall(r"\$\{(\w+)\}", line)}
    assert used == {"SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "HUBSPOT_TOKEN"}
    assert listed == used


def test_the_source_accepts_the_configuration_and_the_key_from_the_environment(
    source: SourceConfig, private_key: rsa.RSAPrivateKey
) -> None:
    assert isinstance(source.warehouse, SnowflakeWarehouse)
    der = connect_arguments(source.warehouse)["private_key"]
    loaded = serialization.load_der_private_key(der, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert loaded.private_numbers() == private_key.private_numbers()


def test_the_destination_accepts_the_configuration(example: apply.ApplyFile) -> None:
    (actor,) = example.destinations
    config = spec.parse_config(HubSpotConfig, actor.configuration)
    assert [mapping.stream for mapping in config.streams] == ["contacts", "deals"]


def test_columns_are_named_in_snowflake_case_everywhere(
    example: apply.ApplyFile, source: SourceConfig
) -> None:
    models = {model.name: model for model in source.models}
    for model in models.values():
        assert model.cursor_field is not None
        assert [*model.primary_key, model.cursor_field] == [
            name.upper() for name in [*model.primary_key, model.cursor_field]
        ]

    (connection,) = example.connections
    for stream in connection.streams:
        model = models[stream.name]
        assert stream.cursor_field == [model.cursor_field]
        assert stream.primary_key == [[name] for name in model.primary_key]

    (destination,) = example.destinations
    for mapping in spec.parse_config(HubSpotConfig, destination.configuration).streams:
        model = models[mapping.stream]
        assert all(column == column.upper() for column in mapping.fields), mapping.fields
        assert set(model.primary_key) <= set(mapping.fields), "the key must reach HubSpot"
        columns: dict[str, Any] = {
            name: {} for name in [*mapping.fields, *model.primary_key, model.cursor_field]
        }
        assert mapping_problems(mapping, columns, mapping.match_key) == []
