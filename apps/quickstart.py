"""The default app: one Paperclip server with the embedded database, for a private cluster.

Authenticated mode with private exposure: reach it with
`kubectl port-forward -n paperclip svc/quickstart 3100`, open http://localhost:3100 and sign
up. It needs no Secret: on one pod with a persistent volume the server signs sessions with
the secret its onboard step writes there (local_trusted mode, which has no login, binds
127.0.0.1 only, so agent pods could not call its API back).
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
                    mode=DeploymentMode.AUTHENTICATED, exposure=Exposure.PRIVATE
                ),
                database=DatabaseSpec(mode=DatabaseMode.EMBEDDED),
                storage=StorageSpec(persistence=PersistenceSpec(enabled=True, size="10Gi")),
                # Agent runs as Kubernetes Jobs through the launcher, with the built-in
                # opencode template (see dist/quickstart/agents/ for the adapter config).
                agents=AgentsSpec(enabled=True),
            ),
        )
    ]
