# Everything a fresh machine with Python 3.11 needs: `make demo` and `make test`.
# uv is installed into .tools/ when it is not on PATH; the workspace is synced from uv.lock.

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
PACKAGES := shared/retl_shared source-warehouse-model/source_warehouse_model \
	destination-webhook/destination_webhook destination-hubspot/destination_hubspot \
	destination-customerio/destination_customerio destination-clarify/destination_clarify

.PHONY: setup lint typecheck test pyairbyte-test demo bench clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode compiled once: without it every connector process compiles each module it imports (uv does
# not compile by default, and PYTHONDONTWRITEBYTECODE stops Python caching it), which doubles start-up.
setup: $(UV)
	$(UV) sync --all-packages --locked --python 3.11 --quiet --compile-bytecode
	$(RUN) python -m compileall -q $(PACKAGES)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy $(PACKAGES)

test: lint typecheck
	$(RUN) pytest

# PyAirbyte (Airbyte's Python client) runs the connectors as local executables: tests/pyairbyte/smoke.py,
# in an environment of its own (.pyairbyte/), since PyAirbyte's pins conflict with the workspace's.
PYAIRBYTE_ENV := .pyairbyte

pyairbyte-test: setup
	$(UV) venv --quiet --allow-existing --python 3.11 $(PYAIRBYTE_ENV)
	$(UV) pip sync --quiet --python $(PYAIRBYTE_ENV)/bin/python tests/pyairbyte/requirements.txt
	$(PYAIRBYTE_ENV)/bin/python tests/pyairbyte/smoke.py

demo: setup
	$(RUN) python -m tests.demo

bench: setup
	$(RUN) python -m tests.bench

clean:
	rm -rf .venv .tools .demo .bench .pyairbyte .pytest_cache .mypy_cache .ruff_cache

# Connector images (.ci/containers/). `make images` builds all five with docker when a Docker engine
# answers, else podman; IMAGE_ENGINE=docker|podman and IMAGE_BASE=airbyte|local override that
# (airbyte: the Dockerfiles' defaults, Airbyte's base and PyPI; local: offline, a debootstrap base
# and wheels built on the host; the default is airbyte with docker, local with podman).
# `make image-test` builds them offline with podman (installing podman from Debian when missing, as
# root) and runs tests/images: the image contract, each command in the containers, syncs between
# them against the fake APIs, and `airbyte-cdk image test`.
IMAGE_ENGINE ?= auto
IMAGE_BASE ?= auto

.PHONY: images image-test

images: $(UV)
	UV=$(UV) bash .ci/containers/build-images.sh --engine $(IMAGE_ENGINE) --base $(IMAGE_BASE)

image-test: setup
	UV=$(UV) bash .ci/containers/build-images.sh --engine podman --base local
	UV=$(UV) $(RUN) python -m tests.images.run_image_tests
