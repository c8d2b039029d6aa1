"""The Kubernetes side, offline: the Job the worker would create, and every manifest.

Objects are validated with kubernetes-validate against the schemas of an older supported
Kubernetes release and of the newest one the package ships.
"""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from pathlib import PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.utilities.templating import apply_values
from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

from tests.deployments.files import (
    DOCKERFILE,
    PRODUCTION_CONFIG,
    TEST_IMAGE,
    base_job_template,
    deployment_config,
    deployment_names,
    manifest,
    manifests,
)

KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
# prefect-kubernetes requires these two Job fields inside the pod template (where the API
# server ignores them), so strict validation runs on a copy without them.
PREFECT_REQUIRED_POD_FIELDS = ("completions", "parallelism")

# Environment variable -> (key in the credentials Secret, optional).
SECRET_ENV = {
    "MARKET_MAKER_EXCHANGE__API_KEY": ("exchange-api-key", True),
    "MARKET_MAKER_EXCHANGE__API_SECRET": ("exchange-api-secret", True),
    "MARKET_MAKER_EXCHANGE__API_PASSPHRASE": ("exchange-api-passphrase", True),
    "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__TOKEN": ("pushover-token", True),
    "MARKET_MAKER_NOTIFICATIONS__PUSHOVER__USER_KEY": ("pushover-user-key", True),
    "MARKET_MAKER_DATA_REPOSITORY__REMOTE_URL": ("data-repository-remote-url", False),
}
GIT_SSH_KEYS = {"ssh-privatekey", "known_hosts"}


def render_job(name: str) -> dict[str, Any]:
    """The Job manifest the worker would submit for a run of deployment ``name``."""
    job_variables = apply_values(deployment_config(name)["work_pool"]["job_variables"], {})
    # A client that cannot connect: rendering must not need the API.
    offline = PrefectClient(api="http://127.0.0.1:9/api")
    configuration = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(
            base_job_template(), job_variables, client=offline
        )
    )
    flow_run = FlowRun(id=uuid.uuid4(), name="tidy-fox", flow_id=uuid.uuid4())
    configuration.prepare_for_flow_run(flow_run)
    return configuration.job_manifest


@pytest.fixture(scope="module", params=deployment_names())
def job(request: pytest.FixtureRequest) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MARKET_MAKER_IMAGE", TEST_IMAGE)
        return render_job(request.param)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(job)["containers"]
    return only


def env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(job)["env"]}


def volume_mount(job: dict[str, Any], volume: str) -> dict[str, Any]:
    return next(m for m in container(job)["volumeMounts"] if m["name"] == volume)


def volume(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in pod_spec(job)["volumes"] if v["name"] == name)


def validate_strictly(document: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_rendered_job_validates_against_the_kubernetes_schema(
    job: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(job, version)
    strict = copy.deepcopy(job)
    for field in PREFECT_REQUIRED_POD_FIELDS:
        pod_spec(strict).pop(field)
    validate_strictly(strict, version)


def test_the_job_runs_the_deployed_image_with_the_flows_configuration(job: dict[str, Any]) -> None:
    assert container(job)["image"] == TEST_IMAGE
    assert container(job)["args"] == ["prefect", "flow-run", "execute"]
    assert env(job)["MARKET_MAKER_CONFIG"]["value"] == "config/production.yaml"
    assert env(job)["PREFECT_LOGGING_EXTRA_LOGGERS"]["value"] == "market_maker"
    assert job["metadata"]["namespace"] == "market-maker"
    assert pod_spec(job)["serviceAccountName"] == "market-maker-flow-run"
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    assert set(container(job)["resources"]) == {"requests", "limits"}


def test_secrets_reach_the_pod_only_as_secret_key_refs(job: dict[str, Any]) -> None:
    variables = env(job)
    for name, (key, optional) in SECRET_ENV.items():
        entry = variables[name]
        assert "value" not in entry, f"{name} carries a literal value"
        reference = entry["valueFrom"]["secretKeyRef"]
        assert reference == {
            "name": "market-maker-credentials",
            "key": key,
            **({"optional": True} if optional else {}),
        }


def test_the_data_pvc_is_mounted_where_the_production_config_puts_the_repository(
    job: dict[str, Any],
) -> None:
    base_path = PurePosixPath(
        yaml.safe_load(PRODUCTION_CONFIG.read_text())["data_repository"]["base_path"]
    )
    mount = PurePosixPath(volume_mount(job, "data")["mountPath"])
    assert mount in base_path.parents
    assert not volume_mount(job, "data").get("readOnly")
    claim = volume(job, "data")["persistentVolumeClaim"]["claimName"]
    assert manifest("PersistentVolumeClaim", claim)["metadata"]["namespace"] == "market-maker"


def test_the_git_ssh_key_is_mounted_read_only_with_mode_0400(job: dict[str, Any]) -> None:
    mount = volume_mount(job, "git-ssh")
    assert mount["readOnly"] is True
    secret = volume(job, "git-ssh")["secret"]
    assert secret["defaultMode"] == 0o400
    assert {item["key"] for item in secret["items"]} == GIT_SSH_KEYS
    ssh = env(job)["GIT_SSH_COMMAND"]["value"]
    assert f"-i {mount['mountPath']}/ssh-privatekey" in ssh
    assert "StrictHostKeyChecking=yes" in ssh
    assert f"UserKnownHostsFile={mount['mountPath']}/known_hosts" in ssh


def test_the_pod_runs_as_the_images_non_root_user(job: dict[str, Any]) -> None:
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert user, "the Dockerfile's final USER must be numeric (uid:gid)"
    pod = pod_spec(job)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(user[1]), int(user[2]))
    assert pod["fsGroup"] == int(user[2])  # the secret volume and the PVC are group-readable
    own = container(job)["securityContext"]
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"] == {"drop": ["ALL"]}
    assert own["readOnlyRootFilesystem"] is True
    assert volume_mount(job, "tmp")["mountPath"] == "/tmp"


def test_the_base_job_template_keeps_every_variable_of_prefects_default() -> None:
    default = KubernetesWorker.get_default_base_job_template()
    ours = base_job_template()
    assert set(default["variables"]["properties"]) <= set(ours["variables"]["properties"])
    assert set(default["job_configuration"]) == set(ours["job_configuration"])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schema(version: str) -> None:
    checked = 0
    for path, document in manifests():
        if document["apiVersion"].startswith("external-secrets.io/"):
            continue  # a CRD: checked below
        try:
            validate_strictly(document, version)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {document['kind']} {document['metadata']['name']}: {exc}")
        checked += 1
    assert checked >= 8


def test_every_object_lives_in_the_market_maker_namespace() -> None:
    for path, document in manifests():
        if document["kind"] == "Namespace":
            assert document["metadata"]["name"] == "market-maker"
        else:
            assert document["metadata"]["namespace"] == "market-maker", path.name


def test_the_worker_role_is_namespace_scoped_and_reads_no_secrets() -> None:
    kinds = {document["kind"] for _, document in manifests()}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    rules = manifest("Role", "prefect-worker")["rules"]
    granted = {
        (group, resource) for r in rules for group in r["apiGroups"] for resource in r["resources"]
    }
    assert {("batch", "jobs"), ("", "pods"), ("", "pods/log"), ("", "events")} <= granted
    assert all(resource not in {"secrets", "*"} for _, resource in granted)
    binding = manifest("RoleBinding", "prefect-worker")
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prefect-worker", "namespace": "market-maker"}
    ]


def test_the_worker_polls_the_pool_and_watches_only_its_namespace() -> None:
    spec = manifest("Deployment", "prefect-worker")["spec"]["template"]["spec"]
    (worker,) = spec["containers"]
    args = worker["args"]
    assert args[:3] == ["prefect", "worker", "start"]
    assert args[args.index("--pool") + 1] == "market-maker"
    assert args[args.index("--type") + 1] == "kubernetes"
    variables = {e["name"]: e for e in worker["env"]}
    assert variables["PREFECT_API_URL"]["valueFrom"]["configMapKeyRef"]["name"] == "prefect-api"
    assert variables["PREFECT_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert (
        variables["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"]["value"] == "market-maker"
    )
    assert spec["serviceAccountName"] == "prefect-worker"
    manifest("ServiceAccount", "market-maker-flow-run")  # the flow runs' identity exists


def test_the_secrets_provide_every_key_the_job_reads() -> None:
    credentials = manifest("Secret", "market-maker-credentials")
    assert {key for key, _ in SECRET_ENV.values()} == set(credentials["stringData"])
    git_ssh = manifest("Secret", "market-maker-git-ssh")
    assert git_ssh["type"] == "kubernetes.io/ssh-auth"
    assert set(git_ssh["stringData"]) == GIT_SSH_KEYS


def test_the_external_secrets_target_the_secrets_the_job_reads() -> None:
    external = {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == "ExternalSecret"}
    assert {"market-maker-credentials", "market-maker-git-ssh"} <= set(external)
    for name, document in external.items():
        spec = document["spec"]
        assert document["apiVersion"] == "external-secrets.io/v1"
        assert spec["target"]["name"] == name
        assert spec["secretStoreRef"]["name"].startswith("REPLACE_ME")
        assert spec["secretStoreRef"]["kind"] in {"SecretStore", "ClusterSecretStore"}
    git_ssh = external["market-maker-git-ssh"]["spec"]
    assert {d["secretKey"] for d in git_ssh["data"]} == GIT_SSH_KEYS
    assert git_ssh["target"]["template"]["type"] == "kubernetes.io/ssh-auth"
    # Absent optional keys stay absent: the whole remote secret is extracted.
    assert external["market-maker-credentials"]["spec"]["dataFrom"][0]["extract"]["key"]
