"""The Kustomize writer: ``kustomize/``, one file per object and a kustomization.yaml that
lists them in apply order."""

from __future__ import annotations

from typing import Any

from constructs_lib.errors import UserError
from constructs_lib.render.layout import GENERATED_HEADER, marker_text
from constructs_lib.render.synth import RenderedApp
from constructs_lib.render.yamltext import dump

__all__ = ["GENERATED_HEADER", "KustomizeWriter", "file_name"]


def file_name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}-{obj['metadata']['name']}.yaml".lower()


class KustomizeWriter:
    name = "kustomize"

    def files(self, rendered: RenderedApp, source: str) -> dict[str, str]:
        """Relative path -> text for ``<app>/kustomize/``."""
        files: dict[str, str] = {}
        for obj, text in zip(rendered.objects, rendered.documents, strict=True):
            name = file_name(obj)
            if name in files:
                raise UserError.single(
                    f"two generated objects would both be written to {name}.",
                    file=source,
                    fix="rename one of the instances so their object names differ.",
                )
            files[name] = text
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": list(files),
        }
        files["kustomization.yaml"] = marker_text(source) + dump(kustomization)
        return {f"kustomize/{name}": text for name, text in files.items()}
