"""Run the connector images with podman, set up as .ci/containers/ sets it up, and read their messages.

The environment (podman's settings and storage under ``.images/``) comes from
``.ci/containers/env.sh`` itself, so the scripts that build the images and the tests that run them
cannot disagree about where the images are.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).parents[2]
ENV_SCRIPT = REPO / ".ci" / "containers" / "env.sh"
CONNECTORS = (
    "source-warehouse-model",
    "destination-webhook",
    "destination-hubspot",
    "destination-customerio",
    "destination-clarify",
)
# Where a container's working directory is (the Dockerfiles' WORKDIR).
WORKDIR = "/airbyte/integration_code"


@cache
def podman_env() -> dict[str, str]:
    """This process's environment plus what env.sh exports (CONTAINERS_CONF, IMAGES_DIR, …)."""
    out = subprocess.run(
        ["bash", "-c", f'source "{ENV_SCRIPT}" && env -0'], check=True, capture_output=True
    ).stdout
    pairs = (item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return dict(pairs)


def images_dir() -> Path:
    return Path(podman_env()["IMAGES_DIR"])


@cache
def metadata(connector: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / connector / "metadata.yaml").read_text())["data"]
    return data


def image(connector: str, tag: str = "dev") -> str:
    """The image `make images` builds for a connector, by the fully qualified name podman stores."""
    return f"localhost/{metadata(connector)['dockerRepository']}:{tag}"


def podman(*args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["podman", *args], env=podman_env(), check=check, capture_output=True, input=input)


def inspect(image_name: str) -> dict[str, Any]:
    result: list[dict[str, Any]] = json.loads(podman("image", "inspect", image_name).stdout)
    return result[0]


@dataclass
class Run:
    """A connector command's exit code and output: the Airbyte messages on stdout, logs on stderr."""

    code: int
    stdout: bytes
    stderr: bytes
    messages: list[dict[str, Any]] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)  # stdout lines that are not JSON objects

    def __post_init__(self) -> None:
        for line in self.stdout.decode(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                self.stray.append(line)
                continue
            if isinstance(message, dict):
                self.messages.append(message)
            else:
                self.stray.append(line)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD")]

    def connection_status(self) -> str | None:
        statuses = self.of_type("CONNECTION_STATUS")
        return statuses[-1]["connectionStatus"]["status"] if statuses else None

    def describe(self) -> str:
        """Enough of the output to tell why an assertion failed."""
        tail = self.stderr.decode(errors="replace")[-3000:]
        errors = "; ".join(str(e.get("message")) for e in self.errors)
        return f"exit {self.code}; errors: {errors or 'none'}; stray: {self.stray[:5]}; stderr tail:\n{tail}"


def run_connector(
    connector: str,
    *args: str,
    mounts: Sequence[Path] = (),
    stdin: bytes | None = None,
    extra: Sequence[str] = (),
) -> Run:
    """``podman run`` the connector's image with ``args`` (its command line), as the platform would.

    Each of ``mounts`` is bind-mounted at the same path, so configs and warehouses are named by their
    host paths. ``--network host`` lets the container reach the fake APIs on the host's 127.0.0.1.
    """
    command = ["run", "--rm", "--network", "host"]
    if stdin is not None:
        command.append("-i")
    for path in mounts:
        command += ["-v", f"{path}:{path}"]
    result = podman(*command, *extra, image(connector), *args, check=False, input=stdin)
    return Run(result.returncode, result.stdout, result.stderr)


def container_command(connector: str, mounts: Sequence[Path]) -> str:
    """The connector's image as a command line for ``retl run`` (it appends the connector's arguments)."""
    volumes = " ".join(f"-v {path}:{path}" for path in mounts)
    return f"podman run --rm -i --network host {volumes} {image(connector)}"


def workdir(name: str) -> Path:
    """A fresh folder under .images/test/ that the containers' user (uid 1000) can read.

    pytest's tmp_path is private to root (mode 0700), so a container running as `airbyte` could not
    open the configs and warehouses put there.
    """
    path = images_dir() / "test" / name
    subprocess.run(["rm", "-rf", str(path)], check=True)
    path.mkdir(parents=True)
    for directory in (path, path.parent):
        directory.chmod(0o755)
    return path
