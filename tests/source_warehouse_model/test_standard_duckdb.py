"""The CDK standard source tests (spec, check, discover, read), in-process against a DuckDB file.

The scenarios are the DuckDB configs of source-warehouse-model/acceptance-test-config.yml; the
warehouse they read is built from integration_tests/warehouse.sql once per test session.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.source_warehouse_model.standard_plugin import CONNECTOR_ROOT, WarehouseStandardSuite

pytest_plugins = ["tests.source_warehouse_model.standard_plugin"]

WAREHOUSE_SQL = CONNECTOR_ROOT / "integration_tests" / "warehouse.sql"


@cache
def build_warehouse(directory: Path) -> Path:
    path = directory / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(WAREHOUSE_SQL.read_text())
    return path


# Discovered-catalog problems the CDK only warns about yet fail here: this connector has none.
@pytest.mark.filterwarnings("error::airbyte_cdk.test.standard_tests.DiscoveredCatalogWarning")
class TestStandardDuckDB(WarehouseStandardSuite):
    warehouse_type = "duckdb"

    @classmethod
    def prepare_warehouse(cls, warehouse: dict[str, Any], directory: Path) -> dict[str, Any]:
        """Build the warehouse; a config's relative path is resolved against its directory.

        A config naming another file (invalid_config.json) thus points at one that does not exist.
        """
        build_warehouse(directory)
        return {**warehouse, "path": str(directory / warehouse["path"])}
