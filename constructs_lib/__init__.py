"""paperclip-gitops: typed cdk8s constructs that render Paperclip instances as GitOps
manifests."""

__version__ = "0.1.0"
