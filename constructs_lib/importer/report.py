"""The import report: per document, every change and why, and the commands to run before
the first sync, as lines for stderr and as the comment header of the written app file."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import yaml

from constructs_lib.importer.model import Document
from constructs_lib.render.yamltext import literal_blocks

WIDTH = 98


def document_lines(document: Document, label: str) -> list[str]:
    """What was done to one document (unindented, not wrapped)."""
    lines = [f"{document.source}, {document.label} -> {label}:"]
    lines += [f"  - {change.render()}" for change in document.changes] or ["  - no changes"]
    if document.commands:
        lines.append("  run once before the first sync:")
        for command in document.commands:
            lines += [f"    # {command.purpose}", f"    {command.text}"]
    return lines


def _comment(line: str) -> list[str]:
    """One report line as YAML comment lines (wrapped, except commands, which are copied)."""
    indent = len(line) - len(line.lstrip())
    if line.lstrip().startswith("kubectl "):
        return [f"# {line}"]
    return [
        "# " + part
        for part in textwrap.wrap(
            line,
            WIDTH - 2,
            subsequent_indent=" " * (indent + 4),
            break_on_hyphens=False,
            break_long_words=False,
        )
    ]


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings (scripts) as literal blocks."""


_Dumper.add_representer(str, literal_blocks)


def app_text(documents: Sequence[Document], labels: Sequence[str], inputs: str, out: str) -> str:
    """The app file: a header, then each document after the comments that report it."""
    head = [
        f"Imported from paperclip-operator Instances ({inputs}) by `paperclip-gitops import`.",
        "Above each document: what the import changed and why, and the commands to run once "
        f"before the first sync. Then: paperclip-gitops synth {out}",
    ]
    lines = [c for line in head for c in _comment(line)]
    for document, label in zip(documents, labels, strict=True):
        lines += ["---", *(c for line in document_lines(document, label) for c in _comment(line))]
        lines.append(
            yaml.dump(
                document.body,
                Dumper=_Dumper,
                sort_keys=False,
                allow_unicode=True,
                default_flow_style=False,
                width=WIDTH,
            ).rstrip("\n")
        )
    return "\n".join(lines) + "\n"


__all__ = ["app_text", "document_lines"]
