"""Errors that end a sync, each with the Airbyte ``failure_type`` the platform acts on."""

from __future__ import annotations


class SyncError(Exception):
    """Ends the sync with a TRACE error; ``failure_type`` tells the platform whether to retry."""

    failure_type = "system_error"

    def __init__(self, message: str, internal_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.internal_message = internal_message


class ConfigError(SyncError):
    """The user must change the config (bad credentials, missing scope, unknown field); not retried."""

    failure_type = "config_error"


class TransientError(SyncError):
    """The API stayed unavailable or throttled past our retries; the platform retries the job later."""

    failure_type = "transient_error"
