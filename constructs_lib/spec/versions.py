"""The Kubernetes version every object is validated against unless told otherwise (kept in a
module of its own, so the command line can name it without loading the schemas)."""

DEFAULT_KUBERNETES_VERSION = "1.33"

CHECKED_PAPERCLIP_RELEASE = "2026.916.1"
"""The newest upstream Paperclip release checked (npm @paperclipai/server and paperclipai): what
the warnings about what upstream reads or serves refer to (tests/paperclip/install.sh runs it)."""
