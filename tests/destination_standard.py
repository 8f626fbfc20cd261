"""Runs the CDK standard destination tests in-process, against a fake API started for the session.

Scenario configs (connector/integration_tests/*.json) say ``${FAKE_API_URL}`` where the fake's
address goes; the suite starts the fake when scenarios are collected (before any fixture exists),
writes the resolved configs into a session directory and stops the fake when the interpreter exits.
PYTEST_DONT_REWRITE (imported for its base class by the test modules, and it has no asserts).
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import ClassVar

from airbyte_cdk.test.standard_tests import ConnectorTestScenario, DestinationTestSuiteBase

from tests.fakes.server import FakeServer

REPO = Path(__file__).parents[1]


@cache
def session_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="retl-destination-standard-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


class DestinationStandardSuite(DestinationTestSuiteBase):
    connector_folder: ClassVar[str]
    fake_class: ClassVar[type[FakeServer]]

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return REPO / cls.connector_folder

    @classmethod
    def fake_url(cls) -> str:
        return _started(cls.fake_class).url

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        scenarios = []
        for scenario in super().get_scenarios():
            raw = Path(cls.get_connector_root_dir(), str(scenario.config_path)).read_text()
            path = session_dir() / cls.connector_folder / Path(str(scenario.config_path)).name
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(json.loads(raw.replace("${FAKE_API_URL}", cls.fake_url()))))
            scenarios.append(scenario.model_copy(update={"config_path": path}))
        return scenarios


_FAKES: dict[type[FakeServer], FakeServer] = {}


def _started(fake_class: type[FakeServer]) -> FakeServer:
    """One fake per class for the session, stopped when the interpreter exits."""
    if fake_class not in _FAKES:
        _FAKES[fake_class] = fake_class().start()
        atexit.register(_FAKES[fake_class].stop)
    return _FAKES[fake_class]
