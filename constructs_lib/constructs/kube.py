"""A thin layer over cdk8s: create a Kubernetes object with a stable name and set its body.

The apiVersion and kind come from the cdk8s-plus-33 L1 classes (``k8s.Kube*.GVK``), but the
object is a plain :class:`cdk8s.ApiObject`: the L1 classes re-map their body through typed
``toJson`` functions after JSON patches are applied, which drops IntOrString and Quantity
values written as plain JSON (a Service port or a PVC size vanish). Bodies here are plain
Kubernetes JSON, checked afterwards against the official strict OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

L1_CLASSES: dict[str, Any] = {
    "ConfigMap": k8s.KubeConfigMap,
    "Deployment": k8s.KubeDeployment,
    "Job": k8s.KubeJob,
    "NetworkPolicy": k8s.KubeNetworkPolicy,
    "PersistentVolumeClaim": k8s.KubePersistentVolumeClaim,
    "Role": k8s.KubeRole,
    "RoleBinding": k8s.KubeRoleBinding,
    "Service": k8s.KubeService,
    "ServiceAccount": k8s.KubeServiceAccount,
    "StatefulSet": k8s.KubeStatefulSet,
}


def _gvk(kind: str) -> tuple[str, str]:
    gvk = L1_CLASSES[kind].GVK
    return gvk.api_version, gvk.kind


GVKS: dict[str, tuple[str, str]] = {kind: _gvk(kind) for kind in L1_CLASSES}


def kube_object(
    scope: Construct,
    kind: str,
    *,
    name: str,
    namespace: str,
    labels: dict[str, str],
    body: dict[str, Any],
    annotations: dict[str, str] | None = None,
) -> cdk8s.ApiObject:
    """Add one object of ``kind`` named ``name`` (no cdk8s name hash) under ``scope``."""
    api_version, kind_name = GVKS[kind]
    metadata = cdk8s.ApiObjectMetadata(
        name=name, namespace=namespace, labels=labels, annotations=annotations or None
    )
    obj = cdk8s.ApiObject(
        scope, f"{kind}-{name}", api_version=api_version, kind=kind_name, metadata=metadata
    )
    if body:
        obj.add_json_patch(*(cdk8s.JsonPatch.add(f"/{key}", value) for key, value in body.items()))
    return obj


class ObjectAdder:
    """Adds objects under one scope with a shared namespace and default labels."""

    def __init__(self, scope: Construct, namespace: str, labels: dict[str, str]) -> None:
        self.scope = scope
        self.namespace = namespace
        self.labels = labels

    def __call__(
        self,
        kind: str,
        name: str,
        body: dict[str, Any],
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> cdk8s.ApiObject:
        return kube_object(
            self.scope,
            kind,
            name=name,
            namespace=self.namespace,
            labels=labels or self.labels,
            body=body,
            annotations=annotations,
        )
