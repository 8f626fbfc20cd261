"""retl_shared."""
