"""destination_clarify."""
