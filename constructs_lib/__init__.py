"""paperclip-gitops: typed cdk8s constructs that render Paperclip instances as GitOps
manifests."""

from launcher import __version__

__all__ = ["__version__"]
