"""From app files to output trees: load, render and lay out every app, writing nothing."""

from __future__ import annotations

import difflib
import json
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from constructs_lib.errors import Problem, UserError, collect_each
from constructs_lib.render.gitops import DIST, gitops_tree
from constructs_lib.render.inputs import check_version, display_path, load_apps, source_label
from constructs_lib.render.layout import APP_FILE, MARKER_FILE, marker_text, not_as_written
from constructs_lib.render.record import AppSummary, file_bytes, record_marker, strip_record
from constructs_lib.render.synth import RenderedApp, render_app
from constructs_lib.render.writers import WRITERS, Writer
from constructs_lib.spec.gitops import GITOPS_DIR
from constructs_lib.spec.gitops import load_config as load_gitops_config


@dataclass
class Result:
    """Every app's files (app -> relative path -> text) and all warnings."""

    trees: dict[str, dict[str, str]]
    rendered: list[RenderedApp]
    warnings: list[Problem]

    @property
    def instance_count(self) -> int:
        return sum(len(r.app.instances) for r in self.rendered)


def app_tree(
    rendered: RenderedApp,
    writers: Sequence[Writer] = WRITERS,
    inputs: str | None = None,
    summary: AppSummary | None = None,
) -> dict[str, str]:
    """Every writer's files for one app, plus app.json and the generated-directory marker;
    with ``inputs`` (the app's inputs digest) the marker holds the app's record
    (:mod:`constructs_lib.render.record`). ``summary``: the app's, when taken already."""
    source = source_label(rendered.app.source)
    summary = summary or AppSummary.of(rendered)
    # app.json: the app's name and namespace (what the Argo CD ApplicationSet reads)
    record = {"app": summary.name, "namespace": summary.namespaces[0]}
    app_json = json.dumps(record, indent=2, sort_keys=True) + "\n"
    tree = {MARKER_FILE: "", APP_FILE: app_json}  # the marker is written last
    for writer in writers:
        tree.update(writer.files(rendered, source))
    if inputs is None:
        tree[MARKER_FILE] = marker_text(source)
    else:
        tree[MARKER_FILE] = record_marker(source, tree, inputs, len(rendered.warnings), summary)
    return tree


def synthesize(
    paths: Sequence[Path],
    version: str,
    progress: Callable[[int], Callable[[], None]] | None = None,
    writers: Sequence[Writer] = WRITERS,
    gitops_dir: Path | None = None,
    dist_path: str = DIST,
    inputs: Mapping[Path, str] | None = None,
    recorded: Mapping[Path, AppSummary] | None = None,
) -> Result:
    """Load, check, synthesize and validate every app; raise :class:`UserError` on any
    problem in any app, before anything is written.

    With ``gitops_dir`` (the apps directory, when every app is in ``paths``) the Argo CD /
    Flux entry objects of its ``_gitops.yaml`` are added as the tree ``gitops``.
    ``dist_path``: where the output lives in the repository (the entry objects' paths).
    ``inputs``: each app file's inputs digest, taken before this call loads the apps
    (:func:`~constructs_lib.render.record.inputs_digests`); the markers hold a record only
    with it. ``recorded``: apps of ``paths`` not to synthesize (``check`` takes them as they
    are), with the summaries their records hold, for the gitops tree.
    """
    check_version(version)
    recorded = recorded or {}
    gitops = load_gitops_config(gitops_dir) if gitops_dir is not None else None
    apps = load_apps([p for p in paths if p not in recorded])
    tick = progress(sum(len(a.instances) for a in apps)) if progress else None
    rendered, problems = collect_each(
        apps, lambda app: render_app(app, version, tick), lambda app: display_path(app.source)
    )
    if problems:
        raise UserError(problems)
    summaries = {r.app.source: AppSummary.of(r) for r in rendered}
    every = {**recorded, **summaries}
    if shared := shared_instances([(p, every[p]) for p in paths if p in every]):
        raise UserError(shared)
    trees = {
        r.app.name: app_tree(
            r, writers, inputs[r.app.source] if inputs else None, summaries[r.app.source]
        )
        for r in rendered
    }
    warnings = [w for r in rendered for w in r.warnings]
    if gitops is not None and gitops_dir is not None:
        ordered = [every[p] for p in paths]
        entry = gitops_tree(gitops, gitops_dir, ordered, version, dist_path)
        trees[GITOPS_DIR] = entry.files
        warnings += entry.warnings
    return Result(trees=trees, rendered=rendered, warnings=warnings)


def shared_instances(apps: Sequence[tuple[Path, AppSummary]]) -> list[Problem]:
    """An Instance (namespace and name) declared by two apps: Argo CD or Flux would apply both
    apps' objects under the same names, each undoing the other (a copied app file)."""
    owners: dict[tuple[str, str], str] = {}
    found = []
    for path, summary in apps:
        for namespace, name in summary.instances:
            first = owners.setdefault((namespace, name), summary.name)
            if first != summary.name:
                found.append(
                    Problem(
                        f"declares Instance {name} in namespace {namespace}, as app {first} "
                        "does: Argo CD or Flux would apply both apps' objects under the same "
                        "names, each undoing the other.",
                        "metadata.name",
                        fix="give the Instance another metadata.name or namespace in one of the "
                        "apps, or remove the copy.",
                        file=display_path(path),
                    )
                )
    return found


def diff_trees(expected: dict[str, dict[str, str]], actual_root: Path) -> list[str]:
    """Unified diff lines between freshly rendered trees and the files under actual_root.

    The record in a marker is left out of the comparison: it is a cache that only makes
    ``check`` faster (:func:`stale_records` counts the out-of-date ones). What git records
    besides the text is compared too: synth writes regular files without an execute bit, in
    directories (:func:`_on_disk`)."""
    lines: list[str] = []
    for app, files in sorted(expected.items()):
        on_disk, not_written = _on_disk(actual_root, app)
        lines += not_written
        for name in sorted(set(files) | set(on_disk)):
            want, have = files.get(name), on_disk.get(name)
            if name == MARKER_FILE:
                want, have = (None if m is None else strip_record(m) for m in (want, have))
            if want == have:
                continue
            label = f"{actual_root.name}/{app}/{name}"
            lines += difflib.unified_diff(
                (have or "").splitlines(keepends=True),
                (want or "").splitlines(keepends=True),
                fromfile=f"{label} (committed)" if have is not None else "/dev/null",
                tofile=f"{label} (synthesized)" if want is not None else "/dev/null",
            )
    return lines


def _on_disk(root: Path, app: str) -> tuple[dict[str, str], list[str]]:
    """The text of every file under ``root/app`` (relative path -> text), and a line for each
    path there that git records otherwise than synth writes it, whatever its text: a symbolic
    link (the app directory itself too), an executable file (mode 100755; synth writes
    100644), a special file."""
    app_dir = root / app
    label = f"{root.name}/{app}"
    linked = os.path.islink(app_dir)
    texts: dict[str, str] = {}
    lines = [f"{label}/: a symbolic link (committed); {_ONLY_REGULAR}\n"] if linked else []
    for directory, subdirectories, names in os.walk(app_dir):
        relative = os.path.relpath(directory, app_dir)
        prefix = "" if relative == "." else f"{relative}/"
        for name in names:
            if os.path.isfile(path := os.path.join(directory, name)):
                # a corrupt (not UTF-8) or unreadable committed file shows in the diff, never
                # a traceback
                texts[prefix + name] = file_bytes(Path(path)).decode("utf-8", "replace")
        if linked:
            continue  # the link is the one line
        for name in sorted(subdirectories + names):
            try:
                mode = os.lstat(os.path.join(directory, name)).st_mode
            except OSError:
                continue
            found = not_as_written(mode)
            if found is not None:
                fix = "synth writes mode 100644" if stat.S_ISREG(mode) else _ONLY_REGULAR
                lines.append(f"{label}/{prefix}{name}: {found} (committed); {fix}\n")
    return texts, lines


_ONLY_REGULAR = "synth writes regular files and directories only"


def stale_records(expected: dict[str, dict[str, str]], actual_root: Path) -> list[str]:
    """The apps of ``expected`` whose marker under ``actual_root`` holds another record than
    a synth writes (a synth refreshes it; until then ``check`` synthesizes those apps)."""
    return [
        app
        for app, files in sorted(expected.items())
        # a marker with a record (not the gitops tree's) that the committed one is not (an
        # unreadable or missing marker too)
        if strip_record(marker := files[MARKER_FILE]) != marker
        and file_bytes(actual_root / app / MARKER_FILE).decode("utf-8", "replace") != marker
    ]
