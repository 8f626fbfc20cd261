"""`retl airbyte sync` (trigger a job and follow it to the end) and `retl airbyte status` (recent jobs).

Only succeeded, failed and cancelled are final. `incomplete` means an attempt failed and
Airbyte is about to retry from the last committed state, so the job is followed on; a status
this code does not know is treated the same way, rather than reported as an outcome.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from retl_shared.airbyte.client import AirbyteError, Client, ExitCode

if TYPE_CHECKING:
    from airbyte_api import models

FINAL = {"succeeded": ExitCode.OK, "failed": ExitCode.JOB_FAILED, "cancelled": ExitCode.JOB_CANCELLED}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ISO_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def find_connection(client: Client, ref: str) -> models.ConnectionResponse:
    """A connection by id (no workspace needed) or by name in the workspace."""
    if _UUID.fullmatch(ref):
        return client.call(
            f"get connection {ref}",
            lambda sdk: sdk.connections.get_connection(request={"connection_id": ref}).connection_response,
        )
    connections = client.connections()
    matches = [c for c in connections if c.name == ref]
    if len(matches) > 1:
        ids = ", ".join(c.connection_id for c in matches)
        raise AirbyteError(f"several connections are named {ref!r}; pass one of their ids: {ids}")
    if not matches:
        names = ", ".join(repr(c.name) for c in connections[:20]) or "none"
        raise AirbyteError(
            f"no connection named {ref!r} in workspace {client.settings.workspace()}; it has: {names}"
        )
    return matches[0]


def sync(
    client: Client,
    ref: str,
    *,
    poll_interval: float,
    timeout: float,
    say: Callable[[str], None],
    note: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExitCode:
    """Start a sync job and poll it until it is final or `timeout` seconds have passed.

    Progress goes to `note` (stderr), the outcome to `say` (stdout). A timeout leaves the job
    running in Airbyte: stopping to watch is not a reason to cancel work that may be nearly done."""
    from airbyte_api import models

    connection = find_connection(client, ref)
    connection_id, name = connection.connection_id, connection.name
    job = client.call(
        f"start a sync of {name!r}",
        lambda sdk: (
            sdk.jobs.create_job(
                request={"connection_id": connection_id, "job_type": models.JobTypeEnum.SYNC}
            ).job_response
        ),
    )
    job_id = job.job_id
    note(f"job {job_id} started for connection {name!r} ({connection_id})")
    started = clock()
    last = None
    while True:
        status = _text(job.status)
        if status != last:
            note(f"job {job_id} {status} after {human_duration(clock() - started)}")
            last = status
        if status in FINAL:
            break
        remaining = timeout - (clock() - started)
        if remaining <= 0:
            say(
                f"job {job_id} still {status} after {human_duration(timeout)}: stopped following it; it goes "
                f"on in Airbyte (`retl airbyte status {name}` shows it)"
            )
            return ExitCode.TIMEOUT
        sleep(min(poll_interval, remaining))
        job = client.call(
            f"get job {job_id}", lambda sdk: sdk.jobs.get_job(request={"job_id": job_id}).job_response
        )
    seconds = parse_iso_duration(job.duration)
    took = human_duration(seconds if seconds is not None else clock() - started)
    say(f"job {job_id} {status}: {_count(job.rows_synced)} rows, {_size(job.bytes_synced)} in {took}")
    return FINAL[status]


def status(client: Client, ref: str | None, *, limit: int, say: Callable[[str], None]) -> ExitCode:
    """The latest `limit` jobs of one connection, or of every connection in the workspace."""
    connections = [find_connection(client, ref)] if ref else client.connections()
    rows = [("CONNECTION", "JOB", "TYPE", "STATUS", "STARTED", "ROWS", "BYTES", "DURATION")]
    for connection in connections:
        jobs = _latest_jobs(client, connection, limit)
        if not jobs:
            rows.append((connection.name, "-", "-", "no jobs", "-", "-", "-", "-"))
        for job in jobs:
            seconds = parse_iso_duration(job.duration)
            rows.append(
                (
                    connection.name,
                    str(job.job_id),
                    _text(job.job_type),
                    _text(job.status),
                    job.start_time,
                    _count(job.rows_synced),
                    _count(job.bytes_synced),
                    human_duration(seconds) if seconds is not None else "-",
                )
            )
    if len(rows) == 1:
        say("no connections in the workspace")
        return ExitCode.OK
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return ExitCode.OK


def _latest_jobs(
    client: Client, connection: models.ConnectionResponse, limit: int
) -> list[models.JobResponse]:
    connection_id = connection.connection_id
    response = client.call(
        f"list jobs of {connection.name!r}",
        lambda sdk: (
            sdk.jobs.list_jobs(
                request={"connection_id": connection_id, "limit": limit, "order_by": "createdAt|DESC"}
            ).jobs_response
        ),
    )
    return list(response.data)


def parse_iso_duration(text: str | None) -> float | None:
    """Seconds in an ISO 8601 duration as Airbyte writes them (PT1H2M3S, P1DT2H); None if absent or odd."""
    match = _ISO_DURATION.fullmatch(text or "")
    if not text or not match or text in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0) * 86400 + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60
    ) + parts.get("seconds", 0)


def human_duration(seconds: float) -> str:
    whole = round(seconds)
    if seconds < 10 and whole < 10:
        return f"{seconds:.1f}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _size(count: int | None) -> str:
    if count is None:
        return "? bytes"
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{count} bytes" if unit == "B" else f"{count} bytes ({value:.1f} {unit})"


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _text(value: Any) -> str:
    """An SDK enum's value (the SDK passes values it does not know through as plain strings)."""
    return str(getattr(value, "value", value))
