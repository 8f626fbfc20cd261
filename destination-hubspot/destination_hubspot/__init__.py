"""destination_hubspot."""
