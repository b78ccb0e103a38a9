"""The Kubernetes version every object is validated against unless told otherwise (kept in a
module of its own, so the command line can name it without loading the schemas)."""

DEFAULT_KUBERNETES_VERSION = "1.33"
