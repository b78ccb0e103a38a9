"""The command line's errors for arguments and options that cannot do what they say: each
names the option or file, what is wrong and how to fix it, exits 2 and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from constructs_lib.cli import main
from tests.conftest import REPO, tree_bytes

APPS = str(REPO / "apps")
OUTPUTS = "kustomize, helm, agents, gitops"


def run(*arguments: str) -> Any:
    return CliRunner().invoke(main, list(arguments))


def refused(result: Any) -> str:
    """The output of a run refused as bad input, without a traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return str(result.output)


# --- --only gitops, which lists every app ---------------------------------------------------


@pytest.mark.parametrize("only", ["gitops", "kustomize,gitops", " gitops ,helm"])
def test_only_gitops_with_named_apps_is_refused_and_writes_nothing(
    dist_copy: Path, only: str
) -> None:
    """It wrote nothing of gitops and replaced dist/quickstart/ with its marker and app.json:
    the app's kustomize and helm files were gone, and the command reported success."""
    before = tree_bytes(dist_copy)
    result = run("synth", "quickstart", "--apps-dir", APPS, "--out", str(dist_copy), "--only", only)
    output = refused(result)
    assert "--only: gitops cannot be combined with named apps (quickstart)" in output
    assert "lists every app" in output
    assert "run `synth --only gitops` without app names, or name other outputs" in output
    assert "Nothing was written." in output
    assert tree_bytes(dist_copy) == before


def test_only_gitops_without_the_gitops_config_is_refused(tmp_path: Path) -> None:
    """Without apps/_gitops.yaml there is no gitops output: the app directories were emptied
    and nothing else written."""
    apps = tmp_path / "apps"
    apps.mkdir()
    shutil.copy(REPO / "apps/production.yaml", apps)
    out = tmp_path / "out"
    output = refused(run("synth", "--apps-dir", str(apps), "--out", str(out), "--only", "gitops"))
    assert f"--only: names gitops, but there is no {apps / '_gitops.yaml'}" in output
    assert f"add {apps / '_gitops.yaml'}" in output and "--only kustomize,helm,agents" in output
    assert not out.exists()


def test_only_gitops_with_every_app_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("synth", "--apps-dir", APPS, "--out", str(out), "--only", "gitops")
    assert result.exit_code == 0, result.output
    assert (out / "gitops/flux/kustomization.yaml").is_file()


# --- --only naming nothing -------------------------------------------------------------------


@pytest.mark.parametrize("only", [",", "", " , "])
def test_only_naming_no_output_says_so(tmp_path: Path, only: str) -> None:
    out = tmp_path / "out"
    output = refused(run("synth", "--apps-dir", APPS, "--out", str(out), "--only", only))
    assert f"--only: names no output ({only!r})." in output
    assert f"use a comma-separated list of {OUTPUTS}" in output
    assert "unknown" not in output and "(none)" not in output
    assert not out.exists()


def test_only_naming_an_unknown_output_lists_the_valid_ones(tmp_path: Path) -> None:
    output = refused(run("synth", "--out", str(tmp_path / "o"), "--only", "helm,kustomise"))
    assert (
        f"--only: names unknown outputs: kustomise. Fix: use a comma-separated list of {OUTPUTS}."
        in output
    )
    assert "--only --only" not in output


# --- the GitOps config named as an app ------------------------------------------------------

GITOPS_CONFIG = (
    "is the GitOps configuration (repository URL and Argo CD/Flux settings), not an app."
)


@pytest.mark.parametrize(
    "arguments",
    [
        ["validate", "apps/_gitops.yaml"],
        ["synth", "apps/_gitops.yaml"],
        ["synth", "_gitops"],
        ["synth", "_gitops.yaml"],
    ],
    ids=["validate", "synth-path", "synth-name", "synth-file-name"],
)
def test_the_gitops_config_is_not_an_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str]
) -> None:
    """It said the file 'names the app _gitops' and to rename it: renamed, synth writes no
    Argo CD or Flux objects."""
    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    extra = ["--out", str(out)] if arguments[0] == "synth" else []
    output = refused(run(*arguments, *extra))
    assert f"apps/_gitops.yaml: {GITOPS_CONFIG}" in output
    assert "`paperclip-gitops synth` without app names checks it and writes dist/gitops/" in output
    assert "names the app" not in output and "rename the file" not in output
    assert not out.exists()


def test_a_gitops_config_elsewhere_names_its_apps_dir(tmp_path: Path) -> None:
    config = tmp_path / "team" / "_gitops.yaml"
    config.parent.mkdir()
    shutil.copy(REPO / "apps/_gitops.yaml", config)
    output = refused(run("validate", str(config)))
    assert f"{config}: {GITOPS_CONFIG}" in output
    assert f"without app names and with --apps-dir {config.parent} checks it" in output


# --- an app file name given from the repository root -----------------------------------------


@pytest.mark.parametrize(
    ("argument", "existing"),
    [("quickstart.py", "quickstart.py"), ("production.yml", "production.yaml")],
)
def test_an_app_file_name_points_to_the_apps_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argument: str, existing: str
) -> None:
    """`synth quickstart.py` from the repository root said only `check the path`."""
    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    output = refused(run("synth", argument, "--out", str(out)))
    name = Path(existing).stem
    assert f"no app file at {argument} (a path is relative to the current directory)" in output
    assert f"Fix: apps/{existing} exists: name it as `{name}` or `apps/{existing}`." in output
    assert not out.exists()


def test_validate_points_to_the_apps_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    output = refused(run("validate", "quickstart.py", "nowhere.yaml"))
    assert "no such file: quickstart.py. Fix: apps/quickstart.py exists" in output
    assert "no such file: nowhere.yaml. Fix: check the path." in output


def test_every_bad_app_argument_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    output = refused(run("synth", "quickstart.py", "nope", "--out", str(tmp_path / "o")))
    assert "2 problems found" in output
    assert "no app file at quickstart.py" in output and "no app named 'nope'" in output


# --- one Instance in two apps -----------------------------------------------------------------


def test_an_app_file_copied_without_renaming_its_instance_is_refused(tmp_path: Path) -> None:
    """Starting from apps/production.yaml by copying it: both apps declared Instance
    paperclip-prod in paperclip-prod, synth said nothing, and Argo CD or Flux would have had
    two apps fight over the same objects. check finds it too, whether or not the first app is
    taken from its record."""
    apps = tmp_path / "apps"
    apps.mkdir()
    shutil.copy(REPO / "apps/production.yaml", apps / "production.yaml")
    out = tmp_path / "out"
    assert run("synth", "--apps-dir", str(apps), "--out", str(out)).exit_code == 0
    before = tree_bytes(out)
    shutil.copy(apps / "production.yaml", apps / "team.yaml")
    for command in (["synth", "--out"], ["check", "--dist"], ["check", "--full", "--dist"]):
        output = refused(run(*command[:-1], "--apps-dir", str(apps), command[-1], str(out)))
        assert "team.yaml" in output
        assert "declares Instance paperclip-prod in namespace paperclip-prod, as app " in output
        assert "production does" in output
    assert tree_bytes(out) == before
