"""The Instance spec: pydantic models of paperclip.inc/v1alpha1 Instance, loading and rules.

The models load on first use of a name below (PEP 562): the spec's pure modules (``crds``,
``kubeschema``, ``semantic``) import without them, which keeps the start of commands that
need no model (``check`` of fresh apps, ``schema``) short.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs_lib.spec.agents import AgentsSpec, AgentTemplate, LauncherSpec, WorkspaceSpec
    from constructs_lib.spec.base import LocalObjectReference, SecretKeySelector
    from constructs_lib.spec.data import (
        AccessMode,
        DatabaseMode,
        DatabaseSpec,
        ObjectStorageProvider,
        ObjectStorageSpec,
        PersistenceSpec,
        StorageSpec,
    )
    from constructs_lib.spec.instance import Instance, InstanceSpec, ObjectMetadata
    from constructs_lib.spec.platform import (
        AvailabilitySpec,
        NetworkingSpec,
        NetworkPolicySpec,
        ProbeOverride,
        ProbesSpec,
        ProbeType,
        RBACSpec,
        SecuritySpec,
        ServerDrainSpec,
        ServiceSpec,
        ServiceType,
        WorkloadKind,
    )
    from constructs_lib.spec.server import (
        AuthSpec,
        DeploymentMode,
        DeploymentSpec,
        Exposure,
        HeartbeatSpec,
        ImageSpec,
        LoggingSpec,
        LogLevel,
        ObservabilitySpec,
        PullPolicy,
        SchedulerGating,
        SecretsSpec,
    )

_EXPORTS = {
    "agents": "AgentTemplate AgentsSpec LauncherSpec WorkspaceSpec",
    "base": "LocalObjectReference SecretKeySelector",
    "data": (
        "AccessMode DatabaseMode DatabaseSpec ObjectStorageProvider ObjectStorageSpec "
        "PersistenceSpec StorageSpec"
    ),
    "instance": "Instance InstanceSpec ObjectMetadata",
    "platform": (
        "AvailabilitySpec NetworkPolicySpec NetworkingSpec ProbeOverride ProbeType ProbesSpec "
        "RBACSpec SecuritySpec ServerDrainSpec ServiceSpec ServiceType WorkloadKind"
    ),
    "server": (
        "AuthSpec DeploymentMode DeploymentSpec Exposure HeartbeatSpec ImageSpec LogLevel "
        "LoggingSpec ObservabilitySpec PullPolicy SchedulerGating SecretsSpec"
    ),
}
_MODULES = {
    name: f"constructs_lib.spec.{module}"
    for module, names in _EXPORTS.items()
    for name in names.split()
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = getattr(import_module(_MODULES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AccessMode",
    "AgentTemplate",
    "AgentsSpec",
    "AuthSpec",
    "AvailabilitySpec",
    "DatabaseMode",
    "DatabaseSpec",
    "DeploymentMode",
    "DeploymentSpec",
    "Exposure",
    "HeartbeatSpec",
    "ImageSpec",
    "Instance",
    "InstanceSpec",
    "LauncherSpec",
    "LocalObjectReference",
    "LogLevel",
    "LoggingSpec",
    "NetworkPolicySpec",
    "NetworkingSpec",
    "ObjectMetadata",
    "ObjectStorageProvider",
    "ObjectStorageSpec",
    "ObservabilitySpec",
    "PersistenceSpec",
    "ProbeOverride",
    "ProbeType",
    "ProbesSpec",
    "PullPolicy",
    "RBACSpec",
    "SchedulerGating",
    "SecretKeySelector",
    "SecretsSpec",
    "SecuritySpec",
    "ServerDrainSpec",
    "ServiceSpec",
    "ServiceType",
    "StorageSpec",
    "WorkloadKind",
    "WorkspaceSpec",
]
