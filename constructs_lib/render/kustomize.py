"""The Kustomize writer: ``kustomize/``, one file per object and a kustomization.yaml that
lists them in apply order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from constructs_lib.constructs.image_automation import images_block, shared_repository_problems
from constructs_lib.errors import UserError
from constructs_lib.render.layout import file_name, marker_text
from constructs_lib.render.synth import RenderedApp
from constructs_lib.render.yamltext import dump

__all__ = ["KustomizeWriter", "kustomization"]


def kustomization(resources: Iterable[str], source: str) -> str:
    """A generated kustomization.yaml that lists ``resources``."""
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }
    return marker_text(source) + dump(body)


class KustomizeWriter:
    name = "kustomize"

    def __init__(self, previous_root: Path | None = None) -> None:
        self.previous_root = previous_root
        """Where the previous output is (``dist``): its kustomization.yaml is read back so the
        tags Flux image automation committed survive a synth (image_automation.py)."""

    def _previous(self, app: str) -> str | None:
        if self.previous_root is None:
            return None
        path = self.previous_root / app / "kustomize" / "kustomization.yaml"
        try:
            return path.read_bytes().decode("utf-8") if path.is_file() else None
        except (OSError, UnicodeDecodeError):  # unreadable or corrupt: replaced like any file
            return None

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
        instances = list(rendered.app.instances)
        shared = shared_repository_problems(instances)
        if shared:
            raise UserError([p.located(file=source) for p in shared])
        images = images_block(instances, self._previous(rendered.app.name))
        files["kustomization.yaml"] = kustomization(files, source) + images
        return {f"kustomize/{name}": text for name, text in files.items()}
