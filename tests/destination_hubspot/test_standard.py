"""The CDK standard destination tests for destination-hubspot, in-process, against the HubSpot fake."""

from __future__ import annotations

from destination_hubspot.destination import DestinationHubSpot
from retl_shared.cdk import cdk_destination
from tests.destination_standard import DestinationStandardSuite
from tests.fakes.hubspot import HubSpotFake

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


class TestStandardHubSpot(DestinationStandardSuite):
    connector = cdk_destination(DestinationHubSpot)
    connector_folder = "destination-hubspot"
    fake_class = HubSpotFake
