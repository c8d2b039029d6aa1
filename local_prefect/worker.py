"""Run the deployments locally as production runs them: a work pool and a worker.

``make worker`` runs ``python -m local_prefect.worker``:

1. the Prefect server: the one ``PREFECT_API_URL`` names, else the project's local server
   (local_prefect/server.py), started unless it runs, and left running for the commands;
2. the work pool ``market-maker-local`` (``--pool``), of Prefect's ``process`` type with its
   default base job template, created or updated;
3. every deployment of ``prefect.yaml`` registered to it with the same names, schedules,
   parameters, concurrency limits, descriptions and tags; their job variables are the
   deployment's environment (the flow's time limit, heartbeats, log forwarding) without
   ``MARKET_MAKER_CONFIG``, so the flow runs take the configuration of the worker's
   environment (the embedded default unless you set one); the pull step sets the working
   directory to this checkout instead of the image's ``/opt/market-maker``;
4. ``prefect worker start --pool market-maker-local --type process``: every flow run, scheduled
   or started from the UI, the CLI, CI or another flow (a sweep's points, the pipeline's
   groups), is a subprocess of the worker, as on Kubernetes each is a pod.

Ctrl-C stops the worker; the server keeps running (``market-maker server stop``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_prefect import server as local_server
from local_prefect.serve import (
    PREFECT_YAML,
    PROJECT_ROOT,
    check_cadence,
    deployment_options,
    load_flows,
    read_deployment_configs,
)
from market_maker.base.errors import ConfigurationError

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

POOL = "market-maker-local"
POOL_TYPE = "process"
# Set by the deployment for the cluster; locally the worker's environment decides.
CLUSTER_ONLY_ENV = ("MARKET_MAKER_CONFIG",)


def local_env(config: dict[str, Any]) -> dict[str, str]:
    """A deployment's environment for a local flow run: prefect.yaml's, the cluster's
    configuration file left out."""
    env = ((config.get("work_pool") or {}).get("job_variables") or {}).get("env") or {}
    return {k: str(v) for k, v in env.items() if k not in CLUSTER_ONLY_ENV}


def ensure_pool(name: str = POOL) -> None:
    """The process work pool, created or brought back to Prefect's default template."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(
                WorkPoolCreate(name=name, type=POOL_TYPE, base_job_template=template)
            )
        except ObjectAlreadyExists:
            pool = client.read_work_pool(name)
            if pool.type != POOL_TYPE:
                raise ConfigurationError(
                    f"work pool {name} exists with type {pool.type}, not {POOL_TYPE}: "
                    "name another pool with --pool"
                ) from None
            client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))


def local_deployments(pool: str = POOL, path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """Every deployment of ``path`` as it is registered to the local pool."""
    from prefect.runner.storage import LocalStorage

    flows = load_flows(path)
    out = []
    for config in read_deployment_configs(path):
        deployment = flows[config["name"]].to_deployment(
            **deployment_options(config),
            work_pool_name=pool,
            job_variables={"env": local_env(config)},
        )
        deployment.entrypoint = config["entrypoint"]
        deployment.storage = LocalStorage(str(path.parent))
        out.append(deployment)
    return out


def register(pool: str = POOL, path: Path = PREFECT_YAML) -> list[str]:
    """Create or update the pool and every deployment on it; their full names."""
    from prefect.settings import PREFECT_API_URL

    from market_maker.config import load_settings

    check_cadence(read_deployment_configs(path), load_settings().snapshots.period_minutes)
    ensure_pool(pool)
    names = []
    for deployment in local_deployments(pool, path):
        deployment.apply()
        names.append(f"{deployment.flow_name}/{deployment.name}")
    print(f"{len(names)} deployment(s) on work pool {pool} at {PREFECT_API_URL.value()}")
    return names


def worker_command(pool: str, limit: int | None) -> list[str]:
    prefect = str(Path(sys.executable).with_name("prefect"))
    command = [prefect, "worker", "start", "--pool", pool, "--type", POOL_TYPE]
    return [*command, "--limit", str(limit)] if limit else command


def _environment() -> str:
    """Prefect's settings for this process and the worker it becomes; the API URL."""
    local_server.use_home()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "market_maker")
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    url, started = local_server.ensure()
    what = "started" if started else "using"
    print(f"{what} the local Prefect server, UI at {local_server.ui_url(url)}", flush=True)
    os.environ["PREFECT_API_URL"] = url  # before Prefect is imported
    return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make worker",
        description="Register every deployment of prefect.yaml on a local process work pool "
        "and start a worker on it.",
    )
    parser.add_argument("--pool", default=POOL, help=f"work pool name ({POOL})")
    parser.add_argument("--limit", type=int, help="flow runs at once (default: no limit)")
    parser.add_argument(
        "--register-only", action="store_true", help="register, do not start the worker"
    )
    parser.add_argument("--prefect-yaml", type=Path, default=PREFECT_YAML, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.chdir(PROJECT_ROOT)  # entrypoints are relative to the project root
    try:
        _environment()
        register(args.pool, args.prefect_yaml)
    except (ConfigurationError, RuntimeError, OSError) as exc:
        print(f"make worker: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigurationError) else 1
    if args.register_only:
        return 0
    command = worker_command(args.pool, args.limit)
    print(f"starting: prefect {' '.join(command[1:])}  (Ctrl-C stops the worker)", flush=True)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(command[0], command)  # the worker takes this process's place (and its signals)
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
