"""Write output trees atomically: stage everything, then swap each app directory in.

A failure before the swap leaves the output directory byte-identical; files of an app that
are no longer generated disappear with the old directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from constructs_lib.render.kustomize import GENERATED_HEADER

_MARKER = GENERATED_HEADER.split("{", 1)[0]


def is_generated(app_dir: Path) -> bool:
    """Whether a directory was written by this tool (its kustomization carries the header)."""
    kustomization = app_dir / "kustomize" / "kustomization.yaml"
    try:
        return kustomization.read_text(encoding="utf-8").startswith(_MARKER)
    except OSError:
        return False


def write_trees(out: Path, trees: dict[str, dict[str, str]], *, prune: bool = False) -> None:
    """Replace ``out/<app>`` for every app in ``trees``; with ``prune``, also remove generated
    app directories that are not in ``trees`` (apps that no longer exist)."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=out))
    try:
        for app, files in trees.items():
            root = staging / "new" / app
            for relative, text in sorted(files.items()):
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8", newline="\n")
        old = staging / "old"
        old.mkdir()
        for app in trees:
            current = out / app
            if current.exists():
                os.replace(current, old / app)
            os.replace(staging / "new" / app, current)
        if prune:
            for child in sorted(out.iterdir()):
                if child.is_dir() and child.name not in trees and is_generated(child):
                    os.replace(child, old / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
