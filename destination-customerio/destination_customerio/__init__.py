"""destination_customerio."""
