"""The Kubernetes version every object is validated against unless told otherwise, and the
Paperclip release the warnings about upstream refer to."""

DEFAULT_KUBERNETES_VERSION = "1.33"

CHECKED_PAPERCLIP_RELEASE = "2026.916.1"
"""The newest upstream Paperclip release checked (npm @paperclipai/server and paperclipai): what
the warnings about what upstream reads or serves refer to (tests/paperclip/install.sh runs it)."""
