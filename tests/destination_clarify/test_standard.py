"""The CDK standard destination tests for destination-clarify, in-process, against the Clarify fake."""

from __future__ import annotations

from destination_clarify.destination import DestinationClarify
from retl_shared.cdk import cdk_destination
from tests.destination_standard import DestinationStandardSuite
from tests.fakes.clarify import ClarifyFake

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


class TestStandardClarify(DestinationStandardSuite):
    connector = cdk_destination(DestinationClarify)
    connector_folder = "destination-clarify"
    fake_class = ClarifyFake
