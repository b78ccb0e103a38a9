"""The output writers run over every rendered app. A writer turns a :class:`RenderedApp`
into files under ``<out>/<app>/``; the pipeline adds the generated-directory marker."""

from __future__ import annotations

from typing import Protocol

from constructs_lib.render.adapters import AdapterConfigWriter
from constructs_lib.render.helm.chart import HelmWriter
from constructs_lib.render.kustomize import KustomizeWriter
from constructs_lib.render.synth import RenderedApp


class Writer(Protocol):
    name: str
    """The name used to pick writers (``synth --format``) and its directory under the app."""

    def files(self, rendered: RenderedApp, source: str) -> dict[str, str]:
        """Relative path under ``<out>/<app>/`` -> text."""
        ...


WRITERS: tuple[Writer, ...] = (KustomizeWriter(), HelmWriter(), AdapterConfigWriter())
"""Every writer, in the order they run."""
