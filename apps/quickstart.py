"""The default app: one Paperclip server with the embedded database, for a private cluster.

local_trusted mode (no login) is only allowed with private exposure: reach it with
`kubectl port-forward -n paperclip svc/quickstart 3100` and open http://localhost:3100.
"""

from __future__ import annotations

from constructs_lib.spec import (
    AgentsSpec,
    DatabaseMode,
    DatabaseSpec,
    DeploymentMode,
    DeploymentSpec,
    Exposure,
    ImageSpec,
    Instance,
    InstanceSpec,
    ObjectMetadata,
    PersistenceSpec,
    StorageSpec,
)

PAPERCLIP_VERSION = "2026.1106.0"


def instances() -> list[Instance]:
    return [
        Instance(
            metadata=ObjectMetadata(name="quickstart", namespace="paperclip"),
            spec=InstanceSpec(
                image=ImageSpec(tag=PAPERCLIP_VERSION),
                deployment=DeploymentSpec(
                    mode=DeploymentMode.LOCAL_TRUSTED, exposure=Exposure.PRIVATE
                ),
                database=DatabaseSpec(mode=DatabaseMode.EMBEDDED),
                storage=StorageSpec(persistence=PersistenceSpec(enabled=True, size="10Gi")),
                # Agent runs as Kubernetes Jobs through the launcher, with the built-in
                # opencode template (see dist/quickstart/agents/ for the adapter config).
                agents=AgentsSpec(enabled=True),
            ),
        )
    ]
