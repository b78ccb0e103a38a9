"""The secrets bootstrap: one Job that creates, inside the cluster, every Secret the features
register (:class:`BootstrapSecret`), so no secret value is ever written to git.

The Job runs ``node ensure-secrets.mjs`` (constructs_lib/scripts/, shipped in a ConfigMap) in
the Paperclip server image, which the instance pulls anyway: no other image is needed. It
creates a missing Secret with random values (and the literal, non-secret companions a feature
registers, such as the database host), never overwrites or patches one, and never prints a
value. An existing Secret that lacks a required key fails the Job; one that lacks an optional
key (e.g. the operator's ``<name>-db-credentials``, which has only ``password``) is adopted as
it is. Its Role can ``create`` Secrets (RBAC cannot restrict create by name) and ``get``
exactly the registered names; a NetworkPolicy lets its pods reach only DNS and the API
server.

A plain Job with a TTL loops OutOfSync under Argo CD, and a changed Job spec fails to apply
(Jobs are immutable), so the Job and its RBAC are pre-sync hooks for Argo CD and Helm
(recreated before each sync, the RBAC first) and force-replaced by Flux.
"""

from __future__ import annotations

import functools
from typing import Any

from constructs_lib.constructs.feature import BootstrapSecret, Contribution, InstancePart
from constructs_lib.constructs.kube import NETWORK_POLICY
from constructs_lib.constructs.names import (
    API_SERVER_PORT,
    component_labels,
    secrets_bootstrap_name,
)
from constructs_lib.constructs.pod import pull_secrets, server_image_container
from constructs_lib.constructs.primitives import (
    container_resources,
    dns_egress,
    https_egress,
    policy_body,
    restricted_container_security,
    restricted_pod_security,
    role_binding_body,
    rule,
    sync_hook,
)
from constructs_lib.spec import Instance

COMPONENT = "secrets-bootstrap"
SCRIPT = "ensure-secrets.mjs"
SCRIPT_DIR = "/opt/paperclip-gitops/bootstrap"
RBAC_HOOK_WEIGHT = -10
JOB_HOOK_WEIGHT = -5


def registered(contribution: Contribution) -> list[BootstrapSecret]:
    """The registered secrets, de-duplicated, in a stable order."""
    unique = {(s.name, s.key): s for s in contribution.secrets}
    return [unique[key] for key in sorted(unique)]


def role_rules(secrets: list[BootstrapSecret]) -> list[dict[str, Any]]:
    names = sorted({s.name for s in secrets})
    return [
        rule("", ["secrets"], ["create"]),
        {**rule("", ["secrets"], ["get"]), "resourceNames": names},
    ]


def job_body(instance: Instance, name: str, secrets: list[BootstrapSecret]) -> dict[str, Any]:
    arguments = ["--namespace", instance.namespace, *(s.argument for s in secrets)]
    container = {
        **server_image_container(instance, "ensure-secrets", ["node", f"{SCRIPT_DIR}/{SCRIPT}"]),
        "args": arguments,
        "resources": container_resources("10m", "64Mi", "128Mi"),
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}],
    }
    return {
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": component_labels(instance, COMPONENT)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": name,
                    "automountServiceAccountToken": True,
                    "enableServiceLinks": False,
                    "securityContext": restricted_pod_security(),
                    "containers": [container],
                    "volumes": [
                        {"name": "script", "configMap": {"name": name, "defaultMode": 0o444}}
                    ],
                    **pull_secrets(instance),
                },
            },
        }
    }


def network_policy(instance: Instance) -> dict[str, Any]:
    """The bootstrap's pods hold a token that can create Secrets: no ingress, and egress to
    DNS and the API server only."""
    egress = [dns_egress(), https_egress(API_SERVER_PORT)]
    return policy_body({"matchLabels": component_labels(instance, COMPONENT)}, [], egress)


class SecretsBootstrap(InstancePart):
    """Built when any feature registers a Secret to create in-cluster (not a feature: the
    folded contributions decide, see :func:`~constructs_lib.constructs.build.parts`)."""

    def add_objects(self) -> None:
        context = self.context
        instance = context.instance
        secrets = registered(context.contribution)
        name = secrets_bootstrap_name(instance)
        labels = component_labels(instance, COMPONENT)
        # everything the Job needs, as hooks that run before it
        add_before = functools.partial(
            self.add, labels=labels, annotations=sync_hook("pre", RBAC_HOOK_WEIGHT)
        )
        add_before("ServiceAccount", name, {})
        add_before("Role", name, {"rules": role_rules(secrets)})
        add_before("RoleBinding", name, role_binding_body(name, name, instance.namespace))
        add_before("ConfigMap", name, {"data": {SCRIPT: context.scripts.get(SCRIPT, "")}})
        add_before("NetworkPolicy", name, network_policy(instance), only_if=NETWORK_POLICY)
        self.add(
            "Job",
            name,
            job_body(instance, name, secrets),
            labels=labels,
            annotations=sync_hook("pre", JOB_HOOK_WEIGHT),
        )
