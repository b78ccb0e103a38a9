"""``tailscale``: a Tailscale sidecar that serves (or funnels) the server on the tailnet."""

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from constructs_lib.spec.base import (
    ImageDigest,
    ImageRepository,
    ImageTag,
    LocalObjectReference,
    SecretKey,
    SpecModel,
    StrictBool,
)
from constructs_lib.spec.platform import Resources

DEFAULT_TAILSCALE_REPOSITORY = "ghcr.io/tailscale/tailscale"


class TailscaleMode(StrEnum):
    SERVE = "serve"
    FUNNEL = "funnel"


class TailscaleImageSpec(SpecModel):
    """The Tailscale sidecar image."""

    repository: ImageRepository = DEFAULT_TAILSCALE_REPOSITORY
    """Image repository. Default: ghcr.io/tailscale/tailscale."""
    tag: ImageTag = "stable"
    """Image tag; pin a version (e.g. v1.84.3) — stable moves. Default: stable."""
    digest: ImageDigest | None = None
    """Image digest, sha256:<64 hex>; wins over the tag. Default: unset."""

    @property
    def reference(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


class TailscaleAuthKey(SpecModel):
    """The Secret holding the Tailscale auth key (TS_AUTHKEY; use a reusable key)."""

    secret_ref: LocalObjectReference
    """The Secret (in the Instance's namespace). Required."""
    key: SecretKey = "authkey"
    """The key inside the Secret. Default: authkey."""


class TailscaleSpec(SpecModel):
    """A ``tailscale`` sidecar joining the tailnet and proxying https://<hostname>.<tailnet>
    to the server; in funnel mode also from the public internet."""

    enabled: StrictBool = False
    """Run the Tailscale sidecar. Default: false."""
    mode: TailscaleMode = TailscaleMode.SERVE
    """serve (tailnet members only) or funnel (the public internet, through Tailscale
    Funnel: requires deployment.exposure public). Default: serve."""
    image: TailscaleImageSpec = TailscaleImageSpec()
    """The sidecar image. Default: ghcr.io/tailscale/tailscale:stable."""
    auth_key: TailscaleAuthKey | None = None
    """The auth key Secret. Default: unset (required when enabled)."""
    hostname: (
        Annotated[str, Field(max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")] | None
    ) = None
    """The node's tailnet (MagicDNS) name. Default: the instance name."""
    resources: Resources | None = None
    """Sidecar container resources. Default: none."""
