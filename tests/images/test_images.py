"""The connector images, run as the platform runs them (`make image-test`: tests/images/run_image_tests.py).

Each image built by `make images` (podman, .ci/containers/) is checked against the Airbyte image
contract, for exactly the packages uv.lock pins and for precompiled bytecode, then run: `spec`; for
the source `check`, `discover` and a real `read` of a DuckDB warehouse that the test builds and
mounts with `-v`; for the webhook and HubSpot destinations `check`, `discover` and a real `write`
into the fake APIs, which listen on the host's 127.0.0.1 (`--network host`); then whole syncs,
source image piped into destination image by `retl run`, a full one and an incremental one. Last,
`airbyte-cdk image test` (the CDK's standard image tests) runs against each image through podman's
Docker-compatible socket.

All of it needs podman and the built images: the module is marked `image_tests` (so `make test`
deselects it) and skips unless RETL_IMAGE_TESTS=1, which run_image_tests.py sets.
"""

from __future__ import annotations

import importlib
import inspect as pyinspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests.harness import incremental_catalog, record_line, state_line
from tests.images.podman import (
    CONNECTORS,
    REPO,
    WORKDIR,
    Run,
    container_command,
    image,
    images_dir,
    inspect,
    metadata,
    podman,
    podman_env,
    run_connector,
    workdir,
)

pytestmark = [
    pytest.mark.image_tests,
    pytest.mark.skipif(
        os.environ.get("RETL_IMAGE_TESTS") != "1",
        reason="image tests need podman and the built images: run `make image-test`",
    ),
]

SOURCE = "source-warehouse-model"
BIN = Path(sys.executable).parent
# Where an unpublished connector's spec backward-compatibility test would look it up (Airbyte's public
# registry). The CDK process gets this dead proxy, so that test reports the registry unreachable and
# skips instead of sending traffic off this machine; these connectors are not published there anyway.
NO_NETWORK_PROXY = "http://127.0.0.1:9"


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _images_exist() -> None:
    missing = [c for c in CONNECTORS if podman("image", "exists", image(c), check=False).returncode]
    if missing:
        pytest.fail(f"images not built: {', '.join(missing)}; run `make images` (or `make image-test`)")


@cache
def spec_run(connector: str) -> Run:
    return run_connector(connector, "spec")


WAREHOUSE_SQL = """
CREATE TABLE contacts AS
SELECT i AS contact_id,
       'contact' || i || '@example.com' AS email,
       ['Ada', 'Grace', 'Alan'][1 + i % 3] AS firstname,
       CAST(i * 12.5 AS DECIMAL(12, 2)) AS lifetime_value,
       TIMESTAMP '2026-11-01 09:00:00' + INTERVAL (i) MINUTE AS updated_at
FROM range(1, 26) t(i);
"""
MODEL = {
    "name": "contacts",
    "relation": "contacts",
    "primary_key": ["contact_id"],
    "cursor_field": "updated_at",
}


@pytest.fixture(scope="module")
def warehouse() -> Path:
    directory = workdir("warehouse")
    path = directory / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(WAREHOUSE_SQL)
    path.chmod(0o644)
    return path


def write_json(directory: Path, name: str, value: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(value))
    path.chmod(0o644)
    return path


# --- the image contract, for every image ------------------------------------------------------------


@pytest.mark.parametrize("connector", CONNECTORS)
def test_image_contract(connector: str) -> None:
    """ENV AIRBYTE_ENTRYPOINT equals the absolute ENTRYPOINT; user airbyte (uid 1000); /airbyte
    writable; the labels say metadata.yaml's repository and version; no build tools shipped."""
    config = inspect(image(connector))["Config"]
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    entrypoint = config.get("Entrypoint") or []
    assert entrypoint == [env.get("AIRBYTE_ENTRYPOINT")], (entrypoint, env.get("AIRBYTE_ENTRYPOINT"))
    assert entrypoint[0].startswith("/")
    assert config.get("User") == "airbyte"
    assert config.get("WorkingDir") == WORKDIR
    labels = config.get("Labels") or {}
    assert labels.get("io.airbyte.name") == metadata(connector)["dockerRepository"]
    assert labels.get("io.airbyte.version") == metadata(connector)["dockerImageTag"]

    script = (
        f'test -x "{entrypoint[0]}" && id -u && touch /airbyte/.probe && rm /airbyte/.probe && echo writable'
        " && ls /opt/connector/bin"
    )
    result = podman("run", "--rm", "--entrypoint", "sh", image(connector), "-c", script, check=False)
    out = result.stdout.decode().split()
    assert result.returncode == 0, result.stderr.decode()
    assert out[:2] == ["1000", "writable"]
    assert not {"uv", "pip", "pip3"} & set(out[2:]), f"build tools in the image: {out[2:]}"


def locked_packages(connector: str) -> dict[str, str]:
    """What uv.lock pins for the connector on this platform (markers evaluated), and the workspace's own."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement

    uv = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    exported = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--package",
            connector,
            "--no-hashes",
            "--no-header",
            "--no-emit-workspace",
            "--no-annotate",
            "--quiet",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    environment = {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": "3.11",
        "platform_machine": "x86_64",
        "os_name": "posix",
    }
    pins = {}
    for line in exported.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker and not Marker(str(requirement.marker)).evaluate(environment):
            continue
        pins[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    pins["retl-shared"] = pins[connector] = "0.1.0"
    return pins


INSTALLED = (
    "import importlib.metadata as m, json, re; print(json.dumps("
    "{re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version for d in m.distributions()}))"
)


BYTECODE = (
    "import glob, json, sys; pycs = glob.glob(sys.argv[1] + '/**/__pycache__/*.pyc', recursive=True); "
    "sources = glob.glob(sys.argv[1] + '/**/*.py', recursive=True); "
    "flags = {int.from_bytes(open(p, 'rb').read()[4:8], 'little') for p in pycs}; "
    "print(json.dumps([len(sources), len(pycs), sorted(flags)]))"
)


@pytest.mark.parametrize("connector", CONNECTORS)
def test_bytecode_is_compiled_with_unchecked_hashes(connector: str) -> None:
    """The user airbyte cannot write bytecode into /opt/connector, so it must be there already, and
    hash-based (flags 1: not checked against the sources, so independent of the files' mtimes)."""
    for module in ("retl_shared", connector.replace("-", "_"), "airbyte_cdk"):
        folder = f"/opt/connector/lib/python3.11/site-packages/{module}"
        result = podman("run", "--rm", "--entrypoint", "/opt/connector/bin/python", image(connector), "-c",
                        BYTECODE, folder)  # fmt: skip
        sources, pycs, flags = json.loads(result.stdout)
        assert sources > 0 and pycs >= sources and flags == [1], (module, sources, pycs, flags)


@pytest.mark.parametrize("connector", CONNECTORS)
def test_image_holds_exactly_the_locked_packages(connector: str) -> None:
    result = podman(
        "run", "--rm", "--entrypoint", "/opt/connector/bin/python", image(connector), "-c", INSTALLED
    )
    installed = json.loads(result.stdout)
    locked = locked_packages(connector)
    locked[connector] = installed.get(connector, "?")  # the connector's own version is its pyproject's
    locked["retl-shared"] = installed.get("retl-shared", "?")
    assert installed == locked


# --- spec, for every image --------------------------------------------------------------------------


@pytest.mark.parametrize("connector", CONNECTORS)
def test_spec(connector: str) -> None:
    run = spec_run(connector)
    assert run.code == 0, run.describe()
    assert not run.stray, run.stray
    [spec] = [m["spec"] for m in run.of_type("SPEC")]
    assert spec["connectionSpecification"]["type"] == "object"
    if connector.startswith("destination-"):
        assert spec.get("supported_destination_sync_modes"), spec


# --- the source: check, discover, read --------------------------------------------------------------


def source_config(warehouse: Path) -> dict[str, Any]:
    return {"warehouse": {"type": "duckdb", "path": str(warehouse)}, "models": [MODEL]}


def test_source_check(warehouse: Path) -> None:
    directory = warehouse.parent
    good = write_json(directory, "check.json", source_config(warehouse))
    run = run_connector(SOURCE, "check", "--config", str(good), mounts=[directory])
    assert run.code == 0 and run.connection_status() == "SUCCEEDED", run.describe()

    missing = {
        **source_config(warehouse),
        "warehouse": {"type": "duckdb", "path": f"{directory}/none.duckdb"},
    }
    bad = write_json(directory, "check-missing.json", missing)
    run = run_connector(SOURCE, "check", "--config", str(bad), mounts=[directory])
    assert run.connection_status() == "FAILED", run.describe()


def test_source_discover(warehouse: Path) -> None:
    config = write_json(warehouse.parent, "discover.json", source_config(warehouse))
    run = run_connector(SOURCE, "discover", "--config", str(config), mounts=[warehouse.parent])
    assert run.code == 0, run.describe()
    [catalog] = [m["catalog"] for m in run.of_type("CATALOG")]
    [stream] = catalog["streams"]
    assert stream["name"] == "contacts"
    assert "incremental" in stream["supported_sync_modes"]
    assert set(stream["json_schema"]["properties"]) == {
        "contact_id",
        "email",
        "firstname",
        "lifetime_value",
        "updated_at",
    }


def test_source_read_full_then_from_state(warehouse: Path) -> None:
    directory = warehouse.parent
    config = write_json(directory, "read.json", source_config(warehouse))
    catalog = write_json(
        directory, "catalog.json", incremental_catalog({"contacts": ("contact_id", "updated_at")})
    )
    run = run_connector(
        SOURCE, "read", "--config", str(config), "--catalog", str(catalog), mounts=[directory]
    )
    assert run.code == 0, run.describe()
    assert [r["data"]["contact_id"] for r in run.records] == list(range(1, 26))
    assert {r["stream"] for r in run.records} == {"contacts"}
    assert run.records[0]["data"]["email"] == "contact1@example.com"
    assert run.states, "no STATE message"
    final = run.states[-1]
    assert final["stream"]["stream_descriptor"]["name"] == "contacts"

    # From that state, only the rows at or after the cursor come back (the cursor is inclusive).
    state = write_json(directory, "state.json", [final])
    run = run_connector(
        SOURCE,
        "read",
        "--config",
        str(config),
        "--catalog",
        str(catalog),
        "--state",
        str(state),
        mounts=[directory],
    )
    assert run.code == 0, run.describe()
    assert [r["data"]["contact_id"] for r in run.records] == [25]


# --- the destinations: check, discover, write -------------------------------------------------------


def write_input(stream: str, rows: list[dict[str, Any]], state: dict[str, Any]) -> bytes:
    return b"\n".join([*(record_line(stream, row) for row in rows), state_line(stream, state)]) + b"\n"


def test_webhook_check_discover_write() -> None:
    from tests.fakes.webhook import WebhookReceiver

    directory = workdir("webhook")
    with WebhookReceiver() as receiver:
        config = write_json(
            directory, "config.json", {"url": f"{receiver.url}/hooks/contacts", "batch_size": 2}
        )
        run = run_connector("destination-webhook", "check", "--config", str(config), mounts=[directory])
        assert run.code == 0 and run.connection_status() == "SUCCEEDED", run.describe()

        run = run_connector("destination-webhook", "discover", "--config", str(config), mounts=[directory])
        assert run.code == 0 and run.of_type("DESTINATION_CATALOG"), run.describe()

        catalog = write_json(
            directory, "catalog.json", incremental_catalog({"contacts": ("id", "updated_at")})
        )
        rows = [
            {"id": i, "email": f"c{i}@example.com", "updated_at": f"2026-11-0{i}T00:00:00"} for i in (1, 2, 3)
        ]
        run = run_connector(
            "destination-webhook",
            "write",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
            mounts=[directory],
            stdin=write_input("contacts", rows, {"updated_at": "2026-11-03T00:00:00"}),
        )
        assert run.code == 0, run.describe()
        # Batches may be sent concurrently: arrival order is not the records' order.
        assert sorted(r["id"] for r in receiver.received_records()) == [1, 2, 3]
        assert len(receiver.deliveries) == 2  # batch_size 2
        [state] = run.states
        assert state["stream"]["stream_state"] == {"updated_at": "2026-11-03T00:00:00"}
        assert state["destinationStats"]["recordCount"] == 3


def test_hubspot_check_discover_write() -> None:
    from tests.fakes.hubspot import HubSpotFake

    directory = workdir("hubspot")
    with HubSpotFake() as fake:
        fake.add_property("contacts", "total_orders", "number")
        ids = [fake.add_record("contacts", {"email": f"c{i}@example.com"}) for i in range(3)]
        config = write_json(
            directory,
            "config.json",
            {
                "credentials": {"auth_type": "private_app", "access_token": "pat-good"},
                "api_base_url": fake.url,
                "streams": [
                    {
                        "stream": "contacts",
                        "object": "contacts",
                        "operation": "update",
                        "match_key": ["hs_object_id"],
                        "fields": {"id": "hs_object_id", "total_orders": "total_orders"},
                        "unmapped_columns": "drop",
                    }
                ],
            },
        )
        run = run_connector("destination-hubspot", "check", "--config", str(config), mounts=[directory])
        assert run.code == 0 and run.connection_status() == "SUCCEEDED", run.describe()

        run = run_connector("destination-hubspot", "discover", "--config", str(config), mounts=[directory])
        assert run.code == 0, run.describe()
        [catalog_message] = run.of_type("DESTINATION_CATALOG")
        objects = {op["object_name"] for op in catalog_message["destination_catalog"]["operations"]}
        assert "contacts" in objects

        catalog = write_json(
            directory,
            "catalog.json",
            incremental_catalog({"contacts": ("id", "updated_at")}, sync_mode="update"),
        )
        rows = [
            {"id": int(i), "total_orders": n, "updated_at": "2026-11-05T00:00:00"} for n, i in enumerate(ids)
        ]
        run = run_connector(
            "destination-hubspot",
            "write",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
            mounts=[directory],
            stdin=write_input("contacts", rows, {"updated_at": "2026-11-05T00:00:00"}),
        )
        assert run.code == 0, run.describe()
        assert [fake.objects("contacts")[i].get("total_orders") for i in ids] == ["0", "1", "2"]
        [state] = run.states
        assert state["stream"]["stream_state"] == {"updated_at": "2026-11-05T00:00:00"}


# --- whole syncs: source image | destination image, through `retl run` ------------------------------


def retl_run(
    directory: Path, destination: str, source: dict[str, Any], config: dict[str, Any], catalog: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """`retl run` between the source's and the destination's containers, with the run's files in
    ``directory`` (the state file too) and the warehouse beside it: both are mounted from its parent."""
    files = {
        name: write_json(directory, f"{name}.json", value)
        for name, value in (("source", source), ("destination", config), ("catalog", catalog))
    }
    command = [
        str(BIN / "retl"),
        "run",
        "--quiet",
        "--source",
        container_command(SOURCE, [directory.parent]),
        "--source-config",
        str(files["source"]),
        "--destination",
        container_command(destination, [directory.parent]),
        "--destination-config",
        str(files["destination"]),
        "--catalog",
        str(files["catalog"]),
        "--state-file",
        str(directory / "state.json"),
    ]
    result = subprocess.run(command, env=podman_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"retl run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def test_sync_into_webhook_and_hubspot_full_then_incremental() -> None:
    """The demo's sync (tests/demo.py), each connector in its container: a full sync, then one from the
    confirmed state that sends only the changed rows (and the boundary row: the cursor is inclusive)."""
    from tests import demo
    from tests.fakes.webhook import WebhookReceiver

    directory = workdir("sync")
    warehouse = directory / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(demo.WAREHOUSE_SQL)
    warehouse.chmod(0o644)
    source = {"warehouse": {"type": "duckdb", "path": str(warehouse)}, "models": [demo.MODEL]}
    keys = {str(demo.MODEL["name"]): ("hubspot_contact_id", "updated_at")}
    with WebhookReceiver() as receiver, demo.start_hubspot() as hubspot:
        for destination in ("webhook", "hubspot"):
            (directory / destination).mkdir(mode=0o755)

        def sync() -> None:
            retl_run(
                directory / "webhook",
                "destination-webhook",
                source,
                demo.webhook_config(receiver),
                incremental_catalog(keys),
            )
            retl_run(
                directory / "hubspot",
                "destination-hubspot",
                source,
                demo.hubspot_config(hubspot),
                incremental_catalog(keys, sync_mode="update"),
            )

        sync()
        assert len(receiver.received_records()) == demo.CONTACTS
        assert hubspot.objects("contacts")["1001"].get("customer_tier") in {"bronze", "silver", "gold"}
        for destination in ("webhook", "hubspot"):
            [state] = json.loads((directory / destination / "state.json").read_text())
            assert state["stream"]["stream_descriptor"]["name"] == demo.MODEL["name"]

        with duckdb.connect(str(warehouse)) as connection:
            connection.execute(demo.CHANGES_SQL)
        before = len(receiver.received_records())
        hubspot.clear_requests()
        sync()
        resent = sorted(r["hubspot_contact_id"] for r in receiver.received_records()[before:])
        assert 1003 in resent and 1007 in resent and 1011 in resent and len(resent) == 4, resent
        assert hubspot.objects("contacts")["1007"].get("customer_tier") == "gold"
        updated = [
            item["id"]
            for request in hubspot.requests
            if request.path.endswith("/batch/update")
            for item in json.loads(request.body)["inputs"]
        ]
        assert sorted(updated) == sorted(str(i) for i in resent)


# --- the CDK's standard image tests: `airbyte-cdk image test`, through podman's Docker socket --------


@pytest.fixture(scope="module")
def docker_socket() -> Iterator[str]:
    """`podman system service` on a socket of our own, for the Docker CLI the CDK runs."""
    socket = images_dir() / "test" / "podman.sock"
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.unlink(missing_ok=True)
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=podman_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"unix://{socket}"
    try:
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(
                ["docker", "version", "--format", "{{.Server.Version}}"],
                env={**os.environ, "DOCKER_HOST": host},
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline or service.poll() is not None:
                raise RuntimeError(f"podman system service did not answer: {probe.stderr}")
            time.sleep(0.2)
        yield host
    finally:
        service.terminate()
        service.wait(timeout=30)
        socket.unlink(missing_ok=True)


def docker_shim(directory: Path) -> Path:
    """A `docker` that adds RETL_DOCKER_RUN_ARGS to `docker run`, and the folder to put first on PATH.

    The CDK's tests run `docker run IMAGE …`. Podman 4.3's Docker API puts such a container on a
    bridge network, where 127.0.0.1 is the container's own, and ignores containers.conf's `netns`;
    the fakes listen on the host's 127.0.0.1, so the shim adds `--network host` (and the warehouse
    mount), as the other tests do with `podman run`. Everything else goes to Docker's CLI unchanged.
    """
    docker = shutil.which("docker")
    assert docker, "no docker CLI: .ci/containers/setup.sh installs docker.io where it is missing"
    shim = directory / "bin" / "docker"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(
        "#!/bin/sh\n"
        "# Written by tests/images/test_images.py (docker_shim).\n"
        f'if [ "$1" = run ]; then shift; exec "{docker}" run $RETL_DOCKER_RUN_ARGS "$@"; fi\n'
        f'exec "{docker}" "$@"\n'
    )
    shim.chmod(0o755)
    return shim.parent


def standard_suites(connector: str) -> list[Any]:
    """The repo's in-process standard test suites for a connector: they know how to resolve its
    scenario configs (build the warehouse, start the fake API) for a session."""
    if connector == SOURCE:
        modules = [
            "tests.source_warehouse_model.test_standard_duckdb",
            "tests.source_warehouse_model.test_standard_snowflake",
        ]
    else:
        modules = [f"tests.{connector.replace('-', '_')}.test_standard"]
    suites = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if (
                pyinspect.isclass(value)
                and value.__module__ == module.__name__
                and hasattr(value, "get_scenarios")
                and getattr(value, "get_connector_root_dir")().name == connector  # noqa: B009
            ):
                suites.append(value)
    return suites


def prepare_connector_folder(connector: str, directory: Path) -> tuple[list[Path], list[str]]:
    """What `airbyte-cdk image test` reads, resolved for this run, in ``directory/<connector>``.

    The CLI takes a connector folder: metadata.yaml, acceptance-test-config.yml and the scenario
    configs it names. The committed configs leave out what only a test session knows (the fake API's
    address, the warehouse built for the session, fakesnow's port); the repo's standard suites fill
    it in, and the copy's acceptance-test-config.yml names their resolved configs by absolute path.
    The CLI also writes its generated test file and results into that folder, not into the repo.
    Returns the folders the containers need mounted (the resolved warehouses), and the scenarios
    whose `read` should succeed.
    """
    source = REPO / connector
    target = directory / connector
    target.mkdir(parents=True)
    shutil.copy(source / "metadata.yaml", target)
    if (source / "integration_tests").is_dir():
        shutil.copytree(source / "integration_tests", target / "integration_tests")
    config_file = source / "acceptance-test-config.yml"
    if not config_file.exists():
        return [], []
    resolved: dict[str, Path] = {}
    for suite in standard_suites(connector):
        for scenario in suite.get_scenarios():
            resolved[Path(str(scenario.config_path)).stem] = Path(str(scenario.config_path))
    config = yaml.safe_load(config_file.read_text())
    reads = []
    for name, section in (config.get("acceptance_tests") or {}).items():
        for entry in (section or {}).get("tests") or []:
            path = entry.get("config_path") if isinstance(entry, dict) else None
            if not path:
                continue
            if name in ("basic_read", "full_refresh") and entry.get("status") != "failed":
                reads.append(Path(path).stem)
            if Path(path).stem in resolved:
                entry["config_path"] = str(resolved[Path(path).stem])
    (target / "acceptance-test-config.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    mounts = set()
    for path in resolved.values():
        warehouse = json.loads(path.read_text()).get("warehouse") or {}
        if warehouse.get("type") == "duckdb":
            folder = Path(warehouse["path"]).parent
            mounts.add(folder)
            # Session folders are private (mkdtemp); the containers run as uid 1000.
            for parent in (folder, *folder.parents):
                if parent == Path(tempfile.gettempdir()) or parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o055)
    return sorted(mounts), reads


def junit_results(path: Path) -> list[dict[str, str]]:
    """Each test's name, outcome, the first line of its message, and its whole report (``detail``)."""
    results = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message, detail = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").strip().split("\n")[0][:200]
                detail = f"{child.get('message') or ''}\n{child.text or ''}"
        results.append(
            {"test": case.get("name", ""), "outcome": outcome, "message": message, "detail": detail}
        )
    return results


# fakesnow, serving the Snowflake scenarios from this process, warns about its own DuckDB use.
@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
@pytest.mark.parametrize("connector", CONNECTORS)
def test_airbyte_cdk_image_test(connector: str, docker_socket: str) -> None:
    directory = workdir(f"cdk-{connector}")
    mounts, reads = prepare_connector_folder(connector, directory)
    shim = docker_shim(directory)
    run_args = " ".join(["--network host", *(f"-v {m}:{m}:ro" for m in mounts)])
    scratch = directory / "tmp"  # the CDK's temporary configs and catalogs, removed with the folder
    scratch.mkdir(mode=0o755)
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_HOST": docker_socket,
        "RETL_DOCKER_RUN_ARGS": run_args,
        **{name: NO_NETWORK_PROXY for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")},
        "NO_PROXY": "",
        "no_proxy": "",
        # `airbyte-cdk image test` skips the read test unless asked, and has no option to ask; pytest's
        # environment variable passes the suite's: read every scenario that should succeed (named:
        # the CDK 7.39 takes `--read-scenarios=all` for a scenario called "all").
        "PYTEST_ADDOPTS": " ".join(
            ["--read-from-streams=true", *([f"--read-scenarios={','.join(reads)}"] if reads else [])]
        ),
    }
    command = [
        str(BIN / "airbyte-cdk"),
        "image",
        "test",
        str(directory / connector),
        "--image",
        image(connector),
    ]
    started = time.monotonic()
    result = subprocess.run(command, env=env, cwd=directory, capture_output=True, text=True)
    seconds = time.monotonic() - started
    junit = directory / connector / "build" / "test-results" / "standard-tests-junit.xml"
    results = junit_results(junit) if junit.exists() else []
    (directory / "results.json").write_text(
        json.dumps(
            {
                "connector": connector,
                "exit": result.returncode,
                "seconds": round(seconds, 1),
                "results": results,
            },
            indent=2,
        )
    )
    report = "\n".join(f"  {r['outcome']:7} {r['test']} {r['message']}" for r in results)
    print(f"airbyte-cdk image test {connector}: exit {result.returncode} in {seconds:.0f} s\n{report}")
    output = f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"

    assert results, f"no test results ({junit}):\n{output}"
    failed = [r for r in results if r["outcome"] in ("failed", "error")]
    assert result.returncode == 0 and not failed, f"airbyte-cdk image test failed:\n{report}\n{output}"
    passed = {r["test"].split("[")[0] for r in results if r["outcome"] == "passed"}
    assert "test_docker_image_build_and_spec" in passed, report
