"""Errors that end a sync, each with the Airbyte ``failure_type`` the platform acts on, and the two
request-level signals a sink's client raises for the kernel to act on (split, or record the unknown)."""

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


class RequestTooLarge(Exception):
    """The API refused a request for its size (413): the kernel splits the batch until one record is
    refused on its own, and rejects that record with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutcomeUnknown(Exception):
    """A request that is not safe to repeat was sent and no answer came back (a reset, a timeout, a 5xx):
    whether the API applied it is unknown. The kernel rejects its records with this reason rather than
    sending them again blindly or counting them as written."""

    def __init__(self, problem: str) -> None:
        self.reason = f"outcome unknown: sent, no answer ({problem})"
        super().__init__(self.reason)
