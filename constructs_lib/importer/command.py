"""What ``paperclip-gitops import`` does, without the option parsing: where the app file
goes, the import itself, and the report it prints."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from constructs_lib.errors import Problem, UserError, collect
from constructs_lib.importer.pipeline import Imported, Options, import_documents
from constructs_lib.importer.report import document_lines
from constructs_lib.importer.sources import STDIN, read_inputs
from constructs_lib.spec.loader import check_app_name

STDOUT = "-"


@dataclass
class Outcome:
    """The imported app, where it went (None: stdout) and the report lines for stderr."""

    imported: Imported
    path: Path | None
    report: list[str]


def output_path(inputs: Sequence[str], out: str | None, apps_dir: Path) -> Path | None:
    """The app file: --out, else <apps-dir>/<stem of the one input file>.yaml; None for
    stdout (--out -)."""
    if out == STDOUT:
        return None
    if out is not None:
        return Path(out)
    if len(set(inputs)) != 1 or STDIN in inputs:
        raise UserError.single(
            "the app file to write cannot be told from the inputs (stdin, or several files).",
            path="--out",
            fix="name it: --out apps/NAME.yaml (NAME becomes the app's dist/ directory), or "
            "--out - for stdout.",
        )
    return apps_dir / f"{Path(inputs[0]).stem}.yaml"


def run(
    inputs: Sequence[str],
    out: str | None,
    apps_dir: Path,
    options: Options,
    force: bool,
    stdin: BinaryIO,
) -> Outcome:
    """Import, then write the app file; :class:`UserError` lists every problem at once."""
    problems: list[Problem] = []
    path = collect(problems, partial(output_path, inputs, out, apps_dir))
    app_name = "imported"
    if path is not None:
        app_name = collect(problems, partial(check_app_name, path)) or app_name
        problems += _overwrite_problems(path, force)
    label = str(path) if path is not None else "FILE"
    documents, refused = read_inputs(inputs, stdin)
    problems += refused
    shown = ", ".join("stdin" if name == STDIN else name for name in inputs)
    imported = collect(
        problems, partial(import_documents, documents, options, app_name, label, shown)
    )
    if problems or imported is None:  # None: its problems are listed
        raise UserError(problems)
    if path is not None:
        write_app(path, imported.text, force)
    report = [
        line
        for document, name in zip(imported.documents, imported.labels, strict=True)
        for line in document_lines(document, name)
    ]
    return Outcome(imported, path, report)


def _overwrite_problems(path: Path, force: bool) -> list[Problem]:
    """The refusal to replace an existing app file without ``force``."""
    if force or not path.exists():
        return []
    fix = "choose another --out, or pass --force to replace it."
    return [Problem("exists already; import does not overwrite it.", fix=fix, file=str(path))]


def write_app(path: Path, text: str, force: bool) -> None:
    """Write the app file atomically; an existing file only with ``force``."""
    if problems := _overwrite_problems(path, force):
        raise UserError(problems)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.chmod(temporary, mode)  # mkstemp makes it 0600
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as exc:
        raise UserError.single(
            f"cannot be written: {exc.strerror or exc}.",
            file=str(path),
            fix="check the directory and its permissions.",
        ) from None


__all__ = ["Outcome", "output_path", "run", "write_app"]
