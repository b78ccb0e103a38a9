"""paperclip-gitops: typed cdk8s constructs that render Paperclip instances as GitOps
manifests."""

from importlib.metadata import version

__version__ = version("paperclip-gitops")
"""This release (pyproject.toml, the one place the version is written)."""
