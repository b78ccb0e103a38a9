"""PaperclipInstance as a cdk8s user composes it: in their own Chart, ``Testing.synth`` (and
``app.synth()``) gives every object, the same as paperclip-gitops writes to dist/ for every app
and every feature scenario; the generated objects take the usual escape hatches and sit beside
the user's own objects."""

from __future__ import annotations

import json
from typing import Any

import cdk8s
import pytest

from constructs_lib.constructs import PaperclipInstance
from constructs_lib.spec import Instance
from constructs_lib.spec.loader import discover, load_app
from tests.conftest import REPO, load_yaml_file, make_instance, synth_objects
from tests.test_snapshots import SCENARIOS


def canonical(objects: list[dict[str, Any]]) -> dict[str, str]:
    """'Kind/namespace/name' -> the object as canonical JSON (cdk8s sorts keys)."""
    return {
        f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": json.dumps(
            o, sort_keys=True
        )
        for o in objects
    }


def user_chart(*instances: Instance) -> tuple[cdk8s.Chart, list[PaperclipInstance]]:
    chart = cdk8s.Chart(cdk8s.App(), "user", disable_resource_name_hashes=True)
    built = [PaperclipInstance(chart, i.name, instance=i) for i in instances]
    return chart, built


@pytest.mark.parametrize("path", discover(REPO / "apps"), ids=lambda p: p.name)
def test_every_app_synthesizes_in_a_user_chart_as_in_dist(path: Any) -> None:
    app = load_app(path)
    chart, _ = user_chart(*app.instances)
    written = REPO / "dist" / app.name / "kustomize"
    in_dist = [
        obj
        for file in sorted(written.glob("*.yaml"))
        if file.name != "kustomization.yaml"
        for obj in load_yaml_file(file)
    ]
    assert canonical(cdk8s.Testing.synth(chart)) == canonical(in_dist)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_feature_scenario_synthesizes_in_a_user_chart_as_in_the_cli(scenario: str) -> None:
    patch, metadata, _ = SCENARIOS[scenario]
    instance = make_instance(patch, **metadata)
    chart, _ = user_chart(instance)
    assert canonical(cdk8s.Testing.synth(chart)) == canonical(
        list(synth_objects(instance).values())
    )


def test_escape_hatches_and_the_users_own_objects() -> None:
    instance = make_instance({"agents": {"enabled": True}}, name="demo")
    chart, [paperclip] = user_chart(instance)
    cdk8s.ApiObject(
        chart, "mine", api_version="v1", kind="ConfigMap", metadata={"name": "mine"}
    ).add_json_patch(cdk8s.JsonPatch.add("/data", {"k": "v"}))
    service = cdk8s.ApiObject.of(paperclip.node.find_child("Service-demo"))
    service.add_json_patch(cdk8s.JsonPatch.replace("/spec/type", "NodePort"))
    workload = cdk8s.ApiObject.of(paperclip.node.find_child("StatefulSet-demo"))
    workload.metadata.add_label("team.example/owner", "platform")
    found = {f"{o['kind']}/{o['metadata']['name']}": o for o in cdk8s.Testing.synth(chart)}
    assert found["ConfigMap/mine"]["data"] == {"k": "v"}
    assert found["Service/demo"]["spec"]["type"] == "NodePort"
    assert found["StatefulSet/demo"]["metadata"]["labels"]["team.example/owner"] == "platform"
    ours = synth_objects(instance)
    assert set(found) == set(ours) | {"ConfigMap/mine"}
    assert ours["Service/demo"]["spec"]["type"] == "ClusterIP"  # the patch is the user's only
