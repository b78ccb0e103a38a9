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

_MODULES = {
    "AccessMode": "constructs_lib.spec.data",
    "AgentTemplate": "constructs_lib.spec.agents",
    "AgentsSpec": "constructs_lib.spec.agents",
    "AuthSpec": "constructs_lib.spec.server",
    "AvailabilitySpec": "constructs_lib.spec.platform",
    "DatabaseMode": "constructs_lib.spec.data",
    "DatabaseSpec": "constructs_lib.spec.data",
    "DeploymentMode": "constructs_lib.spec.server",
    "DeploymentSpec": "constructs_lib.spec.server",
    "Exposure": "constructs_lib.spec.server",
    "HeartbeatSpec": "constructs_lib.spec.server",
    "ImageSpec": "constructs_lib.spec.server",
    "Instance": "constructs_lib.spec.instance",
    "InstanceSpec": "constructs_lib.spec.instance",
    "LauncherSpec": "constructs_lib.spec.agents",
    "LocalObjectReference": "constructs_lib.spec.base",
    "LogLevel": "constructs_lib.spec.server",
    "LoggingSpec": "constructs_lib.spec.server",
    "NetworkPolicySpec": "constructs_lib.spec.platform",
    "NetworkingSpec": "constructs_lib.spec.platform",
    "ObjectMetadata": "constructs_lib.spec.instance",
    "ObjectStorageProvider": "constructs_lib.spec.data",
    "ObjectStorageSpec": "constructs_lib.spec.data",
    "ObservabilitySpec": "constructs_lib.spec.server",
    "PersistenceSpec": "constructs_lib.spec.data",
    "ProbeOverride": "constructs_lib.spec.platform",
    "ProbeType": "constructs_lib.spec.platform",
    "ProbesSpec": "constructs_lib.spec.platform",
    "PullPolicy": "constructs_lib.spec.server",
    "RBACSpec": "constructs_lib.spec.platform",
    "SchedulerGating": "constructs_lib.spec.server",
    "SecretKeySelector": "constructs_lib.spec.base",
    "SecretsSpec": "constructs_lib.spec.server",
    "SecuritySpec": "constructs_lib.spec.platform",
    "ServerDrainSpec": "constructs_lib.spec.platform",
    "ServiceSpec": "constructs_lib.spec.platform",
    "ServiceType": "constructs_lib.spec.platform",
    "StorageSpec": "constructs_lib.spec.data",
    "WorkloadKind": "constructs_lib.spec.platform",
    "WorkspaceSpec": "constructs_lib.spec.agents",
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
