"""Decisions derived from a spec, and the synth-time rules.

The operator reports several of these only at run time, as conditions (WorkloadProfileValid,
MultiReplicaPreconditions, SchedulerGatingValid) or not at all; here they stop synthesis with
the field path and the fix, or print a warning.
"""

from __future__ import annotations

import re

from constructs_lib.errors import Problem
from constructs_lib.spec.data import DatabaseMode
from constructs_lib.spec.instance import Instance, InstanceSpec
from constructs_lib.spec.platform import ProbeType, ServiceType, WorkloadKind
from constructs_lib.spec.server import DeploymentMode, Exposure, SchedulerGating

SERVER_MIN_HEARTBEAT_MS = 10000
# Label keys every generated object carries; an Instance label with one of them is overridden.
GENERATED_LABEL_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
)
_SECRET_LOOKING_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY|(^|_)KEY($|_))",
    re.IGNORECASE,
)


def effective_workload(spec: InstanceSpec) -> WorkloadKind:
    """StatefulSet or Deployment.

    ``Deployment`` gives a Deployment (an error when persistence is on, see :func:`errors`);
    ``auto`` gives a Deployment only when persistence is off and the database is not embedded;
    anything else a StatefulSet.
    """
    if spec.workload is WorkloadKind.DEPLOYMENT:
        return WorkloadKind.DEPLOYMENT
    if (
        spec.workload is WorkloadKind.AUTO
        and not spec.storage.persistence.enabled
        and spec.database.mode is not DatabaseMode.EMBEDDED
    ):
        return WorkloadKind.DEPLOYMENT
    return WorkloadKind.STATEFUL_SET


def replicas(spec: InstanceSpec) -> int:
    """Replicas of the server workload: 0 when suspended."""
    return 0 if spec.suspended else spec.availability.replicas


def ordinal_gating(spec: InstanceSpec) -> bool:
    """Whether only the pod whose hostname ends in -0 runs the heartbeat scheduler."""
    return (
        spec.heartbeat.enabled
        and spec.availability.replicas > 1
        and spec.heartbeat.scheduler_gating.resolved is SchedulerGating.ORDINAL
        and effective_workload(spec) is WorkloadKind.STATEFUL_SET
    )


def probe_kind(spec: InstanceSpec) -> ProbeType:
    """tcp or http: auto is tcp in authenticated mode, http otherwise."""
    if spec.probes.type is ProbeType.AUTO:
        if spec.deployment.mode is DeploymentMode.AUTHENTICATED:
            return ProbeType.TCP
        return ProbeType.HTTP
    return spec.probes.type


def shared_master_key(spec: InstanceSpec) -> bool:
    """Whether the secrets bootstrap creates <name>-secrets-master-key in-cluster: more than
    one replica must decrypt with one key, and no masterKeySecretRef names it."""
    return spec.availability.replicas > 1 and spec.secrets.master_key_secret_ref is None


def drain_seconds(spec: InstanceSpec) -> int:
    """preStop sleep: serverDrain.timeoutSeconds clamped to [0, grace - 1]; 0 means no hook."""
    drain = spec.availability.server_drain
    if not drain.enabled:
        return 0
    grace = spec.availability.termination_grace_period_seconds
    return max(0, min(drain.timeout_seconds, grace - 1))


def errors(instance: Instance) -> list[Problem]:
    """Rules that stop synthesis."""
    spec = instance.spec
    found: list[Problem] = []

    def add(path: str, message: str, fix: str) -> None:
        found.append(Problem(message=message, path=path, fix=fix))

    if not spec.image.tag and not spec.image.digest:
        add(
            "spec.image",
            "one of tag or digest must be set; an unpinned (:latest) image is not supported.",
            "set spec.image.tag (e.g. 2026.1106.0) or spec.image.digest (sha256:...).",
        )
    if spec.deployment.mode is DeploymentMode.LOCAL_TRUSTED and (
        spec.deployment.exposure is not Exposure.PRIVATE
    ):
        add(
            "spec.deployment.exposure",
            "exposure must be private when mode is local_trusted (local_trusted has no login).",
            "set spec.deployment.exposure: private, or spec.deployment.mode: authenticated.",
        )
    db = spec.database
    if db.mode is None:
        add(
            "spec.database.mode",
            "is required: the CRD default, managed, is not built by paperclip-gitops yet.",
            "set spec.database.mode to embedded or external.",
        )
    elif db.mode is DatabaseMode.EXTERNAL and not (db.external_url or db.external_url_secret_ref):
        add(
            "spec.database",
            "mode external needs a database URL.",
            "set spec.database.externalURLSecretRef (a Secret key holding DATABASE_URL).",
        )
    elif db.mode is DatabaseMode.EMBEDDED and (db.external_url or db.external_url_secret_ref):
        add(
            "spec.database.mode",
            "is embedded, but externalURL/externalURLSecretRef is set and would be ignored.",
            "set spec.database.mode: external, or remove the external URL.",
        )
    if spec.deployment.mode is DeploymentMode.AUTHENTICATED and spec.auth.secret_ref is None:
        add(
            "spec.auth.secretRef",
            "is required in authenticated mode: the server refuses to start without "
            "BETTER_AUTH_SECRET.",
            "create a Secret with a random value and reference it as spec.auth.secretRef "
            "{name, key}, or use deployment.mode: local_trusted for a private test instance.",
        )
    if spec.availability.replicas > 1:
        count = spec.availability.replicas
        if db.mode is DatabaseMode.EMBEDDED:
            add(
                "spec.database.mode",
                f"is embedded, but {count} replicas are requested: the embedded PostgreSQL "
                "lives inside one pod and cannot be shared.",
                "use database.mode: external, or availability.replicas: 1.",
            )
        if spec.object_storage is None:
            add(
                "spec.objectStorage",
                f"is required for {count} replicas: uploaded files on one pod's volume are "
                "invisible to the others.",
                "configure spec.objectStorage (s3, minio or r2), or availability.replicas: 1.",
            )
    persistence = spec.storage.persistence.enabled
    if spec.workload is WorkloadKind.DEPLOYMENT and persistence:
        add(
            "spec.workload",
            "is Deployment, but storage.persistence is enabled: surging Deployment pods cannot "
            "share the data volume (the operator silently keeps a StatefulSet here).",
            "set spec.storage.persistence.enabled: false and configure spec.objectStorage, or "
            "use workload: StatefulSet.",
        )
    elif (
        effective_workload(spec) is WorkloadKind.DEPLOYMENT
        and spec.availability.replicas > 1
        and spec.heartbeat.enabled
        and spec.heartbeat.scheduler_gating.resolved is SchedulerGating.ORDINAL
    ):
        add(
            "spec.heartbeat.schedulerGating",
            "resolves to ordinal, which needs StatefulSet pod names (-0), but the workload is "
            f"a Deployment with {spec.availability.replicas} replicas: every pod would run "
            "the scheduler.",
            "set spec.heartbeat.schedulerGating: lease.",
        )
    return found


def warnings(instance: Instance) -> list[Problem]:
    """Rules worth a printed warning; synthesis goes on."""
    spec = instance.spec
    found: list[Problem] = []
    if spec.image.tag == "latest" and not spec.image.digest:
        found.append(
            Problem(
                "tag latest is mutable: Git will not record which image runs.",
                "spec.image.tag",
                "pin a release tag or a digest.",
            )
        )
    if spec.deployment.exposure is Exposure.PUBLIC and spec.deployment.public_url is None:
        found.append(
            Problem(
                "public exposure without publicURL: auth callbacks and links use the wrong host.",
                "spec.deployment.publicURL",
                "set the URL users reach the server at.",
            )
        )
    if not spec.storage.persistence.enabled and spec.database.mode is DatabaseMode.EMBEDDED:
        found.append(
            Problem(
                "persistence is off with the embedded database: all data is lost when the pod "
                "restarts.",
                "spec.storage.persistence.enabled",
                "enable persistence, or use an external database.",
            )
        )
    if spec.availability.replicas > 1 and spec.storage.persistence.enabled:
        found.append(
            Problem(
                "all replicas mount the one data volume; with ReadWriteOnce they must share a "
                "node.",
                "spec.storage.persistence",
                "use a ReadWriteMany storage class, or disable persistence.",
            )
        )
    interval = spec.heartbeat.interval_ms
    if 0 < interval < SERVER_MIN_HEARTBEAT_MS:
        found.append(
            Problem(
                f"{interval} ms is below the server minimum; it runs every "
                f"{SERVER_MIN_HEARTBEAT_MS} ms.",
                "spec.heartbeat.intervalMS",
                f"use at least {SERVER_MIN_HEARTBEAT_MS}.",
            )
        )
    if shared_master_key(spec):
        found.append(
            Problem(
                f"{instance.name}-secrets-master-key is created in-cluster with a new random key "
                "(unless it exists). If this instance ran with one replica before, its key is "
                "the file instances/default/secrets/master.key on the data volume: put that "
                "value into the Secret (key master-key) before syncing, or stored secrets stop "
                "decrypting.",
                "spec.secrets.masterKeySecretRef",
                "create the Secret from the existing key first, or reference your own Secret here.",
            )
        )
    for index, item in enumerate(spec.env):
        name = str(item.get("name", ""))
        if "value" in item and item.get("value") and _SECRET_LOOKING_NAME.search(name):
            found.append(
                Problem(
                    f"{name} looks like a credential, and a literal value is committed to git "
                    "in the generated ConfigMap/pod spec.",
                    f"spec.env[{index}].value",
                    "put the value in a Secret and use valueFrom.secretKeyRef.",
                )
            )
    labels = instance.metadata.labels
    for key in GENERATED_LABEL_KEYS:
        if key in labels:
            found.append(
                Problem(
                    f"label {key} is set on every generated object by paperclip-gitops; the "
                    f"Instance's value {labels[key]!r} is overridden.",
                    f"metadata.labels.{key}",
                    "remove it from the Instance labels.",
                )
            )
    service = spec.networking.service
    policy = spec.security.network_policy
    exposed = spec.deployment.exposure is Exposure.PUBLIC or service.type in (
        ServiceType.LOAD_BALANCER,
        ServiceType.NODE_PORT,
    )
    if exposed and policy.enabled and not policy.allow_ingress_cidrs:
        why = (
            f"the Service is a {service.type.value}"
            if service.type is not ServiceType.CLUSTER_IP
            else "exposure is public"
        )
        found.append(
            Problem(
                f"{why}, but the server NetworkPolicy admits only pods of namespace "
                f"{instance.namespace}: traffic from a load balancer, node port or ingress "
                "controller in another namespace is dropped, so the server is unreachable from "
                "outside.",
                "spec.security.networkPolicy.allowIngressCIDRs",
                "add the source ranges of your load balancer or ingress controller pods here, "
                "or disable the policy (spec.security.networkPolicy.enabled: false).",
            )
        )
    drain = spec.availability.server_drain
    grace = spec.availability.termination_grace_period_seconds
    if drain.enabled and drain.timeout_seconds >= grace > 0:
        found.append(
            Problem(
                f"the drain sleep ({drain.timeout_seconds}s) is not shorter than the grace "
                f"period ({grace}s); it is clamped to {max(0, grace - 1)}s.",
                "spec.availability.serverDrain.timeoutSeconds",
                "lower it, or raise terminationGracePeriodSeconds.",
            )
        )
    return found
