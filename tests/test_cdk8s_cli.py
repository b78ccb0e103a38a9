"""`cdk8s synth` (the real npm cdk8s-cli, installed by `make setup`) produces exactly what
`paperclip-gitops synth` produces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.spec.loader import parse_instance
from tests.conftest import REPO, committed_bytes, load_yaml_file, synth_objects, tree_bytes
from tests.processes import tool_path


def _cdk8s() -> str:
    return tool_path("PAPERCLIP_CDK8S_CLI", REPO / "tests/tools/cdk8s-cli.sh")


def test_cdk8s_synth_writes_the_same_tree_as_make_synth(tmp_path: Path) -> None:
    via_cdk8s = tmp_path / "via-cdk8s"
    scratch = tmp_path / "cdk8s-scratch"
    env = {**os.environ, "PAPERCLIP_GITOPS_OUT": str(via_cdk8s)}
    run = subprocess.run(
        [_cdk8s(), "synth", "--output", str(scratch)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    direct = tmp_path / "direct"
    result = CliRunner().invoke(main, ["synth", "--out", str(direct)])
    assert result.exit_code == 0, result.output
    assert tree_bytes(via_cdk8s) == tree_bytes(direct)
    assert committed_bytes(via_cdk8s) == committed_bytes(REPO / "dist")
    # the CLI's own directory holds the manifests again (for its validation plugins)
    copied = sorted(p.relative_to(scratch) for p in scratch.rglob("*.yaml"))
    assert copied and all((via_cdk8s / p).is_file() for p in copied)


def test_a_users_cdk8s_app_with_a_paperclip_instance(tmp_path: Path) -> None:
    """examples/cdk8s-app (the README's example) through the real `cdk8s synth`: the instance's
    objects as paperclip-gitops builds them, the user's own object beside them, the escape
    hatch applied."""
    app = tmp_path / "app"
    shutil.copytree(REPO / "examples" / "cdk8s-app", app)
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    run = subprocess.run(
        [_cdk8s(), "synth"], cwd=app, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = {
        f"{o['kind']}/{o['metadata']['name']}": o
        for o in load_yaml_file(app / "dist" / "team.k8s.yaml")
    }
    instance = parse_instance(
        {
            "apiVersion": "paperclip.inc/v1alpha1",
            "kind": "Instance",
            "metadata": {"name": "team", "namespace": "team"},
            "spec": {"image": {"tag": "2026.1106.0"}, "database": {"mode": "embedded"}},
        }
    )
    ours = synth_objects(instance)
    assert set(found) == set(ours) | {"ConfigMap/team-notes"}
    assert found["ConfigMap/team-notes"]["data"] == {"owner": "platform"}
    patched = found.pop("Service/team")
    assert patched["metadata"]["annotations"] == {"team.example/tier": "1"}
    for key, obj in found.items():
        if key != "ConfigMap/team-notes":
            assert json.dumps(obj, sort_keys=True) == json.dumps(ours[key], sort_keys=True), key
