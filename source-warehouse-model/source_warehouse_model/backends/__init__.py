"""Warehouse backends, chosen by the config's ``warehouse.type``."""

from __future__ import annotations

from source_warehouse_model.backends.base import Backend
from source_warehouse_model.config import DuckDBWarehouse, SnowflakeWarehouse, Warehouse


def connect(warehouse: Warehouse) -> Backend:
    """Open the configured warehouse; drivers are imported only when their warehouse is used."""
    match warehouse:
        case DuckDBWarehouse():
            from source_warehouse_model.backends.duckdb import DuckDBBackend

            return DuckDBBackend(warehouse)
        case SnowflakeWarehouse():
            from source_warehouse_model.backends.snowflake import SnowflakeBackend

            return SnowflakeBackend(warehouse)
