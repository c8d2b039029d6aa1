"""No secret value in prefect.yaml, the work pool's template, the manifests or the CI files."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deployments.files import (
    BASE_JOB_TEMPLATE,
    CI_DIR,
    PREFECT_YAML,
    base_job_template,
    manifest_files,
    manifests,
    prefect_yaml,
)

# Names of variables that carry credentials.
SECRET_NAME = re.compile(
    r"API_KEY|API_SECRET|PASSPHRASE|TOKEN|USER_KEY|PASSWORD|AUTH_STRING|PRIVATE|REMOTE_URL"
)
# Settings that name a Kubernetes Secret or one of its keys, not a credential.
SECRET_REFERENCE_SETTING = re.compile(r"_SECRET_(NAME|KEY)$")
KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
# A GitHub Actions reference to a repository or environment secret.
ACTIONS_SECRET = re.compile(r"^\$\{\{\s*secrets\.[A-Z0-9_]+\s*\}\}$")
PLACEHOLDER = "REPLACE_ME"

# Shapes of real key material.
KEY_MATERIAL = {
    "PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "OpenSSH public or host key": re.compile(r"\b(ssh-(ed25519|rsa)|ecdsa-sha2-\S+) AAAA"),
    "long base64 blob": re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/]{40,}={0,2}"),
    "Prefect API key": re.compile(r"\bpn[ub]_[A-Za-z0-9]{20,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    "hex key (KuCoin-style)": re.compile(r"\b[0-9a-f]{24,}\b"),
    "UUID (KuCoin secret-style)": re.compile(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
    ),
}


def scanned_files() -> list[Path]:
    return [PREFECT_YAML, BASE_JOB_TEMPLATE, *manifest_files(), *sorted(CI_DIR.iterdir())]


def env_entries(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``{name: ..., value: ...}`` mapping in a document, however deep."""
    if isinstance(node, dict):
        if isinstance(node.get("name"), str) and "value" in node:
            yield node
        for child in node.values():
            yield from env_entries(child)
    elif isinstance(node, list):
        for child in node:
            yield from env_entries(child)


def env_mappings(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``env:`` mapping (Prefect's job-variable form, name -> value)."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "env" and isinstance(child, dict):
                yield child
            yield from env_mappings(child)
    elif isinstance(node, list):
        for child in node:
            yield from env_mappings(child)


def literal_secret(name: str, value: object) -> bool:
    if not SECRET_NAME.search(name):
        return False
    if isinstance(value, str) and ACTIONS_SECRET.match(value):
        return False
    if SECRET_REFERENCE_SETTING.search(name):
        return not (isinstance(value, str) and KUBERNETES_NAME.match(value))
    return True


@pytest.mark.parametrize("path", scanned_files(), ids=lambda p: p.name)
def test_no_file_holds_key_material(path: Path) -> None:
    text = path.read_text()
    for shape, pattern in KEY_MATERIAL.items():
        found = pattern.search(text)
        assert not found, f"{path.name}: looks like a {shape}: {found.group(0)[:12]}..."


def test_no_secret_variable_carries_a_literal_value() -> None:
    workflows = [yaml.safe_load(path.read_text()) for path in sorted(CI_DIR.glob("*.yml"))]
    assert workflows
    documents = [prefect_yaml(), base_job_template(), *(d for _, d in manifests()), *workflows]
    for document in documents:
        for entry in env_entries(document):
            assert not literal_secret(entry["name"], entry["value"]), entry["name"]
        for mapping in env_mappings(document):
            for name, value in mapping.items():
                assert not literal_secret(name, value), name


def test_job_variables_set_plain_settings_only() -> None:
    for deployment in prefect_yaml()["deployments"]:
        env = deployment["work_pool"]["job_variables"].get("env", {})
        assert not [name for name in env if SECRET_NAME.search(name)], deployment["name"]


def test_secret_manifests_hold_only_marked_placeholders() -> None:
    secrets = [(path, d) for path, d in manifests() if d["kind"] == "Secret"]
    assert secrets
    for path, secret in secrets:
        assert "EXAMPLE ONLY" in path.read_text()
        values = dict(secret.get("stringData") or {})
        for key, encoded in (secret.get("data") or {}).items():
            values[key] = base64.b64decode(encoded).decode()
        for key, value in values.items():
            assert value.startswith(PLACEHOLDER), f"{path.name}: {key} is not a placeholder"
