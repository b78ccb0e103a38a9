"""The secrets bootstrap on the real control plane: the generated RBAC, the exact command the
generated Job runs (`paperclip-launcher ensure-secrets` with the Job's arguments), under a
token of the generated ServiceAccount."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import kubeconfig_for, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

NAMESPACE = "bootstrap-test"
HA = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "auth", "key": "k"}},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
    "objectStorage": {"provider": "s3", "bucket": "files"},
    "heartbeat": {"schedulerGating": "lease"},
    "availability": {"replicas": 2},
    "agents": {"enabled": True},
}


def _apply(plane: ControlPlane, obj: dict[str, Any]) -> None:
    from kubernetes import dynamic

    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    resource.server_side_apply(
        body=obj, namespace=NAMESPACE, field_manager="bootstrap-test", force_conflicts=True
    )


@pytest.fixture(scope="module")
def bootstrap(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Any:
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", NAMESPACE))
    objects = synth_objects(make_instance(HA, name="bs", namespace=NAMESPACE))
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        _apply(control_plane, objects[f"{kind}/bs-secrets-bootstrap"])
    token = control_plane.mint_token(NAMESPACE, "bs-secrets-bootstrap")
    kubeconfig = kubeconfig_for(
        control_plane, token, tmp_path_factory.mktemp("bs") / "kc", namespace=NAMESPACE
    )
    [container] = objects["Job/bs-secrets-bootstrap"]["spec"]["template"]["spec"]["containers"]
    return token, kubeconfig, container["args"]


def _run(kubeconfig: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    # the Job's own arguments, with the kubeconfig that stands in for the in-cluster token
    command = [sys.executable, "-m", "launcher", *args, "--kubeconfig", str(kubeconfig)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_creates_every_registered_secret_once_and_never_prints_a_value(
    control_plane: ControlPlane, bootstrap: Any
) -> None:
    _, kubeconfig, args = bootstrap
    assert "bs-launcher-token/token=token" in args
    assert "bs-secrets-master-key/master-key=base64-32" in args
    first = _run(kubeconfig, args)
    assert first.returncode == 0, first.stderr
    assert "created secret bs-launcher-token (token)" in first.stdout
    assert "created secret bs-secrets-master-key (master-key)" in first.stdout
    core = client.CoreV1Api(control_plane.api_client())
    token = core.read_namespaced_secret("bs-launcher-token", NAMESPACE).data["token"]
    master = core.read_namespaced_secret("bs-secrets-master-key", NAMESPACE).data["master-key"]
    assert len(base64.b64decode(base64.b64decode(master))) == 32  # the server's 32-byte form
    second = _run(kubeconfig, args)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("exists; left unchanged") == 2
    assert core.read_namespaced_secret("bs-launcher-token", NAMESPACE).data["token"] == token
    assert core.read_namespaced_secret("bs-secrets-master-key", NAMESPACE).data["master-key"] == (
        master
    )
    values = [str(token), str(master)]
    values += [base64.b64decode(v).decode() for v in values]
    for value in values:
        for output in (first.stdout, first.stderr, second.stdout, second.stderr):
            assert value not in output


def test_an_existing_secret_is_adopted_and_a_missing_key_is_reported_not_filled(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    objects = synth_objects(
        make_instance({"agents": {"enabled": True}}, name="ad", namespace=NAMESPACE)
    )
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        _apply(control_plane, objects[f"{kind}/ad-secrets-bootstrap"])
    token = control_plane.mint_token(NAMESPACE, "ad-secrets-bootstrap")
    kubeconfig = kubeconfig_for(control_plane, token, tmp_path / "kc", namespace=NAMESPACE)
    [container] = objects["Job/ad-secrets-bootstrap"]["spec"]["template"]["spec"]["containers"]
    core = client.CoreV1Api(control_plane.api_client())
    # e.g. created by hand or by the operator, without the key the bootstrap registers
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "ad-launcher-token"}, "stringData": {"other": "x1"}}
    )
    gap = _run(kubeconfig, container["args"])
    assert gap.returncode == 3, gap.stdout + gap.stderr
    assert "exists without key(s) token" in gap.stdout and "Traceback" not in gap.stderr
    assert set(core.read_namespaced_secret("ad-launcher-token", NAMESPACE).data) == {"other"}
    # with the key, it is adopted as it is
    core.delete_namespaced_secret("ad-launcher-token", NAMESPACE)
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "ad-launcher-token"}, "stringData": {"token": "mine"}}
    )
    adopted = _run(kubeconfig, container["args"])
    assert adopted.returncode == 0, adopted.stderr
    value = core.read_namespaced_secret("ad-launcher-token", NAMESPACE).data["token"]
    assert base64.b64decode(value) == b"mine"
    # a Secret the Role does not name: refused by RBAC, reported without a traceback
    refused = _run(kubeconfig, ["ensure-secrets", "--namespace", NAMESPACE, "other-name/k=hex32"])
    assert refused.returncode == 1
    assert "403" in refused.stderr and "Traceback" not in refused.stderr


def test_the_role_allows_exactly_create_and_get_of_the_registered_names(
    control_plane: ControlPlane, bootstrap: Any
) -> None:
    token, _, _ = bootstrap
    core = client.CoreV1Api(control_plane.api_client(token))
    core.read_namespaced_secret("bs-launcher-token", NAMESPACE)  # allowed
    denied = [
        lambda: core.read_namespaced_secret("default-token", NAMESPACE),
        lambda: core.list_namespaced_secret(NAMESPACE),
        lambda: core.patch_namespaced_secret(
            "bs-launcher-token", NAMESPACE, {"stringData": {"token": "x"}}
        ),
        lambda: core.delete_namespaced_secret("bs-launcher-token", NAMESPACE),
        lambda: core.list_namespaced_pod(NAMESPACE),
        lambda: core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "nope"}}),
    ]
    for call in denied:
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == 403
