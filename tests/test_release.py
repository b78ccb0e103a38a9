"""The release pipeline (.github/workflows/release.yml and the steps it runs, .ci/release):
the workflow passes actionlint (with shellcheck on its scripts), every step that can run here
runs here (the version check, the charts packaged under their versions), and every version
number comes from pyproject.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.processes import tool_path

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / ".ci" / "release"
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def release(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RELEASE), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def actionlint() -> str:
    return tool_path("PAPERCLIP_ACTIONLINT", REPO / "tests/tools/actionlint.sh")


def test_the_workflow_passes_actionlint_with_shellcheck(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        [actionlint(), "-verbose", str(WORKFLOW)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Rule "shellcheck" was disabled' not in result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs-on: [", 1))
    assert subprocess.run([actionlint(), str(broken)], capture_output=True).returncode != 0


def test_the_workflow_builds_what_it_says() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads `on:` as True
    jobs = workflow["jobs"]
    build = next(s for s in jobs["launcher-image"]["steps"] if s.get("id") == "build")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    assert build["with"]["file"] == "launcher/Dockerfile"
    assert {"launcher-image", "charts"} <= set(jobs)
    for name in ("launcher-image", "charts"):
        assert "test" in jobs[name]["needs"]  # nothing is published before the suite passes


def test_the_tag_must_be_the_version() -> None:
    assert release("version").stdout.strip() == VERSION
    assert release("version", "--tag", f"v{VERSION}").returncode == 0
    wrong = release("version", "--tag", "v999.0.0")
    assert wrong.returncode == 2 and "does not match" in wrong.stderr


def test_every_chart_packages_under_its_content_version(helm: str, tmp_path: Path) -> None:
    result = release("charts", str(tmp_path), env={"HELM": helm})
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert len(lines) == len(list((REPO / "dist").glob("*/helm/Chart.yaml")))
    for package, name, version in lines:
        assert Path(package).is_file()
        assert version.startswith(f"{VERSION}-")
        chart = yaml.safe_load((REPO / "dist" / name / "helm" / "Chart.yaml").read_text())
        assert chart["version"] == version


def test_every_version_number_comes_from_pyproject() -> None:
    import constructs_lib
    import launcher
    from constructs_lib.spec.agents import DEFAULT_LAUNCHER_IMAGE
    from launcher.openapi import document

    assert constructs_lib.__version__ == launcher.__version__ == VERSION
    assert f"ghcr.io/paperclip-gitops/launcher:{VERSION}" == DEFAULT_LAUNCHER_IMAGE
    assert release("image").stdout.strip() == DEFAULT_LAUNCHER_IMAGE
    assert document()["info"]["version"] == VERSION
    adapter = json.loads((REPO / "launcher" / "adapter" / "package.json").read_text())
    assert adapter["version"] == VERSION
