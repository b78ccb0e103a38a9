"""Kubernetes objects as plain data: what every part of an instance adds.

Objects are built as plain JSON and checked afterwards against the strict OpenAPI schema;
nothing crosses to cdk8s or jsii while they are built. :class:`PaperclipInstance` turns them
into ``cdk8s.ApiObject`` children for a cdk8s app.

Names are stable: no cdk8s name hashes. ``apiVersion`` comes from :data:`API_VERSIONS` (or is
given), so the pair ``(apiVersion, kind)`` identifies every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.constructs.names import base_labels
from constructs_lib.constructs.primitives import RBAC_GROUP
from constructs_lib.spec import Instance

# Core kinds this generator emits, by kind (grouped by apiVersion below). Non-core kinds
# pass api_version explicitly.
API_VERSIONS: dict[str, str] = {
    kind: version
    for version, kinds in {
        "v1": ("ConfigMap", "PersistentVolumeClaim", "Secret", "Service", "ServiceAccount"),
        "apps/v1": ("Deployment", "StatefulSet"),
        "batch/v1": ("Job", "CronJob"),
        "autoscaling/v2": ("HorizontalPodAutoscaler",),
        "policy/v1": ("PodDisruptionBudget",),
        "networking.k8s.io/v1": ("NetworkPolicy", "Ingress"),
        f"{RBAC_GROUP}/v1": ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"),
    }.items()
    for kind in kinds
}

# Annotations of the Instance that are kubectl's own bookkeeping, not the user's.
_NOT_CARRIED = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass(frozen=True)
class Switch:
    """A spec boolean that adds objects while it is on and changes nothing else: the objects
    added with it (``add(..., only_if=SWITCH)``) carry its path, and the Helm chart wraps
    exactly them in ``{{- if }}``."""

    path: tuple[str, ...]
    """The field under ``spec``, camelCase as in the CRD."""
    on: Callable[[Instance], bool]


NETWORK_POLICY = Switch(
    ("security", "networkPolicy", "enabled"), lambda i: i.spec.security.network_policy.enabled
)


@dataclass
class KubeObject:
    """One Kubernetes object: identity, metadata and the rest of the body as plain JSON."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    owner: str = ""
    """The class of the part that added it (for error messages)."""
    switch: tuple[str, ...] = ()
    """The path of the :class:`Switch` it exists by (none: it always exists)."""
    own_labels: tuple[str, ...] = ()
    """The keys of its labels the generator sets (they win over the Instance's own labels,
    which every object carries)."""

    def to_json(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name}
        if self.namespace is not None:
            metadata["namespace"] = self.namespace
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata,
            **self.body,
        }


ObjectSink = dict[tuple[str, str, str | None, str], KubeObject]
"""The objects of one instance by identity (apiVersion, kind, namespace, name), in the order
they were added."""


class ObjectAdder:
    """Adds objects for one instance on behalf of one part (``owner``, named in errors) to
    ``sink``, where identities are unique: the instance's namespace, the default labels, and
    the Instance's own labels and annotations carried onto every object (generated keys
    win)."""

    def __init__(self, owner: str, sink: ObjectSink, instance: Instance) -> None:
        self.owner = owner
        self.sink = sink
        self.instance = instance
        self.labels = base_labels(instance)
        self.carried_labels = dict(instance.metadata.labels)
        self.carried_annotations = {
            k: v for k, v in instance.metadata.annotations.items() if k not in _NOT_CARRIED
        }

    def __call__(
        self,
        kind: str,
        name: str,
        body: dict[str, Any],
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        api_version: str | None = None,
        cluster_scoped: bool = False,
        namespace: str | None = None,
        only_if: Switch | None = None,
    ) -> KubeObject | None:
        """Add one object (none while ``only_if`` is off)."""
        if only_if is not None and not only_if.on(self.instance):
            return None
        own = labels or self.labels
        obj = KubeObject(
            api_version=api_version or API_VERSIONS[kind],
            kind=kind,
            name=name,
            namespace=None if cluster_scoped else (namespace or self.instance.namespace),
            labels={**self.carried_labels, **own},
            annotations={**self.carried_annotations, **(annotations or {})},
            body=body,
            owner=self.owner,
            switch=only_if.path if only_if else (),
            own_labels=tuple(own),
        )
        identity = (obj.api_version, obj.kind, obj.namespace, obj.name)
        if identity in self.sink:
            raise ValueError(f"{obj.kind} {obj.name} is generated twice (by {obj.owner})")
        self.sink[identity] = obj
        return obj
