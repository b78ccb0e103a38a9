"""The documentation site (docs/, mkdocs.yml) builds strictly — a broken link, a page missing
from the navigation or a bad anchor fails it — and its reference covers every field of the
spec models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly_and_documents_every_spec_field(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (site / "reference" / "instance" / "index.html").read_text()
    from constructs_lib.spec import Instance

    schema = Instance.model_json_schema(by_alias=True, mode="validation")
    for name, definition in schema["$defs"].items():
        assert f'id="{name.lower()}"' in reference, name
        for field in definition.get("properties", {}):
            assert f"<code>{field}</code>" in reference, f"{name}.{field}"


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n[gone](missing.md)\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        (REPO / "mkdocs.yml")
        .read_text()
        .replace("docs_dir: docs", f"docs_dir: {docs}")
        .replace("  - docs/hooks/reference.py", f"  - {REPO / 'docs/hooks/reference.py'}")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(config),
            "-d",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode != 0
    assert "missing.md" in result.stdout + result.stderr
