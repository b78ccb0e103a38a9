"""`make test` lints the launcher image and every shell script, as `make lint` does:
hadolint on launcher/Dockerfile, shellcheck on each *.sh (and .ci/run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SKIP_DIRS = {".venv", ".git", "node_modules", "dist"}


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{path} is missing: run `make setup` (it installs the test extras)"
    return str(path)


def shell_scripts() -> list[Path]:
    found = [
        path
        for path in REPO.rglob("*.sh")
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts)
    ]
    ci = REPO / ".ci" / "run"
    return sorted(found + ([ci] if ci.exists() else []))


def test_hadolint_passes_the_launcher_dockerfile() -> None:
    result = subprocess.run(
        [tool("hadolint"), str(REPO / "launcher" / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_passes_every_shell_script() -> None:
    scripts = shell_scripts()
    assert any(p.name == "build.sh" for p in scripts)  # the search does find them
    result = subprocess.run(
        [tool("shellcheck"), *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lints_catch_what_they_should(tmp_path: Path) -> None:
    bad_script = tmp_path / "bad.sh"
    bad_script.write_text("#!/bin/sh\nrm -rf $1/*\n[ $x == 1 ]\n")
    assert subprocess.run([tool("shellcheck"), str(bad_script)], capture_output=True).returncode
    bad_image = tmp_path / "Dockerfile"
    bad_image.write_text("FROM python:latest\nRUN cd /x && pip install y\n")
    assert subprocess.run([tool("hadolint"), str(bad_image)], capture_output=True).returncode
