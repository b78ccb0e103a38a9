"""Shared fixtures: the YAML snapshot extension, spec helpers, tool locations."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SerializableData

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from constructs_lib.constructs.build import manifests, plan
from constructs_lib.render.yamltext import dump
from constructs_lib.spec import Instance
from constructs_lib.spec.loader import parse_instance

REPO = Path(__file__).resolve().parent.parent


def docs_text(page: str) -> str:
    """The Markdown source of a page of the documentation site, e.g. docs_text("migrating.md")."""
    return (REPO / "docs" / page).read_text()


class YamlSnapshot(SingleFileSnapshotExtension):
    """One reviewable YAML file per snapshot: snapshots/<test module>/<test name>.yaml."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(REPO / "snapshots" / test_location.basename)

    def serialize(self, data: SerializableData, **kwargs: Any) -> str:
        if isinstance(data, str):
            return data
        return "---\n".join(dump(o) for o in data)


@pytest.fixture
def yaml_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(YamlSnapshot)


MINIMAL: dict[str, Any] = {
    "apiVersion": "paperclip.inc/v1alpha1",
    "kind": "Instance",
    "metadata": {"name": "demo", "namespace": "team"},
    "spec": {
        "image": {"tag": "2026.1106.0"},
        "deployment": {"mode": "authenticated"},
        "database": {"mode": "embedded"},
    },
}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge patch into a copy of base (None deletes a key)."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def trusted_document(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """An Instance document with an embedded database in local_trusted mode (no Secrets needed),
    ``spec`` merged into its spec."""
    patch = {"deployment": {"mode": "local_trusted"}, **spec}
    return merge(MINIMAL, {"metadata": {"name": name, "namespace": namespace}, "spec": patch})


def make_instance(spec_patch: dict[str, Any] | None = None, **metadata: Any) -> Instance:
    document = merge(MINIMAL, {"spec": spec_patch or {}, "metadata": metadata})
    return parse_instance(document)


def synth_objects(instance: Instance) -> dict[str, dict[str, Any]]:
    """'Kind/name' -> object, as the build makes them (without rules or validation)."""
    objects = manifests(plan(instance))
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def _tool_dir() -> Path:
    configured = os.environ.get("PAPERCLIP_TOOLS_DIR")
    if configured:
        return Path(configured)
    out = subprocess.run(
        ["bash", str(REPO / "tests/tools/kube-tools.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm from the npm package (installed by `make setup`)."""
    path = _tool_dir() / "helm"
    assert path.is_file(), f"helm missing at {path}: run `make setup`"
    return str(path)


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl from the npm package (installed by `make setup`); never /usr/bin/kubectl."""
    path = _tool_dir() / "kubectl"
    assert path.is_file(), f"kubectl missing at {path}: run `make setup`"
    return str(path)


@pytest.fixture
def dist_copy(tmp_path: Path) -> Path:
    """A private copy of the committed dist/ to synthesize into."""
    target = tmp_path / "dist"
    shutil.copytree(REPO / "dist", target)
    return target


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def committed_bytes(root: Path) -> dict[str, bytes]:
    """A tree as ``check`` compares it with a fresh synth: each marker without its record (the
    record of a committed tree names the generator that wrote it, which any edit changes)."""
    from constructs_lib.render.layout import MARKER_FILE
    from constructs_lib.render.record import strip_record

    tree = tree_bytes(root)
    for path, data in tree.items():
        if Path(path).name == MARKER_FILE:
            tree[path] = strip_record(data.decode()).encode()
    return tree


def load_yaml_file(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def doc_yaml(spec: dict[str, Any] | None = None) -> str:
    return yaml.safe_dump(merge(MINIMAL, {"spec": spec or {}}))


@pytest.fixture(scope="session")
def control_plane() -> Any:
    """The real control plane for the whole session. If it cannot be built or started the
    k8s tests fail with the reason; they are never skipped."""
    from tests.controlplane.cluster import ControlPlaneError, running

    try:
        context = running()
        plane = context.__enter__()
    except ControlPlaneError as exc:
        pytest.fail(f"the test control plane is unavailable: {exc}", pytrace=False)
    yield plane
    pids = [p.pid for p in plane.processes.values()]
    context.__exit__(None, None, None)
    alive = [pid for pid in pids if _alive(pid)]
    assert not alive, f"control-plane processes left running: {alive}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
