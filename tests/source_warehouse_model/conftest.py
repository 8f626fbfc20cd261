from __future__ import annotations

from pathlib import Path

import pytest

from tests.source_warehouse_model.helpers import Harness


@pytest.fixture
def connector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Harness:
    return Harness(tmp_path, capsys)
