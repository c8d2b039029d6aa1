"""The deployment files under test, read the way Prefect and kubectl read them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import PROJECT_ROOT

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
BASE_JOB_TEMPLATE = PROJECT_ROOT / "deployments/work-pool/base-job-template.json"
KUBERNETES_DIR = PROJECT_ROOT / "deployments/kubernetes"
CI_DIR = PROJECT_ROOT / "deployments/ci"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
PRODUCTION_CONFIG = PROJECT_ROOT / "config/production.yaml"

WORK_POOL = "market-maker"
TEST_IMAGE = "registry.example.com/market-maker:test"


def prefect_yaml() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text())


def deployment_configs() -> list[dict[str, Any]]:
    return prefect_yaml()["deployments"]


def deployment_names() -> list[str]:
    return [config["name"] for config in deployment_configs()]


def deployment_config(name: str) -> dict[str, Any]:
    return next(config for config in deployment_configs() if config["name"] == name)


def base_job_template() -> dict[str, Any]:
    return json.loads(BASE_JOB_TEMPLATE.read_text())


def manifest_files() -> list[Path]:
    return sorted(KUBERNETES_DIR.rglob("*.yaml"))


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under deployments/kubernetes/, with its file."""
    return [
        (path, document)
        for path in manifest_files()
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def manifest(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} under {KUBERNETES_DIR}, found {len(found)}"
    return found[0]


def dockerfile_final_stage() -> str:
    """The Dockerfile's last stage (after its last FROM)."""
    text = DOCKERFILE.read_text()
    return text[[m.start() for m in re.finditer(r"^FROM ", text, re.MULTILINE)][-1] :]
