"""paperclip-launcher: runs Paperclip agent runs as Kubernetes Jobs from reviewed templates."""

from importlib.metadata import version

__version__ = version("paperclip-gitops")
"""This release (pyproject.toml, the one place the version is written)."""
IMAGE_REPOSITORY = "ghcr.io/paperclip-gitops/launcher"
"""Where .github/workflows/release.yml publishes the launcher image, tagged with the version."""
