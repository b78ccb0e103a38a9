"""On the real control plane: server-side dry-run of all of dist/, the quickstart applied
for real, and the Job path (pod, logs, follow, completion, TTL clean-up)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from constructs_lib.spec.crds import is_pinned
from tests.conftest import REPO, load_yaml_file
from tests.controlplane.cluster import NODE_NAME, ControlPlane, pinned_versions, running
from tests.controlplane.crds import crd_manifests

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]

FIELD_MANAGER = "paperclip-gitops-tests"


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except ApiException as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({last})")


def ensure_namespace(plane: ControlPlane, name: str) -> None:
    core = client.CoreV1Api(plane.api_client())
    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    # the ServiceAccount controller in kube-controller-manager creates `default`
    wait_for(
        f"the default ServiceAccount in {name}",
        lambda: core.read_namespaced_service_account("default", name),
    )


def dist_objects() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for kustomization in sorted((REPO / "dist").glob("*/kustomize/kustomization.yaml")):
        [listing] = load_yaml_file(kustomization)
        for name in listing["resources"]:
            path = kustomization.parent / name
            found += [(path, obj) for obj in load_yaml_file(path)]
    return found


def apply(plane: ControlPlane, obj: dict[str, Any], *, dry_run: bool) -> Any:
    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": True}
    if dry_run:
        kwargs["dry_run"] = "All"
    namespace = obj["metadata"].get("namespace")
    return resource.server_side_apply(body=obj, namespace=namespace, **kwargs)


def install_crds(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    """Install the CRDs among ``objects`` and the real pinned CRD of every non-core kind used
    by them (constructs_lib.spec.crds), wait until each is Established and served."""
    api = client.ApiextensionsV1Api(plane.api_client())
    used = {(o["apiVersion"], o["kind"]) for o in objects}
    pinned = crd_manifests(sorted(k for k in used if is_pinned(*k)))
    for crd in [o for o in objects if o["kind"] == "CustomResourceDefinition"] + pinned:
        apply(plane, crd, dry_run=False)
        wait_for(
            f"CRD {crd['metadata']['name']} Established",
            lambda c=crd: any(
                cond.type == "Established" and cond.status == "True"
                for cond in (
                    api.read_custom_resource_definition(c["metadata"]["name"]).status.conditions
                    or []
                )
            ),
        )
    discovery = dynamic.DynamicClient(plane.api_client()).resources
    for api_version, kind in sorted(k for k in used if is_pinned(*k)):

        def served(api_version: str = api_version, kind: str = kind) -> bool:
            discovery.invalidate_cache()
            try:
                discovery.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                return False
            return True

        wait_for(f"{api_version} {kind} in discovery", served)


def test_every_object_in_dist_passes_server_side_dry_run(control_plane: ControlPlane) -> None:
    objects = dist_objects()
    assert len(objects) >= 10
    install_crds(control_plane, [o for _, o in objects])
    for namespace in sorted(
        {o["metadata"]["namespace"] for _, o in objects if "namespace" in o["metadata"]}
    ):
        ensure_namespace(control_plane, namespace)
    rejected = []
    for path, obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        try:
            answer = apply(control_plane, obj, dry_run=True)
        except ApiException as exc:
            rejected.append(
                f"{path.relative_to(REPO)} ({obj['kind']} "
                f"{obj['metadata']['name']}): {exc.status} {exc.body}"
            )
            continue
        assert answer.metadata.name == obj["metadata"]["name"]
    assert not rejected, "the API server rejected:\n" + "\n".join(rejected)


def test_quickstart_runs_on_the_kwok_node(control_plane: ControlPlane) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    apps = client.AppsV1Api(control_plane.api_client())
    objects = [o for p, o in dist_objects() if p.parts[-3] == "quickstart"]
    namespace = objects[0]["metadata"]["namespace"]
    ensure_namespace(control_plane, namespace)
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    for claim in claims:  # no provisioner here: one matching volume per claim
        core.create_persistent_volume(
            {
                "metadata": {"name": f"{claim['metadata']['name']}-pv"},
                "spec": {
                    "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                    "accessModes": claim["spec"]["accessModes"],
                    "hostPath": {"path": f"/tmp/{claim['metadata']['name']}"},
                    "claimRef": {"namespace": namespace, "name": claim["metadata"]["name"]},
                },
            }
        )
    for obj in objects:
        apply(control_plane, obj, dry_run=False)
    wait_for(
        "the data claim to bind",
        lambda: (
            core.read_namespaced_persistent_volume_claim(
                claim["metadata"]["name"], namespace
            ).status.phase
            == "Bound"
        ),
    )
    pod = wait_for("pod quickstart-0", lambda: core.read_namespaced_pod("quickstart-0", namespace))
    assert pod.metadata.labels["app.kubernetes.io/component"] == "server"
    ready = wait_for(
        "quickstart-0 Running and Ready",
        lambda: (
            (p := core.read_namespaced_pod("quickstart-0", namespace)).status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            and p
        ),
    )
    assert ready.spec.node_name == NODE_NAME
    assert ready.metadata.annotations["paperclip.inc/config-hash"]
    wait_for(
        "StatefulSet readyReplicas 1",
        lambda: (
            apps.read_namespaced_stateful_set("quickstart", namespace).status.ready_replicas == 1
        ),
    )


def cri_line(text: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} stdout F {text}\n"


def test_job_pod_logs_follow_completion_and_ttl(control_plane: ControlPlane) -> None:
    namespace = "logs-0"
    ensure_namespace(control_plane, namespace)
    api = control_plane.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    log_file = control_plane.log_file(namespace)
    log_file.write_text("".join(cri_line(f"line {i}") for i in range(3)))
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "echo"},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 3,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "agent", "image": "busybox:1.36", "command": ["true"]}
                        ],
                    }
                },
            },
        },
    )
    selector = "batch.kubernetes.io/job-name=echo"
    pod = wait_for(
        "the Job's pod to run",
        lambda: next(
            (
                p
                for p in core.list_namespaced_pod(namespace, label_selector=selector).items
                if p.status.phase == "Running"
            ),
            None,
        ),
    )
    name = pod.metadata.name
    assert pod.spec.node_name == NODE_NAME
    assert core.read_namespaced_pod_log(name, namespace) == "line 0\nline 1\nline 2\n"

    received: list[str] = []
    # a 2 s read timeout ends the otherwise endless follow (kwok does not end it) once the
    # test has what it needs; the reader thread owns the stream and closes it itself
    stream = core.read_namespaced_pod_log(
        name, namespace, follow=True, _preload_content=False, _request_timeout=(5, 2)
    )

    def reader() -> None:
        try:
            for chunk in stream.stream(decode_content=True):
                received.extend(chunk.decode().splitlines())
        except Exception:
            pass
        finally:
            stream.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    wait_for("the existing lines on the follow stream", lambda: len(received) >= 3, 20)
    with log_file.open("a") as handle:
        handle.write(cri_line("appended while following"))
    wait_for("the appended line", lambda: "appended while following" in received, 20)
    assert received == ["line 0", "line 1", "line 2", "appended while following"]
    thread.join(timeout=30)
    assert not thread.is_alive()

    core.patch_namespaced_pod(
        name, namespace, {"metadata": {"labels": {"kwok-test/finish": "succeeded"}}}
    )
    wait_for(
        "Job Complete",
        lambda: any(
            c.type == "Complete" and c.status == "True"
            for c in batch.read_namespaced_job("echo", namespace).status.conditions or []
        ),
    )
    finished = core.read_namespaced_pod(name, namespace)
    assert finished.status.container_statuses[0].state.terminated.exit_code == 0

    def job_gone() -> bool:
        try:
            batch.read_namespaced_job("echo", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for("ttlSecondsAfterFinished to delete the Job", job_gone, 60)
    wait_for(
        "the garbage collector to delete the pod",
        lambda: not core.list_namespaced_pod(namespace, label_selector=selector).items,
        60,
    )


def test_a_started_control_plane_stops_every_process(tmp_path: Path) -> None:
    with running(tmp_path) as plane:
        pids = [p.pid for p in plane.processes.values()]
        assert len(pids) == 5
        expected = "v" + pinned_versions(plane.bin_dir)["k8s"]
        assert client.VersionApi(plane.api_client()).get_code().git_version == expected
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)


def test_components_die_with_a_killed_test_process() -> None:
    script = (
        "import os, sys\n"
        "from tests.controlplane.cluster import running\n"
        "with running() as plane:\n"
        "    print(' '.join(str(p.pid) for p in plane.processes.values()), flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    ).stdout
    pids = [int(p) for p in out.split()]
    assert len(pids) == 5

    def all_gone() -> bool:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    wait_for("every component to exit", all_gone, 20)
