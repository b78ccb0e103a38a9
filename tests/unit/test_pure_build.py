"""The build is plain Python: `synth`, `validate` and `check` never load jsii (no Node process
starts) nor the launcher's HTTP client, asyncio or referencing, and a feature that only
contributes to the server pod adds no objects of its own yet reaches the pod."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from constructs_lib.constructs.build import instance_objects, manifests, parts, plan
from constructs_lib.spec.loader import load_app
from tests.conftest import REPO

BENCH = REPO / "tests" / "bench" / "full_features.yaml"

PROBE = """
import json, sys
from click.testing import CliRunner
from constructs_lib.cli import main
results = [CliRunner().invoke(main, args).exit_code for args in json.loads(sys.argv[1])]
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"jsii", "cdk8s", "constructs", "aiohttp"})
# the launcher's asyncio and jsonschema's resolver: 40 and 35 ms at start, needed by neither
loaded += [m for m in ("asyncio", "referencing") if m in sys.modules]
print(json.dumps({"exit": results, "loaded": loaded}))
"""


def test_synth_validate_and_check_load_no_jsii(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    # an app of several instances (the chart analysis probes each) beside single ones
    many = "---\n".join(
        BENCH.read_text().replace("  name: bench\n", f"  name: bench-{i}\n") for i in range(9)
    )
    (apps / "many.yaml").write_text(many)
    for app in ("production.yaml", "production-full.yaml"):
        (apps / app).write_text((REPO / "apps" / app).read_text())
    out = tmp_path / "dist"
    commands = [
        ["synth", "--apps-dir", str(apps), "--out", str(out)],
        ["validate", str(apps / "production.yaml")],
        ["check", "--apps-dir", str(apps), "--dist", str(out)],
    ]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"exit": [0, 0, 0], "loaded": []}, done.stdout + done.stderr
    assert (out / "many" / "kustomize" / "kustomization.yaml").is_file()


def test_a_feature_that_only_contributes_adds_no_objects_yet_reaches_the_pod() -> None:
    [instance] = load_app(BENCH).instances
    planned = plan(instance)
    contributing = {f for f in planned.features if not f.adds_objects()}
    assert {f.id for f in contributing} >= {"branding"} and len(contributing) >= 2
    assert contributing.isdisjoint(parts(planned))
    owners = {o.owner for o in instance_objects(planned)}
    assert owners.isdisjoint({f.__name__ for f in contributing})
    config = next(
        o
        for o in manifests(planned)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"{instance.name}-config"
    )
    assert "PAPERCLIP_BRAND_DIR" in config["data"]
