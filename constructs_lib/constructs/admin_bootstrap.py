"""The admin bootstrap (``auth.adminUser``): Job ``<name>-bootstrap`` creates the first admin
and makes it the CEO (``constructs_lib/scripts/admin-bootstrap.sh``).

The Job runs the server image with the server's environment, volumes and pod security context
(the operator's #111 fix: no hard-coded fsGroup), plus ADMIN_EMAIL (a literal), ADMIN_NAME and
ADMIN_PASSWORD (a secretKeyRef to ``passwordSecretRef``). The script is idempotent: it signs up
or signs in, stops when ``/api/health`` reports ``bootstrapStatus: ready`` (never the 404
``/api/health/details``, the operator's #112), and otherwise accepts the CEO bootstrap invite.

It needs the server up, so it is a post-sync hook: Argo CD ``PostSync`` with
``BeforeHookCreation``, Helm ``post-install,post-upgrade`` with ``before-hook-creation``, and
Flux ``force: Enabled`` (a Job's pod template is immutable, so a changed Job is replaced). The
script lives in ConfigMap ``<name>-bootstrap``; its hash is the pod annotation
``paperclip.inc/config-hash``, so a changed script changes the Job too. Everything else the
operator's ``paperclip.ai/bootstrap-spec-hash`` covers (image, e-mail, password reference, pod
security context) is in the Job spec itself. The Job keeps the default, unique
``controller-uid`` selector, so it never adopts a pod of an earlier Job (the operator's #83,
which it fixed with a manual selector).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from constructs_lib.constructs.copying import json_copy
from constructs_lib.constructs.database import ADMIN_BOOTSTRAP_COMPONENT as COMPONENT
from constructs_lib.constructs.env import secret_entry, secret_env_vars
from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.constructs.names import (
    CONFIG_HASH_ANNOTATION,
    component_labels,
    config_hash,
    server_selector,
    server_service_url,
)
from constructs_lib.constructs.pod import (
    container_security_context,
    pod_security_context,
    pull_and_placement,
    server_env_from,
    server_image_container,
    volume_mounts,
    volumes,
)
from constructs_lib.constructs.primitives import sync_hook
from constructs_lib.errors import Problem
from constructs_lib.spec import DatabaseMode, Instance
from constructs_lib.spec.data import AccessMode
from constructs_lib.spec.server import DeploymentMode

SCRIPT = "admin-bootstrap.sh"
WORK_VOLUME = "bootstrap-work"
WORK_PATH = "/var/run/paperclip-bootstrap"
SCRIPT_VOLUME = "bootstrap-script"
SCRIPT_DIR = "/etc/paperclip-bootstrap"
BACKOFF_LIMIT = 3
ACTIVE_DEADLINE_SECONDS = 1800
ADMIN_USER = "spec.auth.adminUser"
SHARED_ACCESS_MODES = frozenset({AccessMode.READ_WRITE_MANY, AccessMode.READ_ONLY_MANY})


def bootstrap_name(instance: Instance) -> str:
    return f"{instance.name}-bootstrap"


def shares_node_volume(instance: Instance) -> bool:
    """Whether the data volume can only be mounted on the server's node (ReadWriteOnce)."""
    persistence = instance.spec.storage.persistence
    return persistence.enabled and SHARED_ACCESS_MODES.isdisjoint(persistence.access_modes)


def bootstrap_errors(instance: Instance) -> Iterator[Problem]:
    """Errors of ``auth.adminUser``: cases where the Job would fail at run time."""
    spec = instance.spec
    if spec.deployment.mode is DeploymentMode.LOCAL_TRUSTED:
        yield Problem(
            "the admin bootstrap signs an admin in, but local_trusted mode has no sign-in "
            "(the CEO invite step refuses it, so the Job would fail on every sync).",
            path=ADMIN_USER,
            fix="set spec.deployment.mode: authenticated, or remove spec.auth.adminUser.",
        )
    if spec.database.mode is DatabaseMode.EMBEDDED:
        yield Problem(
            "the admin bootstrap Job creates the CEO invite in the database, but the "
            "embedded database runs inside the server pod and cannot be reached from the Job.",
            path=ADMIN_USER,
            fix="use spec.database.mode: managed or external, or remove spec.auth.adminUser "
            "and create the invite by hand: kubectl exec <pod> -- pnpm paperclipai auth "
            "bootstrap-ceo.",
        )
    persistence = spec.storage.persistence
    if persistence.enabled and AccessMode.READ_WRITE_ONCE_POD in persistence.access_modes:
        yield Problem(
            "the admin bootstrap Job mounts the data volume (the CLI reads the instance "
            "config there), which ReadWriteOncePod reserves for the server pod.",
            path=ADMIN_USER,
            fix="use ReadWriteOnce in spec.storage.persistence.accessModes, or remove "
            "spec.auth.adminUser.",
        )


def bootstrap_warnings(instance: Instance) -> Iterator[Problem]:
    """Warnings of ``auth.adminUser``: cases where the Job may fail at run time."""
    if instance.spec.auth.disable_sign_up:
        yield Problem(
            "sign-up is disabled, so the admin bootstrap can only sign in an admin that "
            "already exists; on a new instance the Job fails.",
            path=ADMIN_USER,
            fix="leave spec.auth.disableSignUp unset until the admin exists.",
        )


def _node_affinity_to_server(instance: Instance) -> dict[str, Any]:
    """Schedules the Job onto a node running a server pod (a ReadWriteOnce volume attaches to
    one node)."""
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": server_selector(instance)},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def bootstrap_env(instance: Instance, entries: list[EnvEntry]) -> list[dict[str, Any]]:
    """The server's Secret-backed env (``entries``: the server env), the user's env, then the
    script's inputs."""
    admin = instance.spec.auth.admin_user
    assert admin is not None
    password = secret_entry("ADMIN_PASSWORD", admin.password_secret_ref, EnvSlot.CORE)
    service_url = server_service_url(instance)
    return [
        *secret_env_vars(entries),
        *json_copy(instance.spec.env),
        # where the script waits for the server; publicURL when set (the origin the server
        # trusts), else the Service URL
        {"name": "SVC_URL", "value": service_url},
        {"name": "SERVER_URL", "value": instance.spec.deployment.public_url or service_url},
        {"name": "ADMIN_EMAIL", "value": admin.email},
        {"name": "ADMIN_NAME", "value": admin.name},
        password.to_env_var(),
        {"name": "TMPDIR", "value": WORK_PATH},
    ]


def job_body(
    instance: Instance, contribution: Contribution, entries: list[EnvEntry], script: str
) -> dict[str, Any]:
    """The Job; ``entries``: the server env of the instance and ``contribution``; ``script``
    is the text shipped in the ConfigMap (hashed into the pod)."""
    spec = instance.spec
    container: dict[str, Any] = {
        **server_image_container(instance, "bootstrap", ["/bin/sh", f"{SCRIPT_DIR}/{SCRIPT}"]),
        "env": bootstrap_env(instance, entries),
        "envFrom": server_env_from(instance),
        "volumeMounts": [
            *volume_mounts(instance, contribution),
            {"name": WORK_VOLUME, "mountPath": WORK_PATH},
            {"name": SCRIPT_VOLUME, "mountPath": SCRIPT_DIR, "readOnly": True},
        ],
        "securityContext": container_security_context(instance),
    }
    if spec.resources is not None:
        container["resources"] = json_copy(spec.resources)
    pod: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(instance),
        **pull_and_placement(instance),
    }
    if shares_node_volume(instance):
        pod["affinity"] = _node_affinity_to_server(instance)
    if spec.availability.priority_class_name:
        pod["priorityClassName"] = spec.availability.priority_class_name
    pod["containers"] = [container]
    pod["volumes"] = [
        *volumes(instance, contribution),
        {"name": WORK_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}},
        {
            "name": SCRIPT_VOLUME,
            "configMap": {"name": bootstrap_name(instance), "defaultMode": 0o444},
        },
    ]
    return {
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "template": {
                "metadata": {
                    "labels": component_labels(instance, COMPONENT),
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash(script_data(script))},
                },
                "spec": pod,
            },
        }
    }


def script_data(script: str) -> dict[str, str]:
    """The data of ConfigMap ``<name>-bootstrap``."""
    return {SCRIPT: script}


class AdminBootstrap(Feature):
    """``auth.adminUser``: the admin bootstrap Job."""

    id = "admin-bootstrap"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        # A suspended instance has no server to bootstrap (the Job would fail every sync).
        return instance.spec.auth.admin_user is not None and not instance.spec.suspended

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        errors, warnings = bootstrap_errors(instance), bootstrap_warnings(instance)
        return Contribution(errors=list(errors), warnings=list(warnings))

    def add_objects(self) -> None:
        context = self.context
        instance = context.instance
        script = context.scripts.get(SCRIPT, "")
        if not script:
            raise ValueError(f"the render layer did not pass {SCRIPT} to the admin bootstrap")
        name, labels = bootstrap_name(instance), component_labels(instance, COMPONENT)
        self.add("ConfigMap", name, {"data": script_data(script)}, labels=labels)
        self.add(
            "Job",
            name,
            job_body(instance, context.contribution, list(context.server_env), script),
            labels=labels,
            annotations=sync_hook("post"),
        )
