"""Real Helm against the real API server: install the quickstart chart (its pre-install hooks
run, the hook Job's pod is completed on the kwok node while helm waits), upgrade the image
tag (the workloads roll), uninstall (the data PVC and the in-cluster Secrets stay)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from constructs_lib.render.atomic import write_trees
from constructs_lib.render.pipeline import synthesize
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from tests.conftest import REPO, _tool_dir
from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import finish
from tests.k8s.test_controlplane import wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(600)]

NAMESPACE = "helm-quickstart"
RELEASE = "quickstart"


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = synthesize([REPO / "apps" / "quickstart.py"], DEFAULT_KUBERNETES_VERSION)
    write_trees(out, result.trees, prune=False)
    return out / "quickstart" / "helm"


@contextmanager
def hook_pods_completed(plane: ControlPlane, namespace: str) -> Iterator[list[str]]:
    """While the block runs, complete every Job pod that comes up (kwok keeps pods Running
    until a test labels them), as the real bootstrap Job would finish."""
    core = client.CoreV1Api(plane.api_client())
    finished: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.3):
            try:
                pods = core.list_namespaced_pod(
                    namespace, label_selector="batch.kubernetes.io/job-name"
                )
            except ApiException:
                continue
            for pod in pods.items:
                labels = pod.metadata.labels or {}
                if pod.status.phase == "Running" and "kwok-test/finish" not in labels:
                    finish(plane, namespace, pod.metadata.name)
                    finished.append(pod.metadata.name)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield finished
    finally:
        stop.set()
        thread.join(timeout=5)


def helm(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(_tool_dir() / "helm"), "--kubeconfig", str(plane.kubeconfig), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_install_upgrade_uninstall(control_plane: ControlPlane, chart: Path) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    apps = client.AppsV1Api(control_plane.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    # what the secrets bootstrap creates in-cluster (kwok runs no container): a Secret that is
    # not part of the release
    core.create_namespaced_secret(
        NAMESPACE,
        {"metadata": {"name": "quickstart-launcher-token"}, "stringData": {"token": "x" * 32}},
    )

    with hook_pods_completed(control_plane, NAMESPACE) as finished:
        installed = helm(
            control_plane, "install", RELEASE, str(chart), "-n", NAMESPACE, "--timeout", "3m"
        )
    assert finished, "the pre-install hook Job never ran"
    assert "STATUS: deployed" in installed.stdout
    assert f"kubectl port-forward -n {NAMESPACE} svc/quickstart 3100" in installed.stdout
    job = client.BatchV1Api(control_plane.api_client()).read_namespaced_job(
        "quickstart-secrets-bootstrap", NAMESPACE
    )
    assert job.status.succeeded == 1
    statefulset = apps.read_namespaced_stateful_set("quickstart", NAMESPACE)
    first_revision = wait_for(
        "the StatefulSet's revision",
        lambda: apps.read_namespaced_stateful_set("quickstart", NAMESPACE).status.update_revision,
    )
    assert statefulset.spec.template.spec.containers[0].image.endswith(":2026.1106.0")

    with hook_pods_completed(control_plane, NAMESPACE) as finished:
        helm(
            control_plane,
            "upgrade",
            RELEASE,
            str(chart),
            "-n",
            NAMESPACE,
            "--timeout",
            "3m",
            "--set",
            "image.tag=2026.1201.0",
        )
    assert finished, "the pre-upgrade hook Job never ran"
    statefulset = apps.read_namespaced_stateful_set("quickstart", NAMESPACE)
    assert statefulset.spec.template.spec.containers[0].image.endswith(":2026.1201.0")
    wait_for(
        "a new StatefulSet revision",
        lambda: (
            apps.read_namespaced_stateful_set("quickstart", NAMESPACE).status.update_revision
            not in (None, first_revision)
        ),
    )
    # the agent template runs the server image, so the launcher's config changed: it rolls
    wait_for(
        "a second launcher ReplicaSet",
        lambda: (
            len(
                apps.list_namespaced_replica_set(
                    NAMESPACE, label_selector="app.kubernetes.io/component=launcher"
                ).items
            )
            == 2
        ),
    )
    history = helm(control_plane, "history", RELEASE, "-n", NAMESPACE)
    assert "upgrade-" not in history.stderr and len(history.stdout.strip().splitlines()) == 3

    helm(control_plane, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "2m")
    wait_for(
        "the release's StatefulSet to go",
        lambda: not apps.list_namespaced_stateful_set(NAMESPACE).items,
    )
    claims = {
        c.metadata.name for c in core.list_namespaced_persistent_volume_claim(NAMESPACE).items
    }
    assert "quickstart-data" in claims, "helm uninstall must keep the data volume"
    secrets = {s.metadata.name for s in core.list_namespaced_secret(NAMESPACE).items}
    assert "quickstart-launcher-token" in secrets, "in-cluster Secrets must survive uninstall"
