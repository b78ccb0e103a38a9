"""From app files to output trees: load, render and lay out every app, writing nothing."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from constructs_lib.errors import Problem, UserError
from constructs_lib.render.gitops import DIST, app_namespaces, gitops_tree
from constructs_lib.render.inputs import check_version, display_path, load_apps, source_label
from constructs_lib.render.layout import APP_FILE, MARKER_FILE, marker_text
from constructs_lib.render.synth import InstanceJobs, RenderedApp, render_app
from constructs_lib.render.writers import WRITERS, Writer
from constructs_lib.spec.gitops import CONFIG_FILE as GITOPS_CONFIG_FILE
from constructs_lib.spec.gitops import GITOPS_DIR
from constructs_lib.spec.gitops import load_config as load_gitops_config
from constructs_lib.spec.loader import App


@dataclass
class Result:
    """Every app's files (app -> relative path -> text) and all warnings."""

    trees: dict[str, dict[str, str]]
    rendered: list[RenderedApp]
    warnings: list[Problem]

    @property
    def instance_count(self) -> int:
        return sum(len(r.app.instances) for r in self.rendered)


def app_record(rendered: RenderedApp) -> str:
    """``app.json``: the app's name and namespace (what the Argo CD ApplicationSet reads)."""
    record = {"app": rendered.app.name, "namespace": app_namespaces(rendered)[0]}
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def app_tree(rendered: RenderedApp, writers: Sequence[Writer] = WRITERS) -> dict[str, str]:
    """Every writer's files for one app, plus the generated-directory marker and app.json."""
    source = source_label(rendered.app.source)
    tree = {MARKER_FILE: marker_text(source), APP_FILE: app_record(rendered)}
    for writer in writers:
        tree.update(writer.files(rendered, source))
    return tree


def synthesize(
    paths: Sequence[Path],
    version: str,
    progress: Callable[[int], Callable[[], None]] | None = None,
    writers: Sequence[Writer] = WRITERS,
    gitops_dir: Path | None = None,
    apps: Sequence[App] | None = None,
    dist_path: str = DIST,
) -> Result:
    """Load, check, synthesize and validate every app; raise :class:`UserError` on any
    problem in any app, before anything is written.

    With ``gitops_dir`` (the apps directory, when every app is synthesized) the Argo CD /
    Flux entry objects of its ``_gitops.yaml`` are added as the tree ``gitops``. ``apps``:
    the apps of ``paths`` when the caller has loaded them already (``inputs.load_apps``).
    ``dist_path``: where the output lives in the repository (the entry objects' paths).
    """
    check_version(version)
    gitops = load_gitops_config(gitops_dir) if gitops_dir is not None else None
    apps = list(apps) if apps is not None else load_apps(paths)
    tick = progress(sum(len(a.instances) for a in apps)) if progress else None
    rendered: list[RenderedApp] = []
    problems: list[Problem] = []
    job_sources = [w for w in writers if isinstance(w, InstanceJobs)]
    for app in apps:
        try:
            rendered.append(render_app(app, version, tick, job_sources))
        except UserError as exc:
            problems += [p.located(file=display_path(app.source)) for p in exc.problems]
    if problems:
        raise UserError(problems)
    trees = {r.app.name: app_tree(r, writers) for r in rendered}
    warnings = [w for r in rendered for w in r.warnings]
    if gitops is not None and gitops_dir is not None:
        source = source_label(gitops_dir / GITOPS_CONFIG_FILE)
        names = [a.name for a in apps]
        entry = gitops_tree(gitops, rendered, names, source, version, dist_path)
        trees[GITOPS_DIR] = entry.files
        warnings += entry.warnings
    return Result(trees=trees, rendered=rendered, warnings=warnings)


def diff_trees(expected: dict[str, dict[str, str]], actual_root: Path) -> list[str]:
    """Unified diff lines between freshly rendered trees and the files under actual_root."""
    lines: list[str] = []
    for app, files in sorted(expected.items()):
        on_disk = (
            {
                # a corrupt (not UTF-8) committed file shows in the diff, never a traceback
                str(p.relative_to(actual_root / app)): p.read_bytes().decode("utf-8", "replace")
                for p in sorted((actual_root / app).rglob("*"))
                if p.is_file()
            }
            if (actual_root / app).is_dir()
            else {}
        )
        for name in sorted(set(files) | set(on_disk)):
            want, have = files.get(name), on_disk.get(name)
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
