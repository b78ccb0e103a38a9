"""The files of the package the constructs put into objects: the k8s_launcher Paperclip adapter
(launcher/adapter/) and the scripts of constructs_lib/scripts/. Read once per process; a
:class:`PaperclipInstance` built without explicit sources uses these (pure: no jsii)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

ADAPTER_FILES = (
    "package.json",
    "index.mjs",
    "request.mjs",
    "launcher-client.mjs",
    "ui-parser.cjs",
    "install.mjs",
)


@dataclass(frozen=True)
class Sources:
    """What the constructs read from the package (they read no files themselves)."""

    adapter_files: Mapping[str, str] = field(default_factory=dict)
    db_script: str = ""
    scripts: Mapping[str, str] = field(default_factory=dict)


@cache
def scripts() -> dict[str, str]:
    """Every script of the package (constructs_lib/scripts/*.sh and *.mjs), by file name."""
    folder = resources.files("constructs_lib") / "scripts"
    found = [p for p in folder.iterdir() if p.name.endswith((".sh", ".mjs")) and p.is_file()]
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(found, key=lambda p: p.name)}


@cache
def sources() -> Sources:
    """The package files the constructs use: the k8s_launcher Paperclip adapter mounted into
    Paperclip pods (launcher/adapter/) and the scripts."""
    folder = resources.files("launcher") / "adapter"
    adapter = {name: (folder / name).read_text(encoding="utf-8") for name in ADAPTER_FILES}
    return Sources(adapter, scripts()["paperclip-db.sh"], scripts())
