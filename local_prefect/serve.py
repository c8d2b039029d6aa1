"""Serve every deployment of ``prefect.yaml`` in-process, against a local Prefect server.

``make serve`` runs ``python -m local_prefect.serve``: it uses the server ``PREFECT_API_URL``
names, else the project's local server (local_prefect/server.py: its home is
``$PREFECT_HOME``, else the checkout's ``var/prefect``), started here unless it runs. It
builds each deployment of ``prefect.yaml`` with ``flow.to_deployment(...)`` (same names,
schedules, parameters, concurrency limits, descriptions and tags; the work pool and job
variables are for Kubernetes and are ignored) and serves them with ``prefect.serve``. Flow
runs execute as local subprocesses with the embedded default configuration. Ctrl-C stops
serving (Prefect pauses the schedules; the next start resumes them) and the server, if it
was started here. ``make worker`` (local_prefect/worker.py) runs the same deployments the
way production does, through a work pool and a worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from local_prefect import server as local_server_module

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
# The deployment whose schedule follows the collection period (snapshots.period_minutes).
PERIOD_DEPLOYMENT = "hourly-pipeline"
DEFAULT_HOST = local_server_module.HOST


def read_deployment_configs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` of a prefect.yaml, anchors and merge keys resolved."""
    document = yaml.safe_load(path.read_text()) or {}
    deployments = document.get("deployments") or []
    names = [d.get("name") for d in deployments]
    if len(set(names)) != len(names) or None in names:
        raise ValueError(f"{path}: every deployment needs a unique name (got {names})")
    return deployments


def schedule_from_config(config: dict[str, Any]) -> Schedule:
    """A ``prefect.schedules`` object from one entry of a deployment's ``schedules``."""
    from prefect.schedules import Cron, Interval, RRule

    common = {
        key: config[key] for key in ("timezone", "active", "parameters", "slug") if key in config
    }
    if "cron" in config:
        day_or = {"day_or": config["day_or"]} if "day_or" in config else {}
        return Cron(config["cron"], **common, **day_or)
    if "interval" in config:
        anchor = {"anchor_date": config["anchor_date"]} if "anchor_date" in config else {}
        return Interval(config["interval"], **common, **anchor)
    if "rrule" in config:
        return RRule(config["rrule"], **common)
    raise ValueError(f"schedule {config!r} has none of cron, interval, rrule")


def check_cadence(configs: list[dict[str, Any]], period_minutes: int) -> None:
    """The pipeline's cron must run once per collection period: a ValueError naming the
    setting and the cron that would fit otherwise (prefect.yaml is not derived from the
    configuration: it is what ``prefect deploy`` registers)."""
    from market_maker.base.timeutil import cron_period, period_cron

    config = next((c for c in configs if c.get("name") == PERIOD_DEPLOYMENT), None)
    if config is None:
        return
    crons = [s["cron"] for s in config.get("schedules") or [] if "cron" in s]
    for cron in crons:
        cadence = cron_period(cron)
        if cadence is None or cadence[0] != period_minutes:
            offset = cadence[1] % period_minutes if cadence else 5 % period_minutes
            raise ValueError(
                f"prefect.yaml: {PERIOD_DEPLOYMENT} runs on cron {cron!r} but "
                f"snapshots.period_minutes is {period_minutes}: set its cron to "
                f"{period_cron(period_minutes, offset)!r} (or the setting back)"
            )


def _concurrency_limit(value: int | dict[str, Any] | None) -> Any:
    if not isinstance(value, dict):
        return value
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    return ConcurrencyLimitConfig(**value)


def load_flows(path: Path = PREFECT_YAML) -> dict[str, Flow[..., Any]]:
    """The flow behind each deployment of ``path``, by deployment name.

    Entrypoints are relative to the file's directory (the project root). The real flow is
    loaded, never Prefect's placeholder, so a missing dependency fails here.
    """
    from prefect.flows import load_flow_from_entrypoint

    flows = {}
    for config in read_deployment_configs(path):
        entrypoint = str(path.parent / config["entrypoint"])
        flows[config["name"]] = load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)
    return flows


def flow_timeout_of(config: dict[str, Any]) -> float | None:
    """The time limit a deployment sets for its flow (its job variables' env)."""
    env = ((config.get("work_pool") or {}).get("job_variables") or {}).get("env") or {}
    raw = env.get("MARKET_MAKER_FLOW_TIMEOUT_SECONDS")
    return float(raw) if raw is not None else None


def deployment_options(config: dict[str, Any]) -> dict[str, Any]:
    """What ``flow.to_deployment`` takes from one deployment of prefect.yaml: its name,
    schedules, parameters, concurrency limit, description, tags."""
    return {
        "name": config["name"],
        "schedules": [schedule_from_config(s) for s in config.get("schedules") or []],
        "parameters": config.get("parameters") or {},
        "concurrency_limit": _concurrency_limit(config.get("concurrency_limit")),
        "description": config.get("description"),
        "tags": list(config.get("tags") or []),
        "paused": config.get("paused"),
    }


def build_deployments(path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """Every deployment of ``path`` as a runner deployment, ready for ``prefect.serve``."""
    flows = load_flows(path)
    deployments = []
    for config in read_deployment_configs(path):
        flow = flows[config["name"]]
        if (limit := flow_timeout_of(config)) is not None:
            flow = flow.with_options(timeout_seconds=limit)
        deployments.append(flow.to_deployment(**deployment_options(config)))
    return deployments


@contextlib.contextmanager
def local_server(host: str, port: int | None) -> Iterator[str]:
    """The API URL of the project's local Prefect server (local_prefect/server.py): the one
    the ``market-maker`` command left running, or one started here and stopped on exit."""
    url, started = local_server_module.ensure(host, port)
    if not started:
        print(f"Using the local Prefect server already running at {url}")
        yield url
        return
    try:
        print(f"Started a local Prefect server at {url}", flush=True)
        yield url
    finally:
        print(local_server_module.stop())


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(path: Path = PREFECT_YAML) -> None:
    """Serve the deployments of ``path`` until interrupted (Prefect must be configured)."""
    from prefect import serve as prefect_serve

    from market_maker.config import load_settings

    check_cadence(read_deployment_configs(path), load_settings().snapshots.period_minutes)
    deployments = build_deployments(path)
    prefect_serve(*deployments)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_prefect.serve",
        description="Serve every deployment of prefect.yaml against a local Prefect server.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="server address (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help=f"server port (default {local_server_module.PORT_ENV} or 4200)"
    )
    parser.add_argument("--prefect-yaml", type=Path, default=PREFECT_YAML, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # Entrypoints in prefect.yaml are relative to the project root; flow runs start here too.
    os.chdir(PROJECT_ROOT)
    local_server_module.use_home()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "market_maker")
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    try:
        if os.environ.get("PREFECT_API_URL"):
            print(f"Serving against PREFECT_API_URL={os.environ['PREFECT_API_URL']}")
            serve(args.prefect_yaml)
            return 0
        with local_server(args.host, args.port) as api_url:
            # Before Prefect is imported, so its settings (and the flow runs) see it.
            os.environ["PREFECT_API_URL"] = api_url
            print(f"Prefect UI: {local_server_module.ui_url(api_url)}  (Ctrl-C stops serving)")
            serve(args.prefect_yaml)
    except KeyboardInterrupt:
        pass
    except local_server_module.PortTaken as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
