"""The output writers run over every rendered app. A writer turns a :class:`RenderedApp`
into files under ``<out>/<app>/``; the pipeline adds the generated-directory marker."""

from __future__ import annotations

import json
from typing import Protocol

from constructs_lib.constructs.agents import adapter_config
from constructs_lib.render.helm.chart import HelmWriter
from constructs_lib.render.kustomize import KustomizeWriter
from constructs_lib.render.synth import RenderedApp


class Writer(Protocol):
    name: str
    """The name used to pick writers (``synth --only``) and its directory under the app."""

    def files(self, rendered: RenderedApp, source: str) -> dict[str, str]:
        """Relative path under ``<out>/<app>/`` -> text."""
        ...


class AdapterConfigWriter:
    """The adapter-config writer: ``agents/<instance>-<template>.json``, the Paperclip agent
    adapter configuration to paste into an agent's settings, for every template of every
    instance with agents enabled."""

    name = "agents"

    def files(self, rendered: RenderedApp, source: str) -> dict[str, str]:
        return {
            f"agents/{instance.name}-{template}.json": (
                json.dumps(adapter_config(template), indent=2, sort_keys=True) + "\n"
            )
            for instance in rendered.app.instances
            if instance.spec.agents.enabled
            for template in sorted(instance.spec.agents.templates)
        }


WRITERS: tuple[Writer, ...] = (KustomizeWriter(), HelmWriter(), AdapterConfigWriter())
"""Every writer, in the order they run."""
