"""Runs the CDK standard source tests in-process, against warehouses built for the test session.

The standard suite reads its scenarios from source-warehouse-model/acceptance-test-config.yml, and
each scenario's config from disk. A committed config cannot hold the path of a warehouse that is
built per session, so ``WarehouseStandardSuite.get_scenarios`` writes each config, its warehouse
prepared and resolved, into a session directory and points the scenario there.

Test modules use it with ``pytest_plugins = ["tests.source_warehouse_model.standard_plugin"]``, which
also registers the CDK's own pytest hooks (scenario parametrisation, options, fixtures). Those
modules import it first, for its base class, so it opts out of assertion rewriting (it has no
asserts) to spare the "already imported" warning: PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from airbyte_cdk.test.standard_tests import ConnectorTestScenario, SourceTestSuiteBase

from source_warehouse_model.source import SourceWarehouseModel

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

CONNECTOR_ROOT = Path(__file__).parents[2] / "source-warehouse-model"


@cache
def session_dir() -> Path:
    """Where this session's warehouses and resolved configs live.

    Scenarios are collected before any fixture exists, so this cannot be a ``tmp_path_factory``
    directory; it is removed when the interpreter exits.
    """
    directory = Path(tempfile.mkdtemp(prefix="source-warehouse-model-standard-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


class WarehouseStandardSuite(SourceTestSuiteBase):
    """The standard source tests for the configs of one warehouse type.

    Subclasses set ``warehouse_type`` and implement ``prepare_warehouse``; configs of other
    warehouse types in acceptance-test-config.yml are left to their own suites.
    """

    connector = SourceWarehouseModel
    warehouse_type: ClassVar[str]

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        # The CDK looks for metadata.yaml above the test module, which lives outside the connector.
        return CONNECTOR_ROOT

    @classmethod
    def prepare_warehouse(cls, warehouse: dict[str, Any], directory: Path) -> dict[str, Any]:
        """Make the warehouse a config names exist, and return the config's ``warehouse`` for it."""
        raise NotImplementedError

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        directory = session_dir() / cls.warehouse_type
        directory.mkdir(exist_ok=True)
        scenarios = []
        for scenario in super().get_scenarios():
            config = scenario.get_config_dict(connector_root=CONNECTOR_ROOT, empty_if_missing=False)
            if config["warehouse"]["type"] != cls.warehouse_type:
                continue
            config["warehouse"] = cls.prepare_warehouse(config["warehouse"], directory)
            # Same file name, so the scenario keeps its id (the config file's stem).
            path = directory / f"{scenario.id}.json"
            path.write_text(json.dumps(config))
            scenarios.append(scenario.model_copy(update={"config_path": path}))
        return scenarios
