"""``spec.connections``, ``spec.plugins``, ``spec.branding``, ``spec.selfConfigure`` and
``spec.image.autoUpdate``.

Two of them have no run-time controller in GitOps and are refused when they ask for
something, never silently ignored: ``plugins`` (the operator consumes it nowhere either) and
``selfConfigure.enabled`` (PaperclipSelfConfig requests need a controller that edits the
Instance behind git's back). ``image.autoUpdate`` becomes the GitOps tools' own image
automation (see ``constructs/image_automation.py``).
"""

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from constructs_lib.spec.base import LocalObjectReference, SecretKey, SpecModel, StrictBool


class ConnectionsSpec(SpecModel):
    """OAuth credentials of third-party connections (the operator's ConnectionsSpec)."""

    credentials_secret_ref: LocalObjectReference
    """The Secret holding the OAuth credentials JSON (PAPERCLIP_OAUTH_CREDENTIALS).
    Required."""
    credentials_key: SecretKey = "PAPERCLIP_OAUTH_CREDENTIALS"
    """The key inside that Secret. Default: PAPERCLIP_OAUTH_CREDENTIALS."""
    providers_config_ref: LocalObjectReference | None = None
    """A ConfigMap whose key PAPERCLIP_OAUTH_PROVIDERS extends the built-in provider
    catalog (referenced optionally). Default: unset."""


class PluginSpec(SpecModel):
    """A server plugin (the operator accepts the list and installs nothing)."""

    name: Annotated[str, Field(min_length=1)]
    """The npm package name. Required."""
    version: str | None = None
    """The package version. Default: unset (latest)."""


def _no_plugins(value: list[PluginSpec]) -> list[PluginSpec]:
    if value:
        raise PydanticCustomError(
            "plugins_not_declarative",
            "plugins are not installed declaratively: the operator accepts this list but "
            "installs nothing, and a GitOps generator has no controller to run npm inside the "
            "server; install them through the server itself (an instance admin, Settings -> "
            "Adapters, or POST /api/adapters/install; they live on the data volume) and remove "
            "spec.plugins",
            {},
        )
    return value


Plugins = Annotated[list[PluginSpec], AfterValidator(_no_plugins)]


class BrandingSpec(SpecModel):
    """Custom branding of the web UI."""

    css_config_map_ref: LocalObjectReference | None = None
    """A ConfigMap mounted read-only at /etc/paperclip/branding (PAPERCLIP_BRAND_DIR).
    Default: unset (no branding)."""


class SelfConfigureAction(StrEnum):
    PLUGINS = "plugins"
    CONFIG = "config"
    ENV_VARS = "envVars"


class SelfConfigureSpec(SpecModel):
    """Agent self-configuration through PaperclipSelfConfig requests."""

    enabled: StrictBool = False
    """Must stay false: configuration changes come through git. Default: false."""
    allowed_actions: Annotated[list[SelfConfigureAction], Field(max_length=3)] = []
    """Accepted for compatibility (meaningful only with enabled). Default: none."""

    @model_validator(mode="after")
    def _refuse_enabled(self) -> Self:
        if self.enabled:
            raise PydanticCustomError(
                "self_configure_in_gitops",
                "selfConfigure cannot be enabled with paperclip-gitops: PaperclipSelfConfig "
                "requests are applied by the operator's controller, which edits the running "
                "Instance behind git's back; with GitOps an agent proposes the change as a "
                "commit or pull request to the Instance in git instead. Set "
                "selfConfigure.enabled to false (or remove the block)",
                {},
            )
        return self


_INTERVAL = re.compile(r"^(\d+)(s|m|h)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def _interval(value: str) -> str:
    match = _INTERVAL.fullmatch(value)
    if match is None:
        message = "'{value}' is not an interval: write a number with s, m or h, e.g. 5m"
    elif int(match.group(1)) * _SECONDS[match.group(2)] < 60:
        message = (
            "'{value}' is below the minimum of 1m (the operator silently used 5m instead); "
            "write 1m or more"
        )
    else:
        return value
    raise PydanticCustomError("interval", message, {"value": value})


class AutoUpdateSpec(SpecModel):
    """Follow new images of the repository. Rendered as Flux image automation: an
    ImageRepository and ImagePolicy per instance, and the image marked in the Kustomize
    tree's kustomization.yaml, so every update is a commit."""

    enabled: StrictBool = False
    """Render the image automation objects. Default: false."""
    interval: Annotated[str, AfterValidator(_interval)] = "5m"
    """How often the registry is scanned (at least 1m). Default: 5m."""
