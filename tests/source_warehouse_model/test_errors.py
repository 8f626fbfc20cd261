"""The source's one classification of driver errors: what each kind means for the platform.

test_bad_input.py meets these errors through the real drivers; this covers the kinds a test cannot
provoke on a laptop (an expired Snowflake session, DuckDB running out of memory, a dropped connection).
"""

from __future__ import annotations

import socket

import duckdb
import orjson
import pytest
from snowflake.connector import errors as snowflake

from retl_shared.errors import SyncError
from source_warehouse_model.errors import UnconvertibleValue, about, sync_error


def _cannot_connect(cause: OSError) -> snowflake.OperationalError:
    error = snowflake.OperationalError(msg="Could not connect to Snowflake backend", errno=250001)
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "failure_type", "fragment"),
    [
        (duckdb.ParserException("Parser Error: syntax error"), "config_error", "syntax error"),
        (duckdb.BinderException('Referenced column "x" not found'), "config_error", '"x"'),
        (duckdb.CatalogException("Table with name t does not exist"), "config_error", "t does not"),
        (duckdb.ConversionException("Could not convert string 'a'"), "config_error", "'a'"),
        (duckdb.InvalidInputException("Division by zero"), "config_error", "Division by zero"),
        (duckdb.OutOfRangeException("Overflow in multiplication"), "config_error", "Overflow"),
        (duckdb.OutOfMemoryException("could not allocate"), "config_error", "more memory"),
        (duckdb.IOException("IO Error: Could not set lock on file"), "transient_error", "open for writing"),
        (
            duckdb.IOException('IO Error: Cannot open file "f": Permission denied'),
            "config_error",
            "read the file",
        ),
        (duckdb.IOException("IO Error: No space left on device"), "transient_error", "No space left"),
        (duckdb.InterruptException("Interrupted"), "transient_error", "Interrupted"),
        (duckdb.Error("Corrupt database file: computed checksum"), "config_error", "is damaged"),
        (duckdb.InternalException("INTERNAL Error: assertion"), "system_error", "DuckDB failed internally"),
        (snowflake.ProgrammingError(msg="invalid identifier 'X'", errno=904), "config_error", "'X'"),
        (snowflake.ProgrammingError(msg="SQL execution canceled", errno=604), "transient_error", "canceled"),
        (snowflake.ProgrammingError(msg="Session expired", errno=390112), "transient_error", "expired"),
        (snowflake.DataError(msg="Numeric value 'a' is not recognized"), "config_error", "'a'"),
        (snowflake.OperationalError(msg="Connection reset", errno=250003), "transient_error", "unavailable"),
        (snowflake.InterfaceError(msg="Connection is closed"), "transient_error", "unavailable"),
        (snowflake.ServiceUnavailableError(msg="503"), "transient_error", "unavailable"),
        (snowflake.ForbiddenError(msg="403"), "config_error", "network policy"),
        (
            _cannot_connect(socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
            "config_error",
            "does not exist",
        ),
        (
            _cannot_connect(socket.gaierror(socket.EAI_AGAIN, "Temporary failure")),
            "transient_error",
            "Temporary failure",
        ),
        (_cannot_connect(ConnectionRefusedError(111, "Connection refused")), "transient_error", "refused"),
        (UnconvertibleValue("doc", "NaN"), "config_error", "column 'doc'"),
        (orjson.JSONDecodeError("unexpected character", "x", 0), "config_error", "not valid JSON"),
        (KeyError("cursor"), "system_error", "failed unexpectedly: KeyError"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_kind_of_error_has_its_failure_type(error: Exception, failure_type: str, fragment: str) -> None:
    classified = sync_error(error, "stream users")
    assert classified.failure_type == failure_type
    assert classified.message.startswith("stream users: ")
    assert fragment in classified.message


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(SyncError) as raised, about("stream users"):
        {}["cursor"]  # a bug
    assert raised.value.failure_type == "system_error"
    assert "Traceback" in (raised.value.internal_message or "")
