"""Warehouse backends, chosen by the config's ``warehouse.type``."""

from __future__ import annotations

from source_warehouse_model.backends.base import Backend
from source_warehouse_model.config import DuckDBWarehouse, SnowflakeWarehouse, Warehouse

# check answers promptly, as the destinations' does (retl_shared.http.CHECK_SECONDS): a login gives up
# after this long instead of retrying for the driver's two minutes.
CHECK_SECONDS = 10.0


def connect(warehouse: Warehouse, quick: bool = False) -> Backend:
    """Open the configured warehouse; drivers are imported only when their warehouse is used.

    ``quick`` (for ``check``) gives up on a warehouse that does not answer after ``CHECK_SECONDS``.
    """
    match warehouse:
        case DuckDBWarehouse():
            from source_warehouse_model.backends.duckdb import DuckDBBackend

            return DuckDBBackend(warehouse)
        case SnowflakeWarehouse():
            from source_warehouse_model.backends.snowflake import SnowflakeBackend

            return SnowflakeBackend(warehouse, CHECK_SECONDS if quick else None)
