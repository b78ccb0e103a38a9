"""paperclip-launcher: runs Paperclip agent runs as Kubernetes Jobs from reviewed templates."""

__version__ = "0.1.0"
