"""Building an instance, as plain Python: its plan (the features that apply and what they
contribute to the server pod) and its objects, in order. No cdk8s, no jsii: the command line
builds through these functions only; :class:`PaperclipInstance` puts the same objects into a
cdk8s app."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from constructs_lib.constructs.feature import (
    BootstrapSecret,
    BuildContext,
    Contribution,
    EnvEntry,
    EnvSlot,
    Feature,
    InstancePart,
    SecretForm,
)
from constructs_lib.constructs.kube import KubeObject, ObjectSink
from constructs_lib.constructs.names import MASTER_KEY_SECRET_KEY, master_key_secret_name
from constructs_lib.constructs.package_files import Sources
from constructs_lib.constructs.package_files import sources as package_sources
from constructs_lib.constructs.pod import pod_template
from constructs_lib.constructs.podrefs import layout, pod_reference_errors
from constructs_lib.constructs.podsecurity import server_pod_warnings
from constructs_lib.constructs.registry import FEATURES
from constructs_lib.constructs.secrets_bootstrap import SecretsBootstrap
from constructs_lib.constructs.server import ServerStack, server_env
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance, rules


@dataclass(frozen=True)
class Plan:
    """What an instance is made of, decided before any construct is built."""

    instance: Instance
    features: tuple[type[Feature], ...]
    contribution: Contribution
    server_env: tuple[EnvEntry, ...]
    """:func:`server_env` of the instance and the contribution, made once for the plan's
    checks and the objects (its entries are immutable)."""


def server_contribution(instance: Instance) -> Contribution:
    """What the server itself registers: the shared master key for several replicas."""
    if not rules.shared_master_key(instance.spec):
        return Contribution()
    secret = BootstrapSecret(
        master_key_secret_name(instance), MASTER_KEY_SECRET_KEY, SecretForm.BASE64_32
    )
    return Contribution(secrets=[secret])


# Where each slot's variables come from, for the fix of an override (see env_override_errors).
_SLOT_FIELDS = {
    EnvSlot.OBSERVABILITY: "spec.observability",
    EnvSlot.DATABASE: "spec.database",
    EnvSlot.AUTH_SECRET: "spec.auth.secretRef",
    EnvSlot.MASTER_KEY: "spec.secrets.masterKeySecretRef",
    EnvSlot.SECRETS_PROVIDER: "spec.secrets",
    EnvSlot.IDENTITY: "spec.auth",
    EnvSlot.OBJECT_STORAGE: "spec.objectStorage.credentialsSecretRef",
    EnvSlot.LLM_KEYS: "spec.adapters.apiKeysSecretRef",
    EnvSlot.E2B: "spec.adapters.e2b",
    EnvSlot.CLOUD_SANDBOX: "spec.adapters.cloudSandbox",
    EnvSlot.EXECUTION: "spec.adapters.execution",
    EnvSlot.ADAPTERS: "spec.adapters.registry",
    EnvSlot.CONNECTIONS: "spec.connections",
    EnvSlot.EXTENSIONS: "spec.agents",
}


def env_override_errors(instance: Instance, entries: list[EnvEntry]) -> list[Problem]:
    """A ``spec.env`` entry named like a variable the generator puts into the server
    container's own env (one from a Secret, or one that expands others, e.g. DATABASE_URL
    with $(DB_PASSWORD)): the env list is merged by name, so server-side apply refuses the
    workload, and the entry would replace credential wiring. A variable the generator sets
    as a literal lives in the instance ConfigMap (envFrom) instead; spec.env overrides it
    (the container's env wins), as documented. ``entries``: the :func:`server_env` of the
    instance and its contribution."""
    wired = {e.name: e for e in entries if e.in_container_env}
    found = []
    for index, item in enumerate(instance.spec.env):
        entry = wired.get(str(item.get("name", "")))
        if entry is None:
            continue
        kind = "ConfigMap" if entry.config_map else "Secret"
        source = (
            f"from the {kind} {entry.secret_name} (key {entry.secret_key})"
            if entry.is_secret
            else "as a value built from " + ", ".join(re.findall(r"\$\([^)]*\)", entry.value or ""))
        )
        field = _SLOT_FIELDS.get(entry.slot, "the spec field that generates it")
        found.append(
            Problem(
                f"{entry.name} is set by paperclip-gitops {source}; a second {entry.name} in the "
                "server's env makes server-side apply (Flux; Argo CD with ServerSideApply=true) "
                "refuse the whole workload, and would replace that wiring.",
                f"spec.env[{index}].name",
                f"remove it from spec.env; configure it through {field}.",
            )
        )
    return found


def plan(instance: Instance) -> Plan:
    """The features that apply and every contribution folded together (pure)."""
    features = tuple(f for f in FEATURES if f.applies(instance))
    parts = [server_contribution(instance), *(f.contribute(instance) for f in features)]
    contribution = Contribution.combine(parts)
    entries = server_env(instance, contribution)
    pod = pod_template(instance, entries, contribution)["spec"]  # the server pod's spec
    contribution.warnings += server_pod_warnings(pod, layout(instance, pod))
    contribution.errors += env_override_errors(instance, entries)
    contribution.errors += pod_reference_errors(instance, pod)
    return Plan(instance, features, contribution, tuple(entries))


def instance_errors(instance: Instance, planned: Plan) -> list[Problem]:
    """What stops synthesis of one instance: the synth-time rules and every feature's errors
    (the command line and the cdk8s construct refuse the same instances)."""
    return [*rules.errors(instance), *planned.contribution.errors]


def feature_errors(instance: Instance) -> list[Problem]:
    """The errors the features of ``instance`` raise (a loader check, see
    :data:`constructs_lib.spec.instance_errors.Check`)."""
    return list(plan(instance).contribution.errors)


def parts(planned: Plan) -> list[type[InstancePart]]:
    """The parts that add an instance's objects, in order (features that only contribute to
    the server pod have none: see :meth:`InstancePart.adds_objects`)."""
    bootstrap: list[type[InstancePart]] = [SecretsBootstrap] if planned.contribution.secrets else []
    features = [f for f in planned.features if f.adds_objects()]
    return [ServerStack, *features, *bootstrap]


def instance_objects(planned: Plan, sources: Sources | None = None) -> list[KubeObject]:
    """Every object of the instance ``planned``, in the order its parts add them
    (``sources``: the package files the objects carry; by default the installed package's)."""
    sink: ObjectSink = {}
    files = sources or package_sources()
    context = BuildContext(
        planned.instance,
        sink,
        planned.contribution,
        planned.server_env,
        dict(files.adapter_files),
        files.db_script,
        dict(files.scripts),
    )
    for part in parts(planned):
        part(context).add_objects()
    return list(sink.values())


def manifests(planned: Plan, sources: Sources | None = None) -> list[dict[str, Any]]:
    """:func:`instance_objects` as Kubernetes JSON."""
    return [o.to_json() for o in instance_objects(planned, sources)]
