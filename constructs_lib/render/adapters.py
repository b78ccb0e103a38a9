"""The adapter-config writer: ``agents/<instance>-<template>.json``, the Paperclip agent
adapter configuration to paste into an agent's settings, for every template of every
instance with agents enabled."""

from __future__ import annotations

import json

from constructs_lib.constructs.agents import adapter_config
from constructs_lib.render.synth import RenderedApp


class AdapterConfigWriter:
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
