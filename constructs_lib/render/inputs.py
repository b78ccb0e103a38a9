"""The inputs of a synthesis, read and checked before anything is built: the target
Kubernetes version and the apps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, partial
from pathlib import Path

from constructs_lib.errors import Problem, UserError, collect_each
from constructs_lib.render.layout import repository_root
from constructs_lib.spec.gitops import GITOPS_DIR
from constructs_lib.spec.instance import Instance
from constructs_lib.spec.kubeschema import (
    UnknownKubernetesVersion,
    object_validator,
    supported_versions,
)
from constructs_lib.spec.loader import App, load_app


def check_version(version: str) -> str:
    try:
        object_validator(version, "v1", "ConfigMap")
    except UnknownKubernetesVersion:
        raise UserError.single(
            f"Kubernetes {version} has no bundled schema.",
            path="--kubernetes-version",
            fix=f"use one of {', '.join(supported_versions())}.",
        ) from None
    return version


def feature_errors(instance: Instance) -> list[Problem]:
    """Every feature's own errors for ``instance`` (a loader check)."""
    from constructs_lib.constructs.build import feature_errors as errors

    return errors(instance)


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def source_label(path: Path) -> str:
    """How generated files name their source: the path inside the git repository that holds
    it (``apps/quickstart.py``), whatever the working directory; outside a repository, as
    :func:`display_path` shows it."""
    resolved = path.resolve()
    root = _repository_root(resolved.parent)
    if root is None:
        return display_path(path)
    return resolved.relative_to(root).as_posix()


_repository_root = cache(repository_root)


def load_apps(paths: Sequence[Path]) -> list[App]:
    """Load every app, collecting the problems of all of them before failing."""
    apps, problems = collect_each(paths, partial(load_app, checks=(feature_errors,)), display_path)
    names = [a.name for a in apps]
    if GITOPS_DIR in names:
        problems.append(
            Problem(
                f"the app name {GITOPS_DIR!r} is reserved: dist/{GITOPS_DIR}/ holds the Argo CD "
                "and Flux entry objects.",
                file=display_path(next(a.source for a in apps if a.name == GITOPS_DIR)),
                fix="rename the app file.",
            )
        )
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            Problem(
                f"two app files are named {name!r}; both would write dist/{name}/.",
                fix="rename one of the files.",
            )
        )
    if problems:
        raise UserError(problems)
    return apps
