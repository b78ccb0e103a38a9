"""paperclip-launcher: runs Paperclip agent runs as Kubernetes Jobs from reviewed templates."""

import os
import sys

_DISTRIBUTION = "paperclip_gitops"


def _installed_version() -> str:
    """This release, as installed from pyproject.toml: read from the name of the package's
    ``.dist-info`` directory on ``sys.path`` (importing :mod:`importlib.metadata` costs a
    tenth of a small synth), else through :mod:`importlib.metadata`."""
    prefix, suffix = _DISTRIBUTION + "-", ".dist-info"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and name.endswith(suffix):
                return name[len(prefix) : -len(suffix)]
    from importlib.metadata import version  # the slow path, rarely taken

    return version("paperclip-gitops")


__version__ = _installed_version()
"""This release (pyproject.toml, the one place the version is written)."""
IMAGE_REPOSITORY = "ghcr.io/paperclip-gitops/launcher"
"""Where .github/workflows/release.yml publishes the launcher image, tagged with the version."""
