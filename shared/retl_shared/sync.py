"""Which sync this process serves: one identity per run, shared by everything that must name the sync
(the webhook's message ids, the rejected-records store's folder)."""

from __future__ import annotations

import os
import secrets


def sync_identity() -> str:
    """This sync: Airbyte's job and attempt (the platform passes them to the connector's environment as
    WORKER_JOB_ID and WORKER_JOB_ATTEMPT, io.airbyte.config.WorkerEnvConstants), else a random nonce of
    this process. Every attempt re-reads from the last state, so the attempt must be part of it."""
    job = os.environ.get("WORKER_JOB_ID")
    if job:
        return f"job-{job}-attempt-{os.environ.get('WORKER_JOB_ATTEMPT', '0')}"
    return f"run-{secrets.token_hex(8)}"
