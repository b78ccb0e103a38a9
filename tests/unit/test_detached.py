"""Detached builds (the Helm chart's probe renders) make exactly the objects the constructs
make, for every feature scenario of the snapshots and the full-featured benchmark instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.constructs.instance import detached_objects, plan
from constructs_lib.render.synth import build_objects, sources
from constructs_lib.spec import Instance
from constructs_lib.spec.loader import load_app
from tests.conftest import make_instance
from tests.test_snapshots import SCENARIOS

BENCH = Path(__file__).resolve().parents[1] / "bench" / "full_features.yaml"


def _instances() -> dict[str, Instance]:
    found = {name: make_instance(patch, **meta) for name, (patch, meta, _) in SCENARIOS.items()}
    [full] = load_app(BENCH).instances
    found["bench-full-features"] = full
    return found


INSTANCES = _instances()


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_a_detached_build_makes_the_objects_of_the_constructs(name: str) -> None:
    instance = INSTANCES[name]
    [built] = list(build_objects([instance]))
    detached = detached_objects(plan(instance), sources())
    assert detached == built
    assert len(built) >= 4, "every instance has the server stack"


def test_a_detached_build_makes_no_construct() -> None:
    """The point of detaching: nothing is registered with the jsii kernel."""
    import jsii._reference_map as refs

    instance = INSTANCES["bench-full-features"]
    planned = plan(instance)
    detached_objects(planned, sources())  # warm: first calls may load modules
    before = len(refs._refs._refs)
    objects = detached_objects(planned, sources())
    assert len(refs._refs._refs) == before
    assert len(objects) > 30


def test_features_that_only_contribute_are_not_constructs() -> None:
    """A feature without objects of its own (branding, secrets provider, ...) is no
    construct, yet its contribution reaches the server pod."""
    import cdk8s

    from constructs_lib.constructs.instance import PaperclipInstance

    instance = INSTANCES["bench-full-features"]
    planned = plan(instance)
    chart = cdk8s.Chart(cdk8s.App(), "t", disable_resource_name_hashes=True)
    found = sources()
    construct = PaperclipInstance(
        chart,
        instance.name,
        instance=instance,
        planned=planned,
        adapter_files=found.adapter_files,
        db_script=found.db_script,
        scripts=found.scripts,
    )
    children = {child.node.id for child in construct.node.children}
    contributing = {f.id for f in planned.features if not f.adds_objects()}
    adding = {f.id for f in planned.features if f.adds_objects()}
    assert "branding" in contributing and len(contributing) >= 2
    assert children.isdisjoint(contributing)
    assert adding <= children and "server" in children
    config = next(
        o
        for o in construct.manifests()
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"{instance.name}-config"
    )
    assert "PAPERCLIP_BRAND_DIR" in config["data"]
