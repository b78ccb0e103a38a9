"""The features an instance can have, in the order their constructs are built."""

from __future__ import annotations

from constructs_lib.constructs.adapters import AdaptersFeature
from constructs_lib.constructs.admin_bootstrap import AdminBootstrap
from constructs_lib.constructs.agents import AgentsFeature
from constructs_lib.constructs.availability import AvailabilityFeature
from constructs_lib.constructs.backup import Backups
from constructs_lib.constructs.branding import BrandingFeature, ConnectionsFeature
from constructs_lib.constructs.database import ManagedDatabase
from constructs_lib.constructs.execution import ExecutionFeature
from constructs_lib.constructs.feature import Feature
from constructs_lib.constructs.identity import IdentityFeature
from constructs_lib.constructs.image_automation import ImageAutomationFeature
from constructs_lib.constructs.networking import NetworkingFeature
from constructs_lib.constructs.observability import ObservabilityFeature
from constructs_lib.constructs.secrets_provider import SecretsProviderFeature
from constructs_lib.constructs.tailscale import TailscaleFeature

FEATURES: tuple[type[Feature], ...] = (
    ManagedDatabase,
    Backups,
    AvailabilityFeature,
    NetworkingFeature,
    ObservabilityFeature,
    TailscaleFeature,
    AgentsFeature,
    SecretsProviderFeature,
    IdentityFeature,
    AdminBootstrap,
    BrandingFeature,
    AdaptersFeature,
    ExecutionFeature,
    ConnectionsFeature,
    ImageAutomationFeature,
)
"""Every optional feature. The secrets bootstrap is not listed: it is built last, whenever
any contribution registers a Secret (see :func:`~constructs_lib.constructs.build.parts`)."""
