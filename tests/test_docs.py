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
from launcher.templates import IMAGE_NAME

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


def _code_block_after(page: str, heading: str) -> str:
    """The first fenced code block below ``heading`` in docs/``page``."""
    text = (REPO / "docs" / page).read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    return section.split("```", 2)[1]


def test_what_synth_writes_lists_every_entry_it_writes() -> None:
    """docs/cli.md "What synth writes" names every file and directory synth puts into an app
    directory and into dist/gitops/ (the committed dist/ is what `make synth` writes)."""
    block = _code_block_after("cli.md", "## What synth writes")
    listed: set[str] = set()
    for line in block.splitlines():
        if not line.strip():
            continue
        path = line.split()[0]
        head, _, tail = path.partition("{")
        names, _, rest = tail.partition("}")
        for name in names.split(","):  # "a/{b,c}/" is a/b/ and a/c/
            listed.add(head + name + rest)
    entries = {
        "dist/<app>/" + e.name
        for app in ("quickstart", "production")
        for e in (REPO / "dist" / app).iterdir()
    }
    entries |= {"dist/gitops/" + e.name for e in (REPO / "dist" / "gitops").iterdir()}
    assert entries, "no dist/"
    missing = sorted(
        e for e in entries if not any(item == e or item.startswith(e + "/") for item in listed)
    )
    assert not missing, (
        f"docs/cli.md, What synth writes, leaves out {missing} (it lists {sorted(listed)})"
    )


def _repository(reference: str) -> str:
    """An image reference's repository: no tag, no digest, no docker.io/ prefix."""
    match = IMAGE_NAME.match(reference)  # a table row may write <tag>
    assert match is not None, reference
    return match[0].removeprefix("docker.io/")


def test_the_prerequisites_list_every_image_the_generator_names() -> None:
    """docs/prerequisites.md "Images" has a row for each image synth puts into a pod (or hands
    the server for its sandbox pods) when the spec names none, and none for an image it never
    uses (a sidecar of the user's own, as apps/production.yaml has, is the user's)."""
    from constructs_lib.constructs.backup import AWS_CLI_IMAGE
    from constructs_lib.constructs.pod import SELINUX_IMAGE
    from constructs_lib.spec.adapters import DEFAULT_SANDBOX_IMAGE
    from constructs_lib.spec.data import DEFAULT_POSTGRES_IMAGE
    from constructs_lib.spec.server import DEFAULT_IMAGE_REPOSITORY
    from constructs_lib.spec.tailscale import DEFAULT_TAILSCALE_REPOSITORY
    from launcher import IMAGE_REPOSITORY as LAUNCHER_REPOSITORY

    named = {
        _repository(image)
        for image in (
            DEFAULT_IMAGE_REPOSITORY,
            LAUNCHER_REPOSITORY,
            DEFAULT_POSTGRES_IMAGE,
            AWS_CLI_IMAGE,
            SELINUX_IMAGE,
            DEFAULT_TAILSCALE_REPOSITORY,
            DEFAULT_SANDBOX_IMAGE,
        )
    }
    section = (REPO / "docs" / "prerequisites.md").read_text().split("\n## Images\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    listed: set[str] = set()
    for row in section.splitlines():
        match = re.match(r"\| `([^`]+)`", row)
        if match:
            listed.add(_repository(match[1]))
    assert listed == named, (
        f"not in the table: {sorted(named - listed)}; never used: {sorted(listed - named)}"
    )


def test_the_docs_describe_apps_production_yaml_as_it_is() -> None:
    """docs/instances.md describes apps/production.yaml's database as it is, and it and
    docs/prerequisites.md name what the app references but does not create (beyond the
    Secrets): its PriorityClass and the ConfigMaps its pod mounts."""
    import yaml

    from constructs_lib.render.pipeline import synthesize
    from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION

    app = REPO / "apps" / "production.yaml"
    [document] = yaml.safe_load_all(app.read_text())
    [rendered] = synthesize([app], DEFAULT_KUBERNETES_VERSION).rendered
    created = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    referenced: set[str] = set()
    for obj in rendered.objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        if pod.get("priorityClassName"):
            referenced.add(pod["priorityClassName"])
        for volume in pod.get("volumes", []):
            name = volume.get("configMap", {}).get("name")
            if name and ("ConfigMap", name) not in created:
                referenced.add(name)
    assert referenced, "apps/production.yaml references nothing it does not create?"

    def paragraph(page: str, start: str) -> str:
        text = " ".join((REPO / "docs" / page).read_text().split())
        return text.split(start, 1)[1].split("`apps/production-full.yaml`", 1)[0]

    described = paragraph("instances.md", "`apps/production.yaml` shows a production shape")
    database = f"{document['spec']['database']['mode']} PostgreSQL"
    assert database in described, (database, described)
    for page, start in [
        ("instances.md", "`apps/production.yaml` shows a production shape"),
        ("prerequisites.md", "`apps/production.yaml`, for example, assumes"),
    ]:
        text = paragraph(page, start)
        for name in referenced:
            assert f"`{name}`" in text, (page, name, text)
