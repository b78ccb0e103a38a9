"""The chart analysis places many values with one render, and finds exactly what probing each
value alone finds (render/helm/analysis.py, probe.py).

The oracle: the same chart made with every value probed alone (no groups), byte for byte,
for every feature scenario and for distinct full-featured instances. The real `helm` renders
these charts in tests/test_helm.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.constructs.build import instance_objects, plan
from constructs_lib.constructs.kube import NETWORK_POLICY, KubeObject
from constructs_lib.render.helm import analysis, probe, registry
from constructs_lib.render.helm.chart import build_chart
from constructs_lib.render.helm.probe import Probe, explain_group
from constructs_lib.render.helm.registry import Shape
from constructs_lib.render.helm.sites import MISSING
from constructs_lib.render.synth import render_app
from constructs_lib.spec import Instance
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from constructs_lib.spec.loader import load_app, parse_instance
from tests.bench.distinct_bench import distinct
from tests.conftest import make_instance
from tests.test_snapshots import SCENARIOS, scenario_document

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    """What one analysis learnt about other instances must not decide this test."""
    for learnt in (analysis.REFUSED, analysis.DOUBTFUL, analysis.MASKED, analysis.EMPTIED_ALONE):
        learnt.clear()
    yield


def _chart(app_file: Path) -> dict[str, str]:
    rendered = render_app(load_app(app_file), DEFAULT_KUBERNETES_VERSION)
    return build_chart(rendered, "app.yaml").files


def _alone(app_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with monkeypatch.context() as patched:
        patched.setattr(analysis, "_groups", lambda candidates: [])
        return _chart(app_file)


def _recorded(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[tuple[Any, Any]]:
    """Every call of ``owner.name`` from now on, as (its arguments, its result)."""
    calls: list[tuple[Any, Any]] = []
    original = getattr(owner, name)

    def recorded(*args: Any) -> Any:
        result = original(*args)
        calls.append((args, result))
        return result

    monkeypatch.setattr(owner, name, recorded)
    return calls


def _write(tmp_path: Path, docs: list[dict[str, Any]]) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_charts_the_same_grouped_and_alone(
    scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch, metadata, _ = SCENARIOS[scenario]
    try:
        instance = make_instance(patch, **metadata)
    except ValueError:
        pytest.fail(f"scenario {scenario} does not parse")
    doc = instance.model_dump(by_alias=True, mode="json", exclude_none=True)
    app = _write(tmp_path, [doc])
    try:
        grouped = _chart(app)
    except Exception as exc:  # a scenario the rules refuse (it shows a refusal elsewhere)
        assert "UserError" in type(exc).__name__, exc
        return
    assert grouped == _alone(app, monkeypatch)


def test_distinct_instances_chart_the_same_grouped_and_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight distinct full-featured instances (one app): the later ones are grouped with what
    the earlier ones taught (values that failed alone are kept apart)."""
    app = _write(tmp_path, [distinct(i) for i in range(8)])
    grouped = _chart(app)
    assert analysis.REFUSED, "the distinct instances have a value the rules refuse alone"
    assert grouped == _alone(app, monkeypatch)


def test_what_earlier_apps_taught_never_changes_a_chart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One process synthesizes many apps: values that failed alone in one app are kept apart
    in the next (and emptied values refused there are emptied alone). The charts stay those
    of probing every value alone."""
    apps = [
        REPO / "apps" / "production-full.yaml",
        REPO / "apps" / "production.yaml",
        REPO / "apps" / "quickstart.py",
        REPO / "tests" / "bench" / "full_features.yaml",
    ]
    grouped = [_chart(app) for app in apps]
    learnt = analysis.REFUSED | analysis.DOUBTFUL | analysis.MASKED | analysis.EMPTIED_ALONE
    assert learnt, "something was learnt"
    for app, chart in zip(apps, grouped, strict=True):
        assert chart == _alone(app, monkeypatch), app.name


def test_a_full_featured_instance_costs_a_few_builds_not_one_per_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_app(_write(tmp_path, [distinct(i) for i in range(10)]))
    rendered = render_app(app, DEFAULT_KUBERNETES_VERSION)
    builds = _recorded(monkeypatch, probe, "manifests")
    chart = build_chart(rendered, "app.yaml")
    grouped = len(builds)
    assert sum(len(a.params) for a in chart.analyses) >= 10 * 35, "every instance offers values"
    builds.clear()
    monkeypatch.setattr(analysis, "_groups", lambda candidates: [])
    build_chart(rendered, "app.yaml")
    alone = len(builds)
    assert alone >= 10 * 35, "alone, every value costs a build"
    assert grouped * 3 <= alone, f"{grouped} builds grouped, {alone} alone"
    assert grouped <= 10 * 2, f"{grouped} builds: one for the values, one for the emptied ones"


def _probe(key: str, value: Any, default_text: str, **fields: Any) -> Probe:
    settings: dict[str, Any] = {
        "changes": (((key,), value),),
        "shape": Shape.SCALAR,
        "expr": f"$.Values.{key}",
        "embeddable": True,
        "sentinel": str(value),
        "default_text": default_text,
        "default": default_text,
        "integer": isinstance(value, int),
    }
    settings.update(fields)
    return Probe(key=key, value=value, **settings)


def _config(url: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    data = {"URL": url, **(extra or {})}
    return [{"kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}]


def _never(index: int, pointer: Any) -> Any:
    return probe.NOT_EMPTIED


def test_two_values_spliced_into_one_string_are_told_apart() -> None:
    host, port = _probe("host", "zqhost", "web"), _probe("port", 31337, "3100")
    default = _config("http://web:3100/")
    probed = _config("http://zqhost:31337/")
    found = explain_group([host, port], default, probed, lambda p: _never)
    assert found is not None
    assert set(found) == {"host", "port"}
    assert found["host"].spans == {(0, ("data", "URL")): [(7, 10, "{{ $.Values.host }}")]}
    assert found["port"].spans == {(0, ("data", "URL")): [(11, 15, "{{ $.Values.port | int64 }}")]}


def test_a_change_no_value_explains_makes_the_render_tell_nothing() -> None:
    host = _probe("host", "zqhost", "web")
    default = _config("http://web/", {"other": "a"})
    assert (
        explain_group([host], default, _config("http://zqhost/", {"other": "b"}), lambda p: _never)
        is None
    )
    removed = [{"kind": "Secret", "metadata": {"name": "c"}}]
    assert explain_group([host], default, removed, lambda p: _never) is None


def test_a_value_that_lands_where_it_cannot_be_told_goes_alone() -> None:
    """A non-embeddable value found inside a longer string is not placed by the group (probed
    alone, it is left out with its reason); the other value of the group still is."""
    host = _probe("host", "zqhost", "web")
    mode = _probe("mode", "zqmode", "fast", embeddable=False)
    default = _config("http://web/", {"MODE": "fast-lane"})
    probed = _config("http://zqhost/", {"MODE": "zqmode-lane"})
    found = explain_group([host, mode], default, probed, lambda p: _never)
    assert found is not None
    assert set(found) == {"host"}  # "mode" is left to be probed alone


def test_a_candidate_made_again_is_not_answered_by_its_grouped_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent image placed in a group with the image composite as its default is probed
    again, alone, when the composite is not offered: its expression differs."""
    grouped = _probe("agents.templates.x.image", "zqimg", "")
    placed = analysis.Placed([], analysis.Renders({}, []))
    placed.found, placed.grouped = {grouped.key: probe.Found()}, {grouped.key: grouped}
    monkeypatch.setattr(analysis, "_alone", lambda candidate, renders: (None, "alone"))
    assert placed(analysis.Candidate(grouped.key, [grouped])) == (placed.found[grouped.key], "")
    again = analysis.Candidate(grouped.key, [_probe(grouped.key, "zqimg", "", expr="other")])
    assert placed(again) == (None, "alone")


def test_groups_keep_values_whose_marks_could_be_confused_apart() -> None:
    first = analysis.Candidate("a", [_probe("a", "zqcls", "x")])
    inner = analysis.Candidate("b", [_probe("b", "zqcls-db", "y")])
    near = analysis.Candidate("c", [_probe("c", 3, "2", embeddable=False)])
    nearer = analysis.Candidate("d", [_probe("d", 4, "2", embeddable=False)])
    groups = analysis._groups([first, inner, near, nearer])
    assert [[p.key for p in g] for g in groups] == [["a", "c"], ["b", "d"]]


def _groups_of(instance_docs: list[dict[str, Any]], tmp_path: Path) -> list[list[list[str]]]:
    """The groups of each instance's analysis (its value keys), in the order analysed."""
    seen: list[list[list[str]]] = []
    original = analysis._groups

    def recorded(candidates: Any) -> list[list[Probe]]:
        groups = original(candidates)
        seen.append([[p.key for p in group] for group in groups])
        return groups

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(analysis, "_groups", recorded)
        _chart(_write(tmp_path, instance_docs))
    return seen


def test_a_replica_count_whose_probe_is_a_digit_of_the_name_is_offered(tmp_path: Path) -> None:
    """team-0003's replica probes are 3: the 3 in its name is not a renamed object (only a
    value that may be spliced into strings can be in a name), so its replica counts are
    offered, the server's placed in the first group with the other values."""
    replicas = {"autoScaling.minReplicas", "autoScaling.maxReplicas", "launcher.replicas"}
    (first,) = _groups_of([distinct(3)], tmp_path)
    assert {"autoScaling.minReplicas", "autoScaling.maxReplicas"} <= set(first[0])
    app = load_app(_write(tmp_path, [distinct(3)]))
    chart = build_chart(render_app(app, DEFAULT_KUBERNETES_VERSION), "app.yaml")
    assert replicas <= {p.key for p in chart.analyses[0].params}


def test_a_value_spliced_into_strings_is_offered_when_its_probe_is_in_the_name(
    tmp_path: Path,
) -> None:
    """team-4321 holds backup.keepLast's probe (4321): the name is the default's as it is,
    so the object is the same one and the value is offered."""
    app = load_app(_write(tmp_path, [distinct(4321)]))
    chart = build_chart(render_app(app, DEFAULT_KUBERNETES_VERSION), "app.yaml")
    assert "backup.keepLast" in {p.key for p in chart.analyses[0].params}


def _disabled_ingress_with_a_class() -> dict[str, Any]:
    doc = scenario_document(sorted(SCENARIOS)[0])
    doc["spec"]["networking"] = {
        "ingress": {"enabled": False, "ingressClassName": "nginx", "hosts": ["pc.example.com"]}
    }
    return doc


def test_a_disabled_ingress_offers_no_ingress_value(tmp_path: Path) -> None:
    """ingress.className of a disabled Ingress would set nothing: it is not a value."""
    app = load_app(_write(tmp_path, [_disabled_ingress_with_a_class()]))
    (found,) = build_chart(render_app(app, DEFAULT_KUBERNETES_VERSION), "app.yaml").analyses
    assert not [p.key for p in found.params if p.key.startswith("ingress.")]


def test_a_value_that_changes_no_object_is_left_out_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a registry predicate says, a value whose probe changes nothing is not offered
    (its comment would promise what it does not do); the chart's README says why."""
    everywhere = [
        replace(p, applies=lambda _: True) if p.key == "ingress.className" else p
        for p in registry.PARAMS
    ]
    monkeypatch.setattr(registry, "PARAMS", tuple(everywhere))
    app = load_app(_write(tmp_path, [_disabled_ingress_with_a_class()]))
    (found,) = build_chart(render_app(app, DEFAULT_KUBERNETES_VERSION), "app.yaml").analyses
    assert "ingress.className" not in {p.key for p in found.params}
    reasons = {u.key: u.reason for u in found.left_out}
    assert reasons["ingress.className"] == "it changes nothing in this instance's objects"


def test_a_value_a_group_could_not_place_leaves_the_first_group_of_later_instances(
    tmp_path: Path,
) -> None:
    """Without a publicURL the generator fills in the in-cluster URL, which holds the
    service port; the publicURL value replaces it whole in the first group, so the port could
    land there unseen: placed alone in the first instance, it is in a later group from then
    on."""
    docs = []
    for name in ("one", "two"):
        doc = scenario_document("auth-admin-bootstrap")
        doc["metadata"].update(name=name, namespace=f"{name}-ns")
        docs.append(doc)
    first, second = _groups_of(docs, tmp_path)
    assert {"service.port", "publicURL"} <= set(first[0])
    assert ("service.port", "31337") in analysis.MASKED
    assert "service.port" not in second[0]
    assert any("service.port" in group for group in second[1:])


def test_a_leaf_that_was_the_value_itself_masks_no_other_value() -> None:
    """A value replaced a leaf that held exactly its own default (a bucket named after the
    instance): another value whose default text is in it is still placed by the group. Where
    the leaf held what the generator filled in, the other value is left to be probed alone."""
    bucket = _probe("bucket", "zqbucket", "team-a-backups", embeddable=False)
    prefix = _probe("prefix", "zqprefix", "team-a")
    default = _config("http://x/", {"BUCKET": "team-a-backups", "PREFIX": "team-a"})
    probed = _config("http://x/", {"BUCKET": "zqbucket", "PREFIX": "zqprefix"})
    found = explain_group([bucket, prefix], default, probed, lambda p: _never)
    assert found is not None
    assert set(found) == {"bucket", "prefix"}
    generated = _probe("bucket", "zqbucket", "", default="", embeddable=False)
    found = explain_group([generated, prefix], default, probed, lambda p: _never)
    assert found is not None
    assert set(found) == {"bucket"}  # "prefix" is left to be probed alone


def test_a_group_the_rules_refuse_is_built_once_without_the_refused_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing learnt yet: the Ingress class probe is refused with the others (a rule), found
    by plans alone, and the rest of the first group still costs one build."""
    calls = _recorded(monkeypatch, analysis, "explain_group")
    (groups,) = _groups_of([distinct(0)], tmp_path)
    read = [len(args[0]) for args, _ in calls]  # the probes of each render read
    assert "ingress.className" in groups[0]
    assert ("ingress.className", "'zqhelm-class'") in analysis.REFUSED
    assert read[0] == len(groups[0]) - 1, (read, groups)  # the first group, once, without it
    assert len(read) <= len(groups), (read, groups)


def test_the_accepted_probes_are_found_with_plans_quoted_ones_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probes = [_probe(key, f"zqhelm-{key}", "x") for key in "abcdefg"]
    refused = {"c", "f"}
    plans: list[int] = []

    def plan(doc: dict[str, Any], base: Any = None) -> tuple[Any, str]:
        plans.append(1)
        bad = sorted(refused & set(doc["spec"]))
        return (None, f"the value 'zqhelm-{bad[0]}' is refused") if bad else (object(), "")

    monkeypatch.setattr(analysis, "probe_plan", plan)
    why = "the value 'zqhelm-c' is refused"  # the refusal of all of them, known already
    renders = analysis.Renders({"spec": {}}, [])
    assert [p.key for p in analysis._accepted(probes[:3], renders, why)] == ["a", "b"]
    assert len(plans) == 1  # only all but the quoted one
    plans.clear()
    kept = analysis._accepted(probes, renders, why)  # quotes only "c": then halved
    assert [p.key for p in kept] == ["a", "b", "d", "e", "g"]
    assert len(plans) > 2


def test_values_the_rules_refuse_to_empty_leave_the_emptied_group_in_the_first_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server resources cannot be emptied beside a CPU autoscaler (a rule): found with
    plans, so the other optional values are still emptied in one render."""
    calls = _recorded(monkeypatch, analysis.Renders, "emptied_render")
    _groups_of([distinct(0)], tmp_path)
    emptied = [
        tuple(p.key for p in probes) for (_, probes), (objects, _) in calls if objects is not None
    ]
    built = list(dict.fromkeys(emptied))  # each render once (the renders are remembered)
    assert "resources" in analysis.EMPTIED_ALONE
    assert any(len(keys) > 1 for keys in built), "the others were emptied together"
    assert len(built) <= 2, built


def _placed_by_fakes(
    monkeypatch: pytest.MonkeyPatch, refuses: Any, keys: str
) -> dict[str, probe.Found | None]:
    """What _together places when the rules refuse what ``refuses`` says (a set of spec
    keys), every build is empty and every render can be read."""

    def plan(doc: dict[str, Any], base: Any = None) -> tuple[Any, str]:
        return (None, "refused") if refuses(set(doc["spec"])) else (object(), "")

    monkeypatch.setattr(analysis, "probe_plan", plan)
    monkeypatch.setattr(
        analysis,
        "probe_render",
        lambda doc, base=None: ([], "") if plan(doc)[0] else (None, "refused"),
    )
    monkeypatch.setattr(
        analysis, "explain_group", lambda probes, *rest: {p.key: probe.Found() for p in probes}
    )
    out: dict[str, probe.Found | None] = {}
    probes = [_probe(key, f"zq{key}", "x") for key in keys]
    analysis._together(probes, analysis.Renders({"spec": {}}, []), lambda p: _never, out)
    return out


def test_a_group_refused_only_as_a_whole_is_split_and_each_half_placed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _placed_by_fakes(monkeypatch, lambda spec: {"a", "d"} <= spec, "abcd")
    assert sorted(out) == ["a", "b", "c", "d"]


def test_a_group_whose_every_value_is_refused_places_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _placed_by_fakes(monkeypatch, bool, "abcd") == {}


def test_a_minimum_is_refused_by_the_model_or_the_rules_without_a_plan() -> None:
    """A minimum the rules (minReplicas above maxReplicas) or the model (a port of 0, a word
    for a number) refuse is refused before any feature plans it; the instance is unchanged."""
    instance = parse_instance(distinct(0))  # minReplicas 2, maxReplicas 6
    doc = probe.document(instance)
    max_replicas = ("availability", "autoScaling", "maxReplicas")
    assert probe.refused_by_rules(instance, doc, max_replicas, 1)
    assert not probe.refused_by_rules(instance, doc, max_replicas, 4)
    scaling = instance.spec.availability.auto_scaling
    assert scaling is not None and scaling.max_replicas == 6, "the instance is unchanged"
    assert probe.refused_by_rules(instance, doc, ("networking", "service", "port"), 0)
    assert not probe.refused_by_rules(instance, doc, ("podAnnotations", "x"), "y")
    min_replicas = ("availability", "autoScaling", "minReplicas")
    assert probe.refused_by_rules(instance, doc, min_replicas, "x")


def test_a_probe_validates_only_the_sections_it_changes() -> None:
    """A probe's document shares what it does not change with its instance's document; those
    sections are the instance's own models (not validated again), and the result is the
    instance the whole document validates to, refusals included."""
    instance = parse_instance(distinct(0))
    doc = probe.document(instance)
    base = probe.Base(doc, instance)
    changed = probe.with_value(doc, ("backup", "retentionDays"), 9)
    reused, why = probe._ruled(changed, base)
    assert reused is not None and why == ""
    assert reused == probe._ruled(changed)[0]
    assert reused.spec.availability is instance.spec.availability, "shared, taken as it is"
    backup = reused.spec.backup
    assert backup is not None and backup is not instance.spec.backup
    assert backup.retention_days == 9
    refused = probe.with_value(doc, ("availability", "autoScaling", "maxReplicas"), 1)
    assert probe._ruled(refused, base) == probe._ruled(refused)
    assert probe._ruled(refused, base)[1] != ""


def _built(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> list[KubeObject]:
    """The objects built from ``doc`` with ``path`` set to ``value``."""
    return instance_objects(plan(Instance.model_validate(probe.with_value(doc, path, value))))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_switch_adds_exactly_the_objects_that_carry_it(scenario: str) -> None:
    """The chart wraps the objects added with ``only_if=NETWORK_POLICY`` in ``{{- if }}``
    without rendering the instance switched off: switching it off must remove exactly those
    objects and change nothing in the others, in every feature scenario."""
    doc = scenario_document(scenario)
    on, off = (_built(doc, NETWORK_POLICY.path, value) for value in (True, False))
    assert {o.switch for o in on} == {(), NETWORK_POLICY.path}, "the scenario's policies carry it"
    assert all(o.switch == () for o in off)
    assert [o.to_json() for o in off] == [o.to_json() for o in on if not o.switch]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_instance_labels_land_only_in_every_object_labels_under_the_generated_ones(
    scenario: str,
) -> None:
    """The chart places commonLabels from the build, without a probe: the Instance's labels
    must change nothing but each object's metadata.labels, where the keys the generator sets
    (``KubeObject.own_labels``) win, in every feature scenario."""
    doc = scenario_document(scenario)
    labels = {"team": "zqteam", "app.kubernetes.io/name": "zqclash"}
    path = ("@metadata", "labels")
    for plain, labelled in zip(_built(doc, path, {}), _built(doc, path, labels), strict=True):
        assert plain.own_labels == labelled.own_labels
        assert labelled.labels == {**labels, **{k: plain.labels[k] for k in plain.own_labels}}
        assert set(plain.labels) == set(plain.own_labels)
        assert probe.walk_diff(plain.to_json(), labelled.to_json()) == [
            (("metadata", "labels", "team"), MISSING, "zqteam")
        ]
