"""PaperclipInstance as a cdk8s user composes it: in their own Chart, ``Testing.synth`` (and
``app.synth()``) gives every object, the same as paperclip-gitops writes to dist/ for every app
and every feature scenario; the generated objects take the usual escape hatches and sit beside
the user's own objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml

from constructs_lib.constructs import PaperclipInstance
from constructs_lib.constructs.build import plan
from constructs_lib.errors import UserError
from constructs_lib.render.pipeline import synthesize
from constructs_lib.spec import Instance
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from constructs_lib.spec.loader import discover, load_app
from tests.conftest import REPO, load_yaml_file, make_instance, merge, synth_objects
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
def test_every_feature_scenario_synthesizes_in_a_user_chart_as_in_the_cli(
    scenario: str, tmp_path: Path
) -> None:
    patch, metadata, _ = SCENARIOS[scenario]
    instance = make_instance(patch, **metadata)
    app = tmp_path / "app.yaml"
    app.write_text(yaml.safe_dump(instance.model_dump(by_alias=True, mode="json")))
    try:
        synthesize([app], DEFAULT_KUBERNETES_VERSION)
    except UserError:  # `paperclip-gitops synth` refuses it: so does the construct
        with pytest.raises(UserError):
            user_chart(instance)
        return
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


def test_a_chart_namespace_stays_off_the_cluster_scoped_objects() -> None:
    """A Chart's ``namespace`` is cdk8s's default for objects that name none: the instance's
    namespaced objects keep their own, and its ClusterRoles/ClusterRoleBindings stay
    cluster-scoped (they were given the chart's namespace)."""
    patch, metadata, _ = SCENARIOS["adapters-sandbox-and-execution"]
    instance = make_instance(patch, **metadata)
    chart = cdk8s.Chart(cdk8s.App(), "user", namespace="apps")
    PaperclipInstance(chart, "paperclip", instance=instance)
    found = cdk8s.Testing.synth(chart)
    cluster_scoped = [o for o in found if o["kind"].startswith("Cluster")]
    assert cluster_scoped and all("namespace" not in o["metadata"] for o in cluster_scoped)
    assert canonical(found) == canonical(list(synth_objects(instance).values()))
    # the user's own objects still take the chart's namespace
    mine = cdk8s.ApiObject(chart, "mine", api_version="v1", kind="ConfigMap")
    assert mine.metadata.namespace == "apps"


INSTANCE = {
    "apiVersion": "paperclip.inc/v1alpha1",
    "kind": "Instance",
    "metadata": {"name": "team", "namespace": "team"},
    "spec": {"image": {"tag": "2026.1106.0"}, "database": {"mode": "embedded"}},
}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"image": {"tag": None}}, "spec.image"),  # an unpinned (:latest) image
        ({"database": {"mode": "external"}}, "spec.database"),  # no database URL
        (  # local_trusted has no login
            {"deployment": {"mode": "local_trusted", "exposure": "public"}},
            "spec.deployment.exposure",
        ),
        (  # a feature's error: the managed database wires DATABASE_URL from its Secret
            {"database": {"mode": "managed"}, "env": [{"name": "DATABASE_URL", "value": "x"}]},
            "spec.env[0].name",
        ),
    ],
)
def test_an_instance_the_cli_refuses_is_refused_by_the_construct(
    spec: dict[str, Any], path: str
) -> None:
    """The synth-time rules and the features' errors stop the construct as they stop
    ``paperclip-gitops synth``: a UserError naming the field, and nothing added to the chart
    (the objects were built, e.g. an unpinned image)."""
    instance = Instance.model_validate(merge(INSTANCE, {"spec": spec}))
    chart = cdk8s.Chart(cdk8s.App(), "user")
    with pytest.raises(UserError) as refused:
        PaperclipInstance(chart, "paperclip", instance=instance)
    assert [p.path for p in refused.value.problems] == [path]
    assert "Instance team" in str(refused.value)
    assert chart.node.try_find_child("paperclip") is None


def test_an_instance_document_as_a_mapping() -> None:
    """A decoded Instance document (e.g. a YAML file's) is validated as the command line
    validates it; anything else is a TypeError that says what to pass."""
    by_model = cdk8s.Chart(cdk8s.App(), "user")
    PaperclipInstance(by_model, "paperclip", instance=Instance.model_validate(INSTANCE))
    by_mapping = cdk8s.Chart(cdk8s.App(), "user")
    built = PaperclipInstance(by_mapping, "paperclip", instance=INSTANCE)
    assert isinstance(built.instance, Instance)
    assert canonical(cdk8s.Testing.synth(by_mapping)) == canonical(cdk8s.Testing.synth(by_model))
    wrong = merge(INSTANCE, {"spec": {"database": {"mode": "sqlite"}}})
    with pytest.raises(UserError) as refused:
        PaperclipInstance(cdk8s.Chart(cdk8s.App(), "user"), "paperclip", instance=wrong)
    assert [p.path for p in refused.value.problems] == ["spec.database.mode"]
    other = plan(make_instance({}, name="other"))
    with pytest.raises(ValueError, match="the plan of Instance other"):
        PaperclipInstance(cdk8s.Chart(cdk8s.App(), "user"), "pc", instance=INSTANCE, planned=other)
    with pytest.raises(TypeError, match="an Instance"):
        PaperclipInstance(cdk8s.Chart(cdk8s.App(), "user"), "paperclip", instance="team.yaml")


def test_an_object_of_the_instance_twice_in_one_chart_is_refused(tmp_path: Path) -> None:
    """Two PaperclipInstances of one Instance (or of two with one name and namespace) in a
    chart wrote every object twice, the last one winning when applied; `paperclip-gitops synth`
    refuses them. Now the second construct raises and is not added; an object of the user's
    added later with the identity of a generated one fails ``app.synth()``. The same name in
    another namespace, or in another chart, is no clash."""
    app = cdk8s.App(outdir=str(tmp_path))
    chart = cdk8s.Chart(app, "team")
    instance = make_instance({}, name="team")
    PaperclipInstance(chart, "one", instance=instance)
    with pytest.raises(UserError, match=r"ConfigMap team-config in namespace team .* team/one/"):
        PaperclipInstance(chart, "two", instance=instance)
    assert chart.node.try_find_child("two") is None
    PaperclipInstance(chart, "two", instance=make_instance({}, name="team", namespace="other"))
    PaperclipInstance(cdk8s.Chart(app, "elsewhere"), "one", instance=instance)
    assert len(cdk8s.Testing.synth(chart)) == 2 * len(synth_objects(instance))
    cdk8s.ApiObject(
        chart,
        "mine",
        api_version="v1",
        kind="ConfigMap",
        metadata={"name": "team-config", "namespace": "team"},
    )
    with pytest.raises(RuntimeError, match=r"\[team/one\] .*ConfigMap team-config .* team/mine"):
        app.synth()
