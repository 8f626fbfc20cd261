"""source_warehouse_model."""
