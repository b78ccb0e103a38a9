"""Adoption without data loss, on the real control plane: an Instance of the operator's CRD
(with its finalizer and status) owns what the operator made for it — the data claim, the
managed database's claim and credentials, the secrets master key (with data), its
StatefulSets and Service. The runbook of docs/migrating.md ("Adopting the data without data
loss") is followed: import the live Instance, release the claims and Secrets from it, remove its
finalizer, delete it, wait for the garbage collector; then the imported app's objects are
applied server-side as Flux applies them and the secrets bootstrap runs. The claims and
Secrets are the same objects (same uid) with the same data, and the new workloads use them."""

from __future__ import annotations

import base64
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from constructs_lib.cli import main
from tests.bootstrap_container import run_container
from tests.conftest import load_yaml_file
from tests.controlplane.cluster import ControlPlane
from tests.k8s.harness import wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]

NAMESPACE = "adoption"
NAME = "team-a"
GROUP, VERSION, PLURAL = "paperclip.inc", "v1alpha1", "instances"
CRD = f"{PLURAL}.{GROUP}"
FINALIZER = "paperclip.ai/finalizer"
FLUX = "kustomize-controller"
"""The field manager Flux applies with (server-side, forcing conflicts)."""
OPERATOR_LABELS = {
    "app.kubernetes.io/name": "paperclip",
    "app.kubernetes.io/instance": NAME,
    "app.kubernetes.io/managed-by": "paperclip-operator",
}
# The operator's CRD as its reference describes it: namespaced Instance (short name pci),
# status and scale subresources, the CEL rule on the image; the rest of the spec is kept as
# given (this test needs the object, not the operator's full schema).
OPERATOR_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "kind": "Instance",
            "listKind": "InstanceList",
            "plural": PLURAL,
            "singular": "instance",
            "shortNames": ["pci"],
        },
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.availability.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector",
                    },
                },
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                                "properties": {
                                    "image": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {
                                            "repository": {"type": "string"},
                                            "tag": {"type": "string"},
                                            "digest": {"type": "string"},
                                        },
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "(has(self.tag) && size(self.tag) > 0)"
                                                " || (has(self.digest) && size(self.digest) > 0)",
                                                "message": "spec.image: one of tag or digest "
                                                "must be set",
                                            }
                                        ],
                                    }
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}
SPEC: dict[str, Any] = {
    "image": {"repository": "ghcr.io/paperclipai/paperclip", "tag": "2026.1106.0"},
    "deployment": {"mode": "authenticated", "exposure": "private"},
    "database": {"mode": "managed", "managed": {"storageSize": "10Gi"}},
    "storage": {"persistence": {"enabled": True, "size": "5Gi"}},
}
CLAIMS = {f"{NAME}-data": "5Gi", f"{NAME}-db-data": "10Gi"}
SECRETS = {
    f"{NAME}-db-credentials": "password",
    f"{NAME}-secrets-master-key": "master-key",
}


def _apply(plane: ControlPlane, obj: dict[str, Any], manager: str) -> None:
    resource = dynamic.DynamicClient(plane.api_client()).resources.get(
        api_version=obj["apiVersion"], kind=obj["kind"]
    )
    resource.server_side_apply(
        body=obj,
        namespace=obj["metadata"].get("namespace"),
        field_manager=manager,
        force_conflicts=True,
    )


def _install_operator_crd(plane: ControlPlane) -> None:
    extensions = client.ApiextensionsV1Api(plane.api_client())
    try:
        extensions.create_custom_resource_definition(OPERATOR_CRD)
    except ApiException as exc:
        if exc.status != 409:
            raise
    wait_for(
        "the operator's Instance CRD Established",
        lambda: any(
            c.type == "Established" and c.status == "True"
            for c in extensions.read_custom_resource_definition(
                OPERATOR_CRD["metadata"]["name"]
            ).status.conditions
            or []
        ),
    )
    custom = client.CustomObjectsApi(plane.api_client())
    wait_for(
        "Instances served",
        lambda: custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL) is not None,
    )


def _operator_objects(plane: ControlPlane) -> dict[str, str]:
    """What the operator made: the Instance (finalizer, status) and its owned objects; the
    values of the Secrets, by Secret name."""
    custom = client.CustomObjectsApi(plane.api_client())
    instance = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Instance",
            "metadata": {"name": NAME, "finalizers": [FINALIZER]},
            "spec": SPEC,
        },
    )
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        NAME,
        {"status": {"phase": "Running", "observedGeneration": 1, "replicas": 1}},
    )
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Instance",
        "name": NAME,
        "uid": instance["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }

    def meta(name: str, component: str = "") -> dict[str, Any]:
        labels = dict(OPERATOR_LABELS)
        if component:
            labels["app.kubernetes.io/component"] = component
        return {"name": name, "labels": labels, "ownerReferences": [owner]}

    core = client.CoreV1Api(plane.api_client())
    apps = client.AppsV1Api(plane.api_client())
    values = {
        f"{NAME}-db-credentials": secrets.token_hex(16),  # the operator's 32 hex characters
        f"{NAME}-secrets-master-key": secrets.token_hex(16),
    }
    for name, key in SECRETS.items():
        core.create_namespaced_secret(
            NAMESPACE, {"metadata": meta(name), "stringData": {key: values[name]}}
        )
    for name, size in CLAIMS.items():
        component = "database" if name.endswith("-db-data") else ""
        core.create_namespaced_persistent_volume_claim(
            NAMESPACE,
            {
                "metadata": meta(name, component),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}},
                },
            },
        )
    for name, component in ((NAME, "server"), (f"{NAME}-db", "database")):
        selector = {**OPERATOR_LABELS, "app.kubernetes.io/component": component}
        selector.pop("app.kubernetes.io/managed-by")
        apps.create_namespaced_stateful_set(
            NAMESPACE,
            {
                "metadata": meta(name),
                "spec": {
                    "replicas": 1,
                    "serviceName": name,
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": selector},
                        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
                    },
                },
            },
        )
    core.create_namespaced_service(
        NAMESPACE,
        {"metadata": meta(NAME), "spec": {"ports": [{"name": "http", "port": 3100}]}},
    )
    return values


def _kubectl(kubectl: str, plane: ControlPlane, *args: str) -> str:
    """A kubectl command of the runbook, against the control plane."""
    command = [kubectl, "--kubeconfig", str(plane.kubeconfig), "-n", NAMESPACE, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
    return done.stdout


def _release(kubectl: str, plane: ControlPlane) -> None:
    """Steps 4 and 5 of the runbook, as written there (the operator is not running): the
    ownerReferences off what holds data, the finalizer off the Instance, delete it, wait."""
    remove = '[{"op":"remove","path":"/metadata/ownerReferences"}]'
    for name in CLAIMS:
        _kubectl(kubectl, plane, "patch", f"pvc/{name}", "--type=json", "-p", remove)
    for name in SECRETS:
        _kubectl(kubectl, plane, "patch", f"secret/{name}", "--type=json", "-p", remove)
    finalizers = '[{"op":"remove","path":"/metadata/finalizers"}]'
    _kubectl(kubectl, plane, "patch", CRD, NAME, "--type=json", "-p", finalizers)
    _kubectl(kubectl, plane, "delete", CRD, NAME)
    _kubectl(
        kubectl,
        plane,
        "wait",
        "--for=delete",
        f"statefulset/{NAME}",
        f"statefulset/{NAME}-db",
        "--timeout=120s",
    )


def _gone(read: Any) -> bool:
    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


def _identity(plane: ControlPlane) -> dict[str, tuple[str, dict[str, str]]]:
    """uid and data of every claim (its request) and Secret (its decoded keys)."""
    core = client.CoreV1Api(plane.api_client())
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for name in CLAIMS:
        claim = core.read_namespaced_persistent_volume_claim(name, NAMESPACE)
        found[f"pvc/{name}"] = (str(claim.metadata.uid), dict(claim.spec.resources.requests))
    for name in SECRETS:
        secret = core.read_namespaced_secret(name, NAMESPACE)
        data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        found[f"secret/{name}"] = (str(secret.metadata.uid), data)
    return found


def test_an_operator_instance_is_adopted_without_data_loss(
    control_plane: ControlPlane, kubectl: str, tmp_path: Path
) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    apps = client.AppsV1Api(control_plane.api_client())
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    wait_for("default SA", lambda: core.read_namespaced_service_account("default", NAMESPACE))
    _install_operator_crd(control_plane)
    values = _operator_objects(control_plane)
    before = _identity(control_plane)
    assert before[f"secret/{NAME}-db-credentials"][1] == {
        "password": values[f"{NAME}-db-credentials"]
    }

    # 2. import the live Instance (before it is deleted)
    app = tmp_path / "apps" / f"{NAME}.yaml"
    exported = _kubectl(kubectl, control_plane, "get", CRD, "-o", "yaml")
    assert yaml.safe_load(exported)["kind"] == "List"
    imported = CliRunner().invoke(main, ["import", "-", "--out", str(app)], input=exported)
    assert imported.exit_code == 0, imported.output
    assert f"removed {FINALIZER}" in imported.output
    [document] = [d for d in yaml.safe_load_all(app.read_text()) if d]
    assert document == {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Instance",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": SPEC,
    }
    out = tmp_path / "dist"
    synthesized = CliRunner().invoke(main, ["synth", str(app), "--out", str(out)])
    assert synthesized.exit_code == 0, synthesized.output

    # 3-5. the operator is not running; release, remove the finalizer, delete, wait for the
    # garbage collector to delete what the Instance still owns
    _release(kubectl, control_plane)
    custom = client.CustomObjectsApi(control_plane.api_client())
    assert _gone(
        lambda: custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
    )
    wait_for(
        "the garbage collector to delete the operator's Service",
        lambda: _gone(lambda: core.read_namespaced_service(NAME, NAMESPACE)),
        120,
    )
    assert _identity(control_plane) == before  # released: not collected

    # 6. sync: every generated object applied server-side as Flux does, in apply order
    kustomize = out / NAME / "kustomize"
    [listing] = load_yaml_file(kustomize / "kustomization.yaml")
    objects = {}
    for name in listing["resources"]:
        [obj] = load_yaml_file(kustomize / name)
        objects[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
        _apply(control_plane, obj, FLUX)
    assert {f"PersistentVolumeClaim/{n}" for n in CLAIMS} <= set(objects)
    assert not {f"Secret/{n}" for n in SECRETS} & set(objects)  # never in git
    # the secrets bootstrap, as its Job runs it (under its ServiceAccount's token)
    job = objects[f"Job/{NAME}-secrets-bootstrap"]
    config = objects[f"ConfigMap/{NAME}-secrets-bootstrap"]
    token = control_plane.mint_token(NAMESPACE, f"{NAME}-secrets-bootstrap")
    ran = run_container(
        control_plane,
        job["spec"]["template"]["spec"],
        {config["metadata"]["name"]: config["data"]},
        token,
        tmp_path / "bootstrap",
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"secret {NAME}-db-credentials exists; left unchanged" in ran.stdout
    for value in values.values():
        assert value not in ran.stdout + ran.stderr

    # the same claims and Secrets, with the same data, now this tool's
    assert _identity(control_plane) == before
    for name in CLAIMS:
        claim = core.read_namespaced_persistent_volume_claim(name, NAMESPACE)
        assert claim.metadata.owner_references is None
        assert claim.metadata.labels["app.kubernetes.io/managed-by"] == "paperclip-gitops"
        assert claim.metadata.annotations["helm.sh/resource-policy"] == "keep"
    # and the new workloads use them
    server = apps.read_namespaced_stateful_set(NAME, NAMESPACE).spec.template.spec
    assert [
        v.persistent_volume_claim.claim_name for v in server.volumes if v.persistent_volume_claim
    ] == [f"{NAME}-data"]
    [main_container] = [c for c in server.containers if c.name == "paperclip"]
    master = [e for e in main_container.env or [] if e.name == "PAPERCLIP_SECRETS_MASTER_KEY"]
    assert master and master[0].value_from.secret_key_ref.name == f"{NAME}-secrets-master-key"
    assert master[0].value_from.secret_key_ref.key == "master-key"
    database = apps.read_namespaced_stateful_set(f"{NAME}-db", NAMESPACE).spec.template.spec
    claims = [
        v.persistent_volume_claim.claim_name for v in database.volumes if v.persistent_volume_claim
    ]
    assert claims == [f"{NAME}-db-data"]
    secret_names = {
        source.secret.secret_name
        for v in database.volumes
        for source in [v, *((v.projected.sources if v.projected else None) or [])]
        if getattr(source, "secret", None) is not None
    }
    assert f"{NAME}-db-credentials" in secret_names
