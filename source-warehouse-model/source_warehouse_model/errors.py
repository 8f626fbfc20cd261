"""What every error the source meets means for the platform: the one place that classifies them.

DuckDB, the Snowflake connector, orjson and our own value conversion raise their own exception types;
``sync_error`` turns each into the ``SyncError`` the entry point and the CDK wrapper report:
``config_error`` when the user can fix it (the config, the model's SQL, the data, the state),
``transient_error`` when the warehouse is unavailable (the platform retries), and ``system_error``
only for what is left: bugs. Messages are prefixed with what the error is about (a stream, the
database file) by ``about``; they are never cut or reflowed here, so that the redactor still finds every
secret in them when they are printed.
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from retl_shared.errors import ConfigError, SyncError, TransientError

# Snowflake error codes (``errno``) that are not the user's to fix: 000604 "SQL execution canceled" (an
# administrator, a restart), and the session's tokens expiring or lost during a long read (the codes of
# snowflake.connector.network: SESSION_EXPIRED, MASTER_TOKEN_NOTFOUND, _EXPIRED, _INVALD).
_SNOWFLAKE_TRANSIENT = {604, 390112, 390113, 390114, 390115}
_SNOWFLAKE_CANNOT_CONNECT = 250001
_NAME_NOT_KNOWN = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class UnconvertibleValue(Exception):
    """A warehouse value the record builder cannot turn into JSON (e.g. NaN in a JSON document)."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"column {column!r}: a value cannot be converted to JSON ({problem})")
        self.column = column


@contextmanager
def about(subject: str) -> Iterator[None]:
    """Errors raised in the block, classified, their message starting with ``subject``."""
    try:
        yield
    except SyncError:
        raise
    except Exception as exc:
        raise sync_error(exc, subject) from exc


def sync_error(exc: BaseException, subject: str | None = None) -> SyncError:
    """``exc`` as the error the platform acts on."""
    if isinstance(exc, SyncError):
        return exc
    prefix = f"{subject}: " if subject else ""
    module = type(exc).__module__ or ""
    if module.split(".")[0] in ("duckdb", "_duckdb"):
        return _duckdb_error(exc, prefix)
    if module.startswith("snowflake.connector"):
        return _snowflake_error(exc, prefix)
    if isinstance(exc, UnconvertibleValue):
        return ConfigError(
            f"{prefix}{exc}. Convert or filter such values in the model's SQL (e.g. cast the column to text)"
        )
    if isinstance(exc, orjson.JSONDecodeError):
        return ConfigError(f"{prefix}not valid JSON: {exc}")
    if isinstance(exc, MemoryError):
        return ConfigError(f"{prefix}out of memory; give the connector more memory, or read less per model")
    details = "".join(traceback.format_exception(exc))
    return SyncError(f"{prefix}failed unexpectedly: {type(exc).__name__}: {exc}", details)


def _duckdb_error(exc: BaseException, prefix: str) -> SyncError:
    import duckdb  # loaded already: it raised ``exc``

    text = str(exc)
    if isinstance(exc, duckdb.IOException) and not isinstance(exc, duckdb.HTTPException):
        if "Could not set lock" in text or "Conflicting lock" in text:
            return TransientError(
                f"{prefix}another process has the database file open for writing, and DuckDB lets no other"
                f" process read it meanwhile ({text}). The platform will retry; if the writer keeps it"
                " open, point warehouse.path at a copy of the file"
            )
        if "not a valid DuckDB database" in text:
            return ConfigError(
                f"{prefix}{text} warehouse.path must name a DuckDB database file (not SQLite, Parquet or"
                " CSV; DuckDB reads those through a model's SQL)"
            )
        if "Permission denied" in text:
            return ConfigError(f"{prefix}{text}. Let the connector's user read the file")
        if "No such file" in text:
            return ConfigError(f"{prefix}{text}. Check the path")
        return TransientError(f"{prefix}{text}")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ConfigError(
            f"{prefix}{text}. Give the connector more memory, or make the model lighter (fewer columns,"
            " no ORDER BY of its own)"
        )
    if isinstance(exc, duckdb.InternalException | duckdb.FatalException):
        return SyncError(f"{prefix}DuckDB failed internally: {text}", text)
    if isinstance(
        exc,
        duckdb.ProgrammingError
        | duckdb.DataError
        | duckdb.IntegrityError
        | duckdb.NotSupportedError
        | duckdb.PermissionException
        | duckdb.DependencyException
        | duckdb.SequenceException,
    ):
        return ConfigError(f"{prefix}{text}")
    if isinstance(exc, duckdb.OperationalError | duckdb.InterruptException):
        return TransientError(f"{prefix}{text}")
    if type(exc) is duckdb.Error and text.startswith("Corrupt database file"):
        return ConfigError(f"{prefix}the database file is damaged: {text}. Restore it or rebuild it")
    return SyncError(f"{prefix}DuckDB failed: {type(exc).__name__}: {text}", text)


def _snowflake_error(exc: BaseException, prefix: str) -> SyncError:
    from snowflake.connector import errors  # loaded already: it raised ``exc``

    text = getattr(exc, "raw_msg", None) or str(exc)
    errno = getattr(exc, "errno", None)
    if errno == _SNOWFLAKE_CANNOT_CONNECT:
        return _unreachable(exc, prefix)
    if errno in _SNOWFLAKE_TRANSIENT:
        return TransientError(f"{prefix}{text}")
    if isinstance(exc, errors.NonRetryableTlsError | errors.RevocationCheckError):
        return ConfigError(
            f"{prefix}TLS with Snowflake failed: {text}. Check warehouse.host and its certificate"
        )
    if isinstance(exc, errors.ProgrammingError | errors.DataError | errors.IntegrityError):
        return ConfigError(f"{prefix}{text}")
    if isinstance(exc, errors.ForbiddenError | errors.BadRequest):
        return ConfigError(
            f"{prefix}Snowflake refused the request ({text}). Check warehouse.account, and that the"
            " account's network policy lets the connector's address in"
        )
    if isinstance(
        exc,
        errors.OperationalError
        | errors.InterfaceError
        | errors.InternalError
        | errors.HttpError
        | errors.ServiceUnavailableError
        | errors.InternalServerError
        | errors.BadGatewayError
        | errors.GatewayTimeoutError
        | errors.RequestTimeoutError
        | errors.TooManyRequests
        | errors.OtherHTTPRetryableError,
    ):
        return TransientError(f"{prefix}Snowflake is unavailable: {text}")
    return SyncError(f"{prefix}Snowflake failed: {type(exc).__name__}: {text}", text)


def _unreachable(exc: BaseException, prefix: str) -> SyncError:
    """A login that reached no server: a host name that does not exist is the config's, the rest is not."""
    cause = _root_os_error(exc)
    if isinstance(cause, socket.gaierror) and cause.errno in _NAME_NOT_KNOWN:
        return ConfigError(
            f"{prefix}the host name does not exist ({cause.strerror}). Check warehouse.account"
            " (orgname-accountname, or the account locator with its region) and warehouse.host"
        )
    reason = cause.strerror if cause is not None and cause.strerror else "no answer"
    return TransientError(
        f"{prefix}cannot connect ({reason}). Check warehouse.host and warehouse.port; if they are right,"
        " Snowflake is unreachable from where the connector runs, and the platform will retry"
    )


def _root_os_error(exc: BaseException) -> OSError | None:
    """The operating system's error at the bottom of an exception chain, if any."""
    seen: set[int] = set()
    found: OSError | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            found = current
        current = current.__cause__ or current.__context__
    return found


def unwritable(messages: Sequence[dict[str, Any] | orjson.Fragment], exc: Exception) -> SyncError:
    """The ConfigError for a batch orjson could not write, naming the record's stream and column."""
    for message in messages:
        if not isinstance(message, dict):
            continue  # serialised already
        record = message.get("record")
        if message.get("type") != "RECORD" or not isinstance(record, dict):
            continue
        for column, value in record["data"].items():
            try:
                orjson.dumps(value)
            except orjson.JSONEncodeError as problem:
                return ConfigError(
                    f"stream {_label(record)}: column {column!r}: a value cannot be written as JSON"
                    f" ({problem}), e.g. a document nested deeper than 254 levels. Flatten it, or cast the"
                    " column to text, in the model's SQL"
                )
    return SyncError(f"a message cannot be written as JSON ({exc})")


def _label(record: dict[str, Any]) -> str:
    namespace = record.get("namespace")
    return f"{namespace}.{record['stream']}" if namespace else str(record["stream"])
