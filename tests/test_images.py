"""Every image the committed dist/ pulls is one a stock cluster can pull today: the Paperclip
server image (upstream), official images pinned to a version, and this project's launcher
image only where agents are on (it is published by .github/workflows/release.yml). The default
path — the secrets bootstrap of every managed-database instance included — needs nothing
else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from constructs_lib.spec.agents import DEFAULT_LAUNCHER_IMAGE

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = re.compile(r"^ghcr\.io/paperclipai/paperclip(:[\w.-]+|@sha256:[0-9a-f]{64})$")
# Official images (Docker Official Images or the vendor's own), each at a fixed version.
OFFICIAL = re.compile(
    r"^(docker\.io/)?(postgres:\d+(\.\d+)?-alpine|amazon/aws-cli:\d+\.\d+\.\d+"
    r"|fluent/fluent-bit:\d+\.\d+\.\d+)$"
)
LAUNCHER = DEFAULT_LAUNCHER_IMAGE.rsplit(":", 1)[0]


def images(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [i for value in node.values() for i in images(value)]
    if isinstance(node, list):
        return [i for item in node for i in images(item)]
    return []


def app_objects(app: Path) -> list[dict[str, Any]]:
    return [
        d
        for path in sorted((app / "kustomize").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d and path.name != "kustomization.yaml"
    ]


def test_every_image_in_dist_is_one_a_stock_cluster_can_pull() -> None:
    apps = sorted(p for p in (REPO / "dist").iterdir() if (p / "kustomize").is_dir())
    assert len(apps) >= 3
    seen: dict[str, set[str]] = {}
    for app in apps:
        objects = app_objects(app)
        agents = any(
            o["kind"] == "Deployment" and "launcher" in o["metadata"]["name"] for o in objects
        )
        for obj in objects:
            for image in images(obj.get("spec", {})):
                seen.setdefault(image, set()).add(
                    f"{app.name}: {obj['kind']}/{obj['metadata']['name']}"
                )
                if image.startswith(LAUNCHER + ":") or image.startswith(LAUNCHER + "@"):
                    assert agents, f"{app.name}: the launcher image without agents ({obj['kind']})"
                    assert obj["kind"] == "Deployment", f"only the launcher runs it: {obj['kind']}"
                    continue
                assert UPSTREAM.match(image) or OFFICIAL.match(image), (
                    f"{app.name}: {obj['kind']}/{obj['metadata']['name']} pulls {image}, which "
                    "is neither upstream nor a pinned official image"
                )
    # the secrets bootstrap of every app runs on the server image
    for app in apps:
        [job] = [
            o
            for o in app_objects(app)
            if o["kind"] == "Job" and o["metadata"]["name"].endswith("-secrets-bootstrap")
        ]
        assert UPSTREAM.match(images(job["spec"])[0]), app.name
    assert any(UPSTREAM.match(i) for i in seen)


def test_the_checks_catch_an_unpublished_image() -> None:
    assert not UPSTREAM.match("ghcr.io/paperclip-gitops/launcher:0.1.0")
    assert not OFFICIAL.match("postgres:latest")
    assert not OFFICIAL.match("busybox:1.36")
    assert OFFICIAL.match("postgres:17-alpine") and OFFICIAL.match("amazon/aws-cli:2.22.35")
