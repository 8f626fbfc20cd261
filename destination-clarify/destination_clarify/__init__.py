"""destination-clarify: an Airbyte destination writing warehouse models into Clarify CRM records."""
