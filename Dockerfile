# syntax=docker/dockerfile:1
# The image the Kubernetes work pool runs (flow runs) and the Prefect worker runs in.
#
#   make image                      # docker, else buildah, else podman; see docs/operations.md
#   docker build --build-arg MARKET_MAKER_CODE_VERSION="0.1.0+g$(git rev-parse --short=12 HEAD)" \
#     -t registry.example.com/market-maker:0.1.0 .
#
# Layout: the project is installed (market_maker, flows, tasks, cli, local_prefect, demo) into
# /opt/venv from the lock
# deployments/image/requirements.txt, and /opt/market-maker holds flows/, config/ and data/ as
# in the repository. prefect.yaml's pull step sets the working directory there, so
# `prefect flow-run execute` finds every entrypoint (flows/*.py) and the configuration
# (config/, MARKET_MAKER_CONFIG relative to it). What the embedded default writes (var/ of the
# project: the data repository, its bare remote, demo.log) goes to /var/lib/market-maker, the
# one writable path a read-only container needs besides /tmp (docs/operations.md, section 1).

# Pin the patch release; pin the digest too (python:3.11.14-slim-bookworm@sha256:...) when
# your registry policy asks for it. Any Debian-based Python 3.11 with `python` on PATH and
# the venv module will do (deployments/image/local-base.sh makes one without a registry).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Your own package index, as pip reads it (only this stage sees them; the image keeps none):
#   --build-arg PIP_INDEX_URL=https://pypi.example.com/simple [--build-arg PIP_TRUSTED_HOST=...]
# An index that needs credentials, or a CA of your own, as BuildKit secrets (never in a layer):
#   --secret id=pip_conf,src=pip.conf    a pip.conf (index-url with credentials, ...)
#   --secret id=pip_ca,src=ca-bundle.pem the CA bundle pip verifies the index with
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_TRUSTED_HOST=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1
RUN python -m venv /opt/venv
# Every dependency and the build backend, at the versions and hashes of the lock; wheels only,
# so the build needs no compiler and installs the same files every time. --no-deps: the lock
# is complete by construction (pip's own resolver would refetch a package a dependency names
# with extras, sqlalchemy[asyncio]); `pip check` below proves it is consistent.
COPY deployments/image/requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=pip_ca \
    set -eu; \
    [ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL; \
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] || unset PIP_EXTRA_INDEX_URL; \
    [ -n "${PIP_TRUSTED_HOST:-}" ] || unset PIP_TRUSTED_HOST; \
    if [ -s /run/secrets/pip_conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip_conf; fi; \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    /opt/venv/bin/pip install --require-hashes --only-binary=:all: --no-deps --progress-bar off \
        -r /tmp/requirements.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lib/ lib/
COPY flows/ flows/
COPY tasks/ tasks/
COPY cli/ cli/
COPY local_prefect/ local_prefect/
COPY demo/ demo/
# The project itself: a regular (not editable) install, built offline with the locked
# setuptools; its runtime dependencies only (no [dev] extra), already installed above.
# Then what the runtime does not need: the build backend, pip itself, the packages' own
# test suites (numpy's, scipy's, matplotlib's: about 55 MB). Byte code is kept: the root
# filesystem is read-only in the pod, and without it every flow run would compile Prefect.
RUN /opt/venv/bin/pip install --no-index --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes --quiet setuptools \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip \
    && site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && find "$site/numpy" "$site/scipy" "$site/matplotlib" -type d -name tests -prune \
        -exec rm -rf {} +

FROM ${PYTHON_IMAGE} AS runtime
# git and ssh: the flows clone, pull and push the data repository.
# tini: PID 1 that forwards signals and reaps git's and ssh's children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
        /var/log/apt /var/log/dpkg.log
# The uid/gid the work pool's securityContext runs as (runAsUser/fsGroup 10001). The state
# directory belongs to it, and to group 0 for a platform that runs images under another uid
# with gid 0.
RUN groupadd --gid 10001 market-maker \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home \
        --home-dir /home/market-maker --shell /usr/sbin/nologin market-maker \
    && install -d -o 10001 -g 0 -m 0775 /var/lib/market-maker
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/market-maker
COPY flows/ flows/
COPY config/ config/
COPY data/ data/
COPY prefect.yaml ./
# The embedded default's paths (var/data-repo, var/data-remote.git, var/demo.log) are relative
# to this directory, which stays read-only: var/ points to the state directory.
RUN ln -s /var/lib/market-maker var

ARG MARKET_MAKER_CODE_VERSION=0.1.0+unknown
# PREFECT_HOME and MPLCONFIGDIR under /tmp: the pod mounts an emptyDir there; each uid
# creates its own on first use (nothing of them is in the image).
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/market-maker \
    PREFECT_HOME=/tmp/prefect \
    MPLCONFIGDIR=/tmp/matplotlib \
    MARKET_MAKER_CONFIG_DIR=/opt/market-maker/config \
    MARKET_MAKER_CODE_VERSION=${MARKET_MAKER_CODE_VERSION}
USER 10001:10001

# Fail the build, not the first flow run: every entrypoint of prefect.yaml loads, and the
# production configuration is valid. Prefect's home for the check is a throwaway directory,
# and the build fails if the check leaves anything in /tmp or the state directory.
RUN export PREFECT_HOME="$(mktemp -d)" MPLCONFIGDIR="$(mktemp -d)" \
    && python -c "import pathlib, local_prefect.serve as s; s.load_flows(pathlib.Path('prefect.yaml'))" \
    && MARKET_MAKER_CONFIG=config/production.yaml market-maker config show > /dev/null \
    && rm -rf "$PREFECT_HOME" "$MPLCONFIGDIR" \
    && leftovers="$(find /tmp /var/lib/market-maker -mindepth 1)" \
    && { [ -z "$leftovers" ] || { echo "the build check left: $leftovers" >&2; exit 1; }; }

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["market-maker", "--help"]
