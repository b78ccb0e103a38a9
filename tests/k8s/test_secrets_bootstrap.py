"""The secrets bootstrap on the real control plane: the generated RBAC, the exact command the
generated Job runs (`node ensure-secrets.mjs` from its ConfigMap, with the Job's arguments) on
the runtime of the image it runs in (the Paperclip server's Node), under a token of the
generated ServiceAccount."""

from __future__ import annotations

import base64
import copy
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.bootstrap_container import run_container
from tests.conftest import make_instance, synth_objects
from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import wait_for

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


@dataclass
class Bootstrap:
    plane: ControlPlane
    token: str
    objects: dict[str, dict[str, Any]]
    name: str
    workdir: Path

    @property
    def args(self) -> list[str]:
        [container] = self.pod["containers"]
        return list(container["args"])

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.objects[f"Job/{self.name}"]["spec"]["template"]["spec"]
        return spec

    def run(self, pod: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        """The Job's container as generated, under the generated ServiceAccount's token."""
        script = self.objects[f"ConfigMap/{self.name}"]["data"]
        return run_container(
            self.plane, pod or self.pod, {self.name: script}, self.token, self.workdir
        )


def prepare(plane: ControlPlane, prefix: str, spec: dict[str, Any], workdir: Path) -> Bootstrap:
    objects = synth_objects(make_instance(spec, name=prefix, namespace=NAMESPACE))
    name = f"{prefix}-secrets-bootstrap"
    for kind in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap"):
        _apply(plane, objects[f"{kind}/{name}"])
    token = plane.mint_token(NAMESPACE, name)
    return Bootstrap(plane, token, objects, name, workdir)


@pytest.fixture(scope="module")
def bootstrap(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Bootstrap:
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", NAMESPACE))
    return prepare(control_plane, "bs", HA, tmp_path_factory.mktemp("bs"))


def test_the_job_runs_on_the_server_image_only(bootstrap: Bootstrap) -> None:
    """No image the project does not publish: the server image (it has Node)."""
    [container] = bootstrap.pod["containers"]
    server = (
        bootstrap.objects["StatefulSet/bs"]
        if "StatefulSet/bs" in bootstrap.objects
        else (bootstrap.objects["Deployment/bs"])
    )
    image = server["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["image"] == image
    assert container["command"] == ["node", "/opt/paperclip-gitops/bootstrap/ensure-secrets.mjs"]


def test_creates_every_registered_secret_once_and_never_prints_a_value(
    control_plane: ControlPlane, bootstrap: Bootstrap
) -> None:
    args = bootstrap.args
    assert "bs-launcher-token/token=token" in args
    assert "bs-secrets-master-key/master-key=base64-32" in args
    first = bootstrap.run()
    assert first.returncode == 0, first.stderr
    assert "created secret bs-launcher-token (token)" in first.stdout
    assert "created secret bs-secrets-master-key (master-key)" in first.stdout
    core = client.CoreV1Api(control_plane.api_client())
    token = core.read_namespaced_secret("bs-launcher-token", NAMESPACE).data["token"]
    master = core.read_namespaced_secret("bs-secrets-master-key", NAMESPACE).data["master-key"]
    assert len(base64.b64decode(base64.b64decode(master))) == 32  # the server's 32-byte form
    second = bootstrap.run()
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
    control_plane: ControlPlane, bootstrap: Bootstrap, tmp_path: Path
) -> None:
    adopt = prepare(control_plane, "ad", {"agents": {"enabled": True}}, tmp_path)
    core = client.CoreV1Api(control_plane.api_client())
    # e.g. created by hand or by the operator, without the key the bootstrap registers
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "ad-launcher-token"}, "stringData": {"other": "x1"}}
    )
    gap = adopt.run()
    assert gap.returncode == 3, gap.stdout + gap.stderr
    assert "exists without key(s) token" in gap.stdout and "Traceback" not in gap.stderr
    assert set(core.read_namespaced_secret("ad-launcher-token", NAMESPACE).data) == {"other"}
    # the key with an empty value: no token at all for the launcher, reported the same way
    core.delete_namespaced_secret("ad-launcher-token", NAMESPACE)
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "ad-launcher-token"}, "stringData": {"token": ""}}
    )
    empty = adopt.run()
    assert empty.returncode == 3, empty.stdout + empty.stderr
    assert "exists without key(s) token (or with an empty value)" in empty.stdout
    # with the key, it is adopted as it is
    core.delete_namespaced_secret("ad-launcher-token", NAMESPACE)
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "ad-launcher-token"}, "stringData": {"token": "mine"}}
    )
    adopted = adopt.run()
    assert adopted.returncode == 0, adopted.stderr
    value = core.read_namespaced_secret("ad-launcher-token", NAMESPACE).data["token"]
    assert base64.b64decode(value) == b"mine"
    # a Secret the Role does not name: refused by RBAC, reported without a traceback
    other = copy.deepcopy(adopt.pod)
    other["containers"][0]["args"] = ["--namespace", NAMESPACE, "other-name/k=hex32"]
    refused = adopt.run(other)
    assert refused.returncode == 1
    assert "(403)" in refused.stderr and "    at " not in refused.stderr  # no stack trace


def test_the_role_allows_exactly_create_and_get_of_the_registered_names(
    control_plane: ControlPlane, bootstrap: Bootstrap
) -> None:
    core = client.CoreV1Api(control_plane.api_client(bootstrap.token))
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
