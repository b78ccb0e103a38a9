"""Decisions derived from a spec, and the synth-time rules.

The operator reports several of these only at run time, as conditions (WorkloadProfileValid,
MultiReplicaPreconditions, SchedulerGatingValid) or not at all; here they stop synthesis with
the field path and the fix, or print a warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from constructs_lib.errors import Problem
from constructs_lib.spec import availability_rules, env_rules
from constructs_lib.spec.data import AccessMode, DatabaseMode
from constructs_lib.spec.instance import Instance, InstanceSpec
from constructs_lib.spec.platform import ProbeType, ServiceType, WorkloadKind
from constructs_lib.spec.server import DeploymentMode, Exposure, SecretsProvider

SERVER_MIN_HEARTBEAT_MS = 10000
# Label keys every generated object carries; an Instance label with one of them is overridden.
GENERATED_LABEL_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
)


def effective_workload(spec: InstanceSpec) -> WorkloadKind:
    """StatefulSet or Deployment.

    ``Deployment`` gives a Deployment (an error when persistence is on, see :func:`errors`);
    ``auto`` gives a Deployment only when persistence is off and the database is not embedded;
    anything else a StatefulSet.
    """
    if spec.workload is WorkloadKind.DEPLOYMENT or (
        spec.workload is WorkloadKind.AUTO
        and not spec.storage.persistence.enabled
        and spec.database.mode is not DatabaseMode.EMBEDDED
    ):
        return WorkloadKind.DEPLOYMENT
    return WorkloadKind.STATEFUL_SET


def replicas(spec: InstanceSpec) -> int | None:
    """Replicas of the server workload: 0 when suspended; None (left to the autoscaler, so a
    sync never resets what it chose) while autoscaling is on."""
    if spec.suspended:
        return 0
    if spec.availability.autoscaler is not None:
        return None
    return spec.availability.replicas


def ordinal_gating(spec: InstanceSpec) -> bool:
    """Whether only the pod whose hostname ends in -0 runs the heartbeat scheduler."""
    return (
        spec.heartbeat.ordinal
        and spec.availability.several
        and effective_workload(spec) is WorkloadKind.STATEFUL_SET
    )


def probe_kind(spec: InstanceSpec) -> ProbeType | None:
    """tcp or http; auto is tcp in authenticated mode. None in local_trusted mode, where the
    server binds 127.0.0.1 only: exec probes from inside the pod."""
    if spec.deployment.mode is DeploymentMode.LOCAL_TRUSTED:
        return None
    if spec.probes.type is ProbeType.AUTO:
        return ProbeType.TCP
    return spec.probes.type


def shared_master_key(spec: InstanceSpec) -> bool:
    """Whether the secrets bootstrap creates <name>-secrets-master-key in-cluster: more than
    one replica must decrypt with one key, no masterKeySecretRef names it, and the server
    encrypts secrets itself (local_encrypted; AWS Secrets Manager keeps them in AWS)."""
    return (
        spec.availability.several
        and spec.secrets.master_key_secret_ref is None
        and spec.secrets.provider is SecretsProvider.LOCAL_ENCRYPTED
    )


def builds_for_several(spec: InstanceSpec) -> bool:
    """Whether the objects differ between one server replica and several: a shared master key
    or ordinal heartbeat gating (the only build decisions that read ``several``)."""
    return shared_master_key(spec) or ordinal_gating(spec)


def drain_seconds(spec: InstanceSpec) -> int:
    """preStop sleep: serverDrain.timeoutSeconds clamped to [0, grace - 1]; 0 means no hook."""
    drain = spec.availability.server_drain
    if not drain.enabled:
        return 0
    grace = spec.availability.termination_grace_period_seconds
    return max(0, min(drain.timeout_seconds, grace - 1))


def errors(instance: Instance) -> list[Problem]:
    """Rules that stop synthesis."""
    return list(_errors(instance))


def warnings(instance: Instance) -> list[Problem]:
    """Rules worth a printed warning; synthesis goes on."""
    return list(_warnings(instance))


def _errors(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    persistence = spec.storage.persistence
    if (
        spec.availability.several
        and persistence.enabled
        and AccessMode.READ_WRITE_MANY not in persistence.access_modes
    ):
        modes = ", ".join(m.value for m in persistence.access_modes)
        yield Problem(
            f"up to {spec.availability.max_replicas} replicas mount the one data volume, whose "
            f"access mode ({modes}) lets only one node (ReadWriteOnce) or one pod "
            "(ReadWriteOncePod) mount it: the other replicas cannot start.",
            "spec.storage.persistence.accessModes",
            "use accessModes: [ReadWriteMany] with a storage class that provides it, run one "
            "replica, or disable persistence (with an external database).",
        )
    if not spec.image.tag and not spec.image.digest:
        yield Problem(
            "one of tag or digest must be set; an unpinned (:latest) image is not supported.",
            "spec.image",
            "set spec.image.tag (e.g. 2026.1106.0) or spec.image.digest (sha256:...).",
        )
    if spec.deployment.mode is DeploymentMode.LOCAL_TRUSTED and (
        spec.deployment.exposure is not Exposure.PRIVATE
    ):
        yield Problem(
            "exposure must be private when mode is local_trusted (local_trusted has no login).",
            "spec.deployment.exposure",
            "set spec.deployment.exposure: private, or spec.deployment.mode: authenticated.",
        )
    db = spec.database
    if db.mode is DatabaseMode.EXTERNAL and not (db.external_url or db.external_url_secret_ref):
        yield Problem(
            "mode external needs a database URL.",
            "spec.database",
            "set spec.database.externalURLSecretRef (a Secret key holding DATABASE_URL).",
        )
    elif db.mode is not DatabaseMode.EXTERNAL and (db.external_url or db.external_url_secret_ref):
        yield Problem(
            f"is {db.mode.value}{' (the default)' if db.mode is DatabaseMode.MANAGED else ''}, "
            "but externalURL/externalURLSecretRef is set and would be ignored.",
            "spec.database.mode",
            "set spec.database.mode: external, or remove the external URL.",
        )
    # Without auth.secretRef the server falls back to the PAPERCLIP_AGENT_JWT_SECRET that the
    # onboard step writes into <PAPERCLIP_HOME>/instances/<id>/.env (observed with the real
    # server): fine for one pod on a persistent volume, not for pods that each onboard their
    # own secret or lose it on every restart.
    shared_or_lost = not persistence.enabled or spec.availability.several
    if (
        spec.deployment.mode is DeploymentMode.AUTHENTICATED
        and spec.auth.secret_ref is None
        and shared_or_lost
    ):
        why = (
            "persistence is off, so every restart onboards a new secret and signs every user out"
            if not persistence.enabled
            else f"up to {spec.availability.max_replicas} replicas would each onboard their own "
            "secret and refuse each other's sessions"
        )
        yield Problem(
            "is required here: without it the server signs sessions with the secret the onboard "
            f"step writes on its data volume, and {why}.",
            "spec.auth.secretRef",
            "create a Secret with a random value and reference it as spec.auth.secretRef "
            "{name, key}.",
        )
    if spec.deployment.mode is DeploymentMode.LOCAL_TRUSTED:
        yield from _local_trusted_errors(instance)
    if spec.availability.several:
        count = spec.availability.max_replicas
        if db.mode is DatabaseMode.EMBEDDED:
            yield Problem(
                f"is embedded, but up to {count} replicas are requested: the embedded PostgreSQL "
                "lives inside one pod and cannot be shared.",
                "spec.database.mode",
                "use database.mode: external, or availability.replicas: 1.",
            )
        if spec.object_storage is None:
            yield Problem(
                f"is required for up to {count} replicas: uploaded files on one pod's volume are "
                "invisible to the others.",
                "spec.objectStorage",
                "configure spec.objectStorage (s3, minio or r2), or availability.replicas: 1.",
            )
    if spec.workload is WorkloadKind.DEPLOYMENT and persistence.enabled:
        yield Problem(
            "is Deployment, but storage.persistence is enabled: surging Deployment pods cannot "
            "share the data volume (the operator silently keeps a StatefulSet here).",
            "spec.workload",
            "set spec.storage.persistence.enabled: false and configure spec.objectStorage, or "
            "use workload: StatefulSet.",
        )
    elif (
        effective_workload(spec) is WorkloadKind.DEPLOYMENT
        and spec.availability.several
        and spec.heartbeat.ordinal
    ):
        yield Problem(
            "resolves to ordinal, which needs StatefulSet pod names (-0), but the workload is "
            f"a Deployment with up to {spec.availability.max_replicas} replicas: every pod would "
            "run the scheduler.",
            "spec.heartbeat.schedulerGating",
            "set spec.heartbeat.schedulerGating: lease.",
        )
    yield from availability_rules.errors(instance)
    yield from env_rules.errors(instance)  # a URL with a credential in a literal env value


def _local_trusted_errors(instance: Instance) -> Iterator[Problem]:
    """local_trusted has no login, so the server listens on 127.0.0.1 only (it refuses any
    other bind: "local_trusted requires server.bind=loopback"); nothing outside the pod
    reaches it but ``kubectl port-forward``."""
    spec = instance.spec
    fix = "use deployment.mode: authenticated (exposure private needs no Secret on one pod)."
    unreachable = "the server binds 127.0.0.1 only in local_trusted mode, so"
    if spec.agents.enabled:
        yield Problem(
            f"is on, but {unreachable} agent pods cannot call back its API.",
            "spec.agents.enabled",
            fix,
        )
    ingress, route = spec.networking.ingress, spec.networking.http_route
    service = spec.networking.service.type
    routes = (  # (field, what it is, whether it routes to the server)
        ("ingress", "enabled", ingress is not None and ingress.enabled),
        ("httpRoute", "enabled", route is not None and route.enabled),
        ("service.type", service.value, service is not ServiceType.CLUSTER_IP),
    )
    for path, state, routing in routes:
        if routing:
            yield Problem(
                f"is {state}, but {unreachable} it would route to nothing.",
                f"spec.networking.{path}",
                fix,
            )
    if spec.probes.type is not ProbeType.AUTO:
        yield Problem(
            f"is {spec.probes.type.value}, but {unreachable} the kubelet's "
            f"{spec.probes.type.value} probes cannot reach it (exec probes inside the pod "
            "are used).",
            "spec.probes.type",
            "leave probes.type at auto, or use deployment.mode: authenticated.",
        )


def _warnings(instance: Instance) -> Iterator[Problem]:
    spec = instance.spec
    execution = spec.adapters.execution
    if (
        execution is not None
        and execution.kubernetes is not None
        and (spec.adapters.kubernetes_execution is None)
    ):
        yield Problem(
            "is set, but execution mode is not kubernetes, so none of it is used (no "
            "PAPERCLIP_K8S_* env, no ClusterRole).",
            "spec.adapters.execution.kubernetes",
            "set adapters.execution.mode: kubernetes, or remove the kubernetes block.",
        )
    if spec.image.tag == "latest" and not spec.image.digest:
        yield Problem(
            "tag latest is mutable: Git will not record which image runs.",
            "spec.image.tag",
            "pin a release tag or a digest.",
        )
    if spec.deployment.exposure is Exposure.PUBLIC and spec.deployment.public_url is None:
        yield Problem(
            "public exposure without publicURL: auth callbacks and links use the wrong host.",
            "spec.deployment.publicURL",
            "set the URL users reach the server at.",
        )
    persistence = spec.storage.persistence
    if (
        persistence.enabled
        and AccessMode.READ_WRITE_MANY in persistence.access_modes
        and persistence.storage_class is None
    ):
        yield Problem(
            "ReadWriteMany with the cluster's default StorageClass assumes that class "
            "provides it; most defaults do not (kind, k3d, minikube, EBS, Azure Disk, GCE PD), "
            "and the claim then stays Pending.",
            "spec.storage.persistence.storageClass",
            "name a StorageClass that provides ReadWriteMany.",
        )
    if not persistence.enabled and spec.database.mode is DatabaseMode.EMBEDDED:
        yield Problem(
            "persistence is off with the embedded database: all data is lost when the pod "
            "restarts.",
            "spec.storage.persistence.enabled",
            "enable persistence, or use an external database.",
        )
    interval = spec.heartbeat.interval_ms
    if 0 < interval < SERVER_MIN_HEARTBEAT_MS:
        yield Problem(
            f"{interval} ms is below the server minimum; it runs every "
            f"{SERVER_MIN_HEARTBEAT_MS} ms.",
            "spec.heartbeat.intervalMS",
            f"use at least {SERVER_MIN_HEARTBEAT_MS}.",
        )
    if shared_master_key(spec):
        yield Problem(
            f"{instance.name}-secrets-master-key is created in-cluster with a new random key "
            "(unless it exists). If this instance ran with one replica before, its key is "
            "the file instances/default/secrets/master.key on the data volume: put that "
            "value into the Secret (key master-key) before syncing, or stored secrets stop "
            "decrypting.",
            "spec.secrets.masterKeySecretRef",
            "create the Secret from the existing key first, or reference your own Secret here.",
        )
    yield from env_rules.warnings(instance)  # secret-looking literals, wherever env is taken
    labels = instance.metadata.labels
    for key in GENERATED_LABEL_KEYS:
        if key in labels:
            yield Problem(
                f"label {key} is set on every generated object by paperclip-gitops; the "
                f"Instance's value {labels[key]!r} is overridden.",
                f"metadata.labels.{key}",
                "remove it from the Instance labels.",
            )
    service = spec.networking.service
    policy = spec.security.network_policy
    node_exposed = service.type is not ServiceType.CLUSTER_IP  # a LoadBalancer or NodePort
    exposed = spec.deployment.exposure is Exposure.PUBLIC or node_exposed
    ingress, route = spec.networking.ingress, spec.networking.http_route
    routed = (ingress is not None and ingress.enabled) or (route is not None and route.enabled)
    # Tailscale funnel traffic arrives through the sidecar's own outbound connection.
    tailscale = spec.tailscale
    funnel = tailscale is not None and tailscale.enabled and tailscale.mode.value == "funnel"
    routed = routed or (funnel and not node_exposed)
    if exposed and policy.enabled and not policy.allow_ingress_cidrs and not routed:
        why = f"the Service is a {service.type.value}" if node_exposed else "exposure is public"
        yield Problem(
            f"{why}, but the server NetworkPolicy admits only pods of namespace "
            f"{instance.namespace}: traffic from a load balancer, node port or ingress "
            "controller in another namespace is dropped, so the server is unreachable from "
            "outside.",
            "spec.security.networkPolicy.allowIngressCIDRs",
            "add the source ranges of your load balancer or ingress controller pods here, "
            "or disable the policy (spec.security.networkPolicy.enabled: false).",
        )
    drain = spec.availability.server_drain
    grace = spec.availability.termination_grace_period_seconds
    if drain.enabled and drain.timeout_seconds >= max(grace, 1):
        clamped = drain_seconds(spec)
        yield Problem(
            f"the drain sleep ({drain.timeout_seconds}s) is not shorter than the grace "
            f"period ({grace}s); it is clamped to {clamped}s"
            + (": the server pod gets no preStop drain at all." if not clamped else "."),
            "spec.availability.serverDrain.timeoutSeconds",
            "lower it, or raise terminationGracePeriodSeconds.",
        )
    yield from availability_rules.warnings(instance)
