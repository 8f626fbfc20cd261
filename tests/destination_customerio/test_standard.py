"""The CDK standard destination tests for destination-customerio, in-process, against the Customer.io fake."""

from __future__ import annotations

from destination_customerio.destination import DestinationCustomerIo
from retl_shared.cdk import cdk_destination
from tests.destination_standard import DestinationStandardSuite
from tests.fakes.customerio import CustomerIoFake

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


class TestStandardCustomerIo(DestinationStandardSuite):
    connector = cdk_destination(DestinationCustomerIo)
    connector_folder = "destination-customerio"
    fake_class = CustomerIoFake
