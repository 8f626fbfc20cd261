"""destination_webhook."""
