"""dist/gitops/ on the real API server with the real Argo CD and Flux CRDs installed: every
entry object passes server-side apply with dryRun=All (which runs the CRDs' CEL rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes.client.rest import ApiException

from constructs_lib.cli import main
from tests.conftest import REPO, load_yaml_file
from tests.controlplane.cluster import ControlPlane
from tests.k8s.test_controlplane import apply, ensure_namespace, install_crds

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]


def gitops_objects(out: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted((out / "gitops").rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path, obj) for obj in load_yaml_file(path)]
    return found


def test_gitops_objects_pass_server_side_dry_run(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["synth", "--out", str(tmp_path), "--apps-dir", str(REPO / "apps")]
    )
    assert result.exit_code == 0, result.output
    objects = gitops_objects(tmp_path)
    kinds = {o["kind"] for _, o in objects}
    assert {"AppProject", "ApplicationSet", "Application", "GitRepository"} <= kinds
    assert {"Kustomization", "HelmRelease", "Namespace"} <= kinds
    install_crds(control_plane, [o for _, o in objects])
    for namespace in sorted({o["metadata"].get("namespace") for _, o in objects} - {None}):
        ensure_namespace(control_plane, namespace)
    rejected = []
    for path, obj in objects:
        try:
            apply(control_plane, obj, dry_run=True)
        except ApiException as exc:
            rejected.append(f"{path.relative_to(tmp_path)}: {exc.status} {exc.body}")
    assert not rejected, "the API server rejected:\n" + "\n".join(rejected)
