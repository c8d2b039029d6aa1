# syntax=docker/dockerfile:1
# The image the Kubernetes work pool runs (flow runs) and the Prefect worker runs in.
#
#   docker build --build-arg MARKET_MAKER_CODE_VERSION="0.1.0+g$(git rev-parse --short=12 HEAD)" \
#     -t registry.example.com/market-maker:0.1.0 .
#
# Layout: the project is installed (market_maker, flows, tasks, cli, local_prefect, demo)
# into /opt/venv, and /opt/market-maker holds flows/, config/ and data/ as in the repository.
# prefect.yaml's pull step sets the working directory there, so `prefect flow-run execute`
# finds every entrypoint (flows/*.py) and the configuration (config/, MARKET_MAKER_CONFIG
# relative to it).
# See docs/operations.md (this file was written without a Docker engine and not built there).

# Pin the patch release; pin the digest too (python:3.11.14-slim-bookworm@sha256:...) when
# your registry policy asks for it.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lib/ lib/
COPY flows/ flows/
COPY tasks/ tasks/
COPY cli/ cli/
COPY local_prefect/ local_prefect/
COPY demo/ demo/
# Runtime dependencies only (no [dev] extra); a regular, not editable, install.
RUN pip install .

FROM ${PYTHON_IMAGE} AS runtime
# git and ssh: the flows clone, pull and push the data repository.
# tini: PID 1 that forwards signals and reaps git's and ssh's children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client tini \
    && rm -rf /var/lib/apt/lists/*
# The uid/gid the work pool's securityContext runs as (runAsUser/fsGroup 10001).
RUN groupadd --gid 10001 market-maker \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/market-maker \
        --shell /usr/sbin/nologin market-maker
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/market-maker
COPY flows/ flows/
COPY config/ config/
COPY data/ data/
COPY prefect.yaml ./

ARG MARKET_MAKER_CODE_VERSION=0.1.0+unknown
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
# production configuration is valid.
RUN python -c "import pathlib, local_prefect.serve as s; s.load_flows(pathlib.Path('prefect.yaml'))" \
    && MARKET_MAKER_CONFIG=config/production.yaml market-maker config show > /dev/null

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["market-maker", "--help"]
