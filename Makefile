# Every target sets up what it needs: a virtual environment in .venv with the
# project installed (editable) with its test dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Keep Prefect local, quiet and offline unless the caller points it elsewhere.
export PREFECT_HOME ?= $(CURDIR)/var/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: demo test lint format serve worker bench clean image image-test image-lock

# setuptools notes "Editable installation ... folders with the same name as your package" for
# every editable install of a layout like this one (lib/ beside the top-level packages):
# information, not a warning about the project, so it is not shown.
$(STAMP): pyproject.toml
	mkdir -p "$(PREFECT_HOME)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p "$(PREFECT_HOME)"
	$(BIN)/market-maker demo

test: $(STAMP)
	mkdir -p "$(PREFECT_HOME)"
	.ci/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A local Prefect server (database under $(PREFECT_HOME), UI on http://127.0.0.1:4200) and
# every deployment of prefect.yaml served in-process. The server the market-maker commands
# started is reused (and left running); one started here stops with Ctrl-C.
serve: $(STAMP)
	$(BIN)/python -m local_prefect.serve

# Production's way, locally: the local Prefect server (or the one PREFECT_API_URL names), the
# work pool market-maker-local of Prefect's process type, every deployment of prefect.yaml
# registered to it (pull step: this checkout), and a worker on it; each flow run is a
# subprocess of the worker. Ctrl-C stops the worker, the server keeps running.
# WORKER_ARGS="--limit 2" caps the flow runs at once; "--pool NAME" names another pool.
worker: $(STAMP)
	mkdir -p "$(PREFECT_HOME)"
	$(BIN)/python -m local_prefect.worker $(WORKER_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/backfill_validation.py

# The container image (Dockerfile; docs/operations.md, section 1): built with Docker where a
# Docker engine answers, else buildah, else podman. PYTHON_IMAGE overrides the base, e.g.
# `make image PYTHON_IMAGE=localhost/python:3.11-bookworm-local` (deployments/image/local-base.sh
# makes that one where no registry can be reached); IMAGE names the result.
IMAGE ?= market-maker:dev
image:
	IMAGE="$(IMAGE)" PYTHON_IMAGE="$(PYTHON_IMAGE)" deployments/image/image.sh build

# Build it, then run `market-maker demo` inside it as a pod would: read-only root filesystem,
# uid 10001, tmpfs on /tmp and /var/lib/market-maker. Fails when the demo fails.
image-test: image
	IMAGE="$(IMAGE)" deployments/image/image.sh test

# The image installs deployments/image/requirements.txt, never what resolves on the day.
# After changing pyproject.toml's dependencies: `make image-lock` (keeps every other pin);
# to move to newer releases: `make image-lock LOCK_FLAGS=--upgrade` (or
# LOCK_FLAGS="--upgrade-package numpy"). Needs uv (pip install uv).
UV ?= uv
LOCK_FLAGS ?=
image-lock:
	$(UV) pip compile pyproject.toml deployments/image/build-requirements.in \
		--universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make image-lock" $(LOCK_FLAGS) \
		--output-file deployments/image/requirements.txt

clean:
	# The local Prefect server the commands started keeps its database under var/: stop it first.
	-test -x $(BIN)/market-maker && $(BIN)/market-maker server stop
	rm -rf $(VENV) var .pytest_cache .ruff_cache
