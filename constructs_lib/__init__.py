"""paperclip-gitops: typed cdk8s constructs that render Paperclip instances into GitOps manifests."""

__version__ = "0.1.0"
