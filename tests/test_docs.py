"""The documentation site (docs/, mkdocs.yml) builds strictly — a broken link, a page missing
from the navigation or a bad anchor fails it — and its reference covers every field of the
spec models."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from launcher.schema_docs import json_schema

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

    schema = json_schema(Instance)
    for name, definition in schema["$defs"].items():
        assert f'id="{name.lower()}"' in reference, name
        for field in definition.get("properties", {}):
            assert f"<code>{field}</code>" in reference, f"{name}.{field}"
    # the default and rule columns reach the page
    assert "none (required)" in reference
    assert "minimum: <code>1</code>" in reference
    assert "one of: <code>" in reference


def _reference_rows() -> dict[tuple[str, str], dict[str, str]]:
    """The generated reference's table rows by (type, field): their cells by column."""
    spec = importlib.util.spec_from_file_location(
        "reference_hook", REPO / "docs" / "hooks" / "reference.py"
    )
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    current, header = "", ["Field", "Type", "Default", "Rules", "Description"]
    for line in hook.reference_markdown().splitlines():
        if line.startswith("### "):
            current = line[4:]
        elif line == "## Instance":
            current = "Instance"
        elif line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[(current, cells[0].strip("`"))] = dict(zip(header, cells, strict=True))
    return rows


def test_the_reference_gives_every_field_its_default_and_rules() -> None:
    rows = _reference_rows()
    assert rows[("AvailabilitySpec", "replicas")]["Default"] == "`1`"
    assert "minimum: `1`" in rows[("AvailabilitySpec", "replicas")]["Rules"]
    assert rows[("BackupSpec", "retentionDays")]["Default"] == "`30`"
    assert "minimum: `1`" in rows[("BackupSpec", "retentionDays")]["Rules"]
    mode = rows[("DatabaseSpec", "mode")]
    assert mode["Default"] == '`"managed"`'
    for value in ("managed", "embedded", "external"):  # an enum behind a $ref
        assert f"`{value}`" in mode["Rules"], mode
    digest = rows[("ImageSpec", "digest")]
    assert digest["Default"] == "unset"
    assert "pattern: `^sha256:[a-f0-9]{64}$`" in digest["Rules"]
    access = rows[("PersistenceSpec", "accessModes")]  # rules of a list's items
    assert "minItems: `1`" in access["Rules"] and "`ReadWriteMany`" in access["Rules"]
    assert rows[("Instance", "metadata")]["Default"] == "none (required)"
    assert rows[("Instance", "metadata")]["Rules"].startswith("required")
    assert "exactly `Instance`" in rows[("Instance", "kind")]["Rules"]

    # every field of the schema: a default where it has one, "required" where it is one, and
    # the allowed values of every enum it refers to
    from constructs_lib.spec import Instance

    schema = json_schema(Instance)
    defs: dict[str, Any] = schema["$defs"]
    for name, definition in [("Instance", schema), *defs.items()]:
        required = set(definition.get("required", []))
        for field, child in definition.get("properties", {}).items():
            row = rows[(name, field)]
            if field in required:
                assert "required" in row["Rules"], (name, field, row)
            elif "default" in child:
                assert row["Default"], (name, field, row)
            refs = [child, *child.get("anyOf", []), child.get("items", {})]
            for ref in refs:
                target = defs.get(str(ref.get("$ref", "")).rsplit("/", 1)[-1], {})
                for value in target.get("enum", []):
                    assert f"`{value}`" in row["Rules"], (name, field, value)


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
