"""Fixtures for the fake APIs, and the standard suites' image tests left out of plain runs."""

import pytest

pytest_plugins = ["tests.fakes.fixtures"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the standard suite's image tests out of a run that selects no markers (``make test``).

    They build and run the connector's Docker image. The CDK skips them only when no docker CLI is
    on PATH, so with one (and no daemon, or no network) they would fail. Run them explicitly with
    ``-m image_tests``; ``-m "not image_tests"`` deselects them the usual way.
    """
    if config.option.markexpr:
        return
    image_tests = {item.nodeid for item in items if item.get_closest_marker("image_tests")}
    if image_tests:
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in image_tests])
        items[:] = [item for item in items if item.nodeid not in image_tests]
