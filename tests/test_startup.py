"""Start-up: no connector's entry module imports the CDK (it costs every spec, check and write process
seconds); the CDK is only for the standard tests' adapters (retl_shared.cdk, the source's source.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

ENTRY_MODULES = [
    "source_warehouse_model.run",
    "destination_webhook.run",
    "destination_hubspot.run",
    "destination_customerio.run",
    "destination_clarify.run",
    "retl_shared.cli",
]


@pytest.mark.parametrize("module", ENTRY_MODULES)
def test_the_entry_module_does_not_import_the_cdk(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('airbyte_cdk'))[:5])"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]", f"{module} imports the CDK: {imported.stdout}"


@pytest.mark.parametrize("module", ENTRY_MODULES[:5])
def test_spec_needs_neither_requests_nor_jinja(module: str) -> None:
    """What `spec` imports: the entry module alone. HTTP, templates and boto3 (only for a rejected-records
    store on S3) load when a command needs them."""
    heavy = ("requests", "jinja2", "duckdb", "boto3", "botocore")
    probe = f"import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]", f"{module} imports {imported.stdout}"
