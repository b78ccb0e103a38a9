"""`cdk8s synth` (the real npm cdk8s-cli, installed by `make setup`) produces exactly what
`paperclip-gitops synth` produces."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from constructs_lib.cli import main
from tests.conftest import REPO, tree_bytes
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
    assert tree_bytes(via_cdk8s) == tree_bytes(REPO / "dist")
    # the CLI's own directory holds the manifests again (for its validation plugins)
    copied = sorted(p.relative_to(scratch) for p in scratch.rglob("*.yaml"))
    assert copied and all((via_cdk8s / p).is_file() for p in copied)
