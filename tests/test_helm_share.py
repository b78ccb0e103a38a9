"""Instances that differ only by name share one probed analysis (render/helm/share.py).

The chart made with sharing must be byte for byte the chart made by probing every instance,
and the real ``helm template`` of it must render exactly the Kustomize tree; a carry-over
that cannot be shown sound (the name also occurs in other text, a value lands inside the
name) falls back to probing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.constructs.names import CONFIG_HASH_ANNOTATION
from constructs_lib.render.atomic import write_trees
from constructs_lib.render.helm import chart as chart_module
from constructs_lib.render.helm.share import (
    Part,
    Probed,
    _equal_renamed,
    _moved_spans,
    _Refs,
    _renamable,
    _same_text_renamed,
    _text_safe,
    carry_over,
    move_sites,
)
from constructs_lib.render.helm.sites import (
    Hash,
    Spans,
    Whole,
    values_ref,
)
from constructs_lib.render.pipeline import synthesize
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from tests.conftest import REPO
from tests.test_helm import assert_same, helm_objects, kustomize_objects, run

FULL = REPO / "tests" / "bench" / "full_features.yaml"
# Nine instances: enough for the synthesis helper process, where the sites of "zq" are carried
# over to the others (names longer and shorter, so every site inside a string moves). No
# digits: a name holding a probe value (e.g. "c-33" and a replicas probe of 3) makes probing
# that instance alone leave the value out, where the carried-over analysis offers it.
FLEET = (
    "zq",
    "paperclip",
    "paperclip-zzz",
    "team-with-a-longer-name",
    "a",
    "b-bb",
    "c-ccc",
    "d-dddd",
    "e-eeeee",
)
# "paperclip" also occurs in image names and labels, so nothing can be carried over from it:
# as the first instance, every other falls back to the main process, which probes "zq" and
# carries that over.
AWKWARD = ("paperclip", "zq", "paperclip-zzz", "team-with-a-longer-name")


def _app(tmp_path: Path, names: tuple[str, ...]) -> Path:
    source = yaml.safe_load(FULL.read_text())
    documents = []
    for name in names:
        doc = copy.deepcopy(source)
        doc["metadata"]["name"] = name
        documents.append(doc)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the carry-overs of the main process (the fallback path)."""
    counts = {"carried": 0, "refused": 0}

    def counted(*args: Any, **kwargs: Any) -> Any:
        moved = carry_over(*args, **kwargs)
        counts["carried" if moved is not None else "refused"] += 1
        return moved

    monkeypatch.setattr(chart_module, "carry_over", counted)
    return counts


def _probing_every_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_module, "plan_jobs", lambda app, objects_of: None)
    monkeypatch.setattr(chart_module, "carry_over", lambda *args, **kwargs: None)


def _assert_same_trees(shared: dict[str, str], probed: dict[str, str]) -> None:
    assert sorted(shared) == sorted(probed)
    different = [name for name in probed if shared[name] != probed[name]]
    assert not different, f"sharing changed {different}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _app(tmp_path_factory.mktemp("fleet"), FLEET)


def test_shared_chart_is_the_probed_chart(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = _counting(monkeypatch)
    result = synthesize([fleet], DEFAULT_KUBERNETES_VERSION)
    _, parts = result.rendered[0].parts["helm"]
    assert len(parts) == len(FLEET)
    assert all(isinstance(part, Part) for part in parts), "the helper carried every one over"
    assert counts == {"carried": 0, "refused": 0}
    _probing_every_instance(monkeypatch)
    probed = synthesize([fleet], DEFAULT_KUBERNETES_VERSION)
    assert "helm" not in probed.rendered[0].parts
    _assert_same_trees(result.trees["fleet"], probed.trees["fleet"])


def test_awkward_first_name_falls_back_to_the_main_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, AWKWARD)
    counts = _counting(monkeypatch)
    result = synthesize([app], DEFAULT_KUBERNETES_VERSION)
    _, parts = result.rendered[0].parts["helm"]
    # only "paperclip" itself was moved by the job; the main process then tried "paperclip"
    # for the other three, probed "zq" and carried it over to the last two
    assert [isinstance(part, Part) for part in parts] == [True, False, False, False]
    assert counts == {"carried": 2, "refused": 3}
    _probing_every_instance(monkeypatch)
    probed = synthesize([app], DEFAULT_KUBERNETES_VERSION)
    _assert_same_trees(result.trees["fleet"], probed.trees["fleet"])


def test_shared_chart_renders_the_kustomize_tree(
    fleet: Path, helm: str, kubectl: str, tmp_path: Path
) -> None:
    result = synthesize([fleet], DEFAULT_KUBERNETES_VERSION)
    write_trees(tmp_path / "out", result.trees, prune=False)
    chart = tmp_path / "out" / "fleet" / "helm"
    run(helm, "lint", "--strict", str(chart))
    expected = kustomize_objects(kubectl, tmp_path / "out" / "fleet" / "kustomize")
    assert_same(expected, helm_objects(helm, chart, "bench", None, tmp_path))
    # a value of a carried-over instance reaches only that instance's objects
    changed = helm_objects(
        helm, chart, "bench", {"team-with-a-longer-name": {"image": {"tag": "9.9.9"}}}, tmp_path
    )
    images = {
        key[3]: obj["spec"]["template"]["spec"]["containers"][0]["image"]
        for key, obj in changed.items()
        if key[1] == "Deployment" and key[3] in FLEET
    }
    assert images["team-with-a-longer-name"].endswith(":9.9.9")
    others = [image for name, image in images.items() if name != "team-with-a-longer-name"]
    assert len(others) == len(FLEET) - 1
    assert all(image.endswith(":2026.1106.0") for image in others)


def test_a_name_derived_difference_is_not_carried_over(tmp_path: Path) -> None:
    app = _app(tmp_path, ("alpha", "beta"))
    rendered = synthesize([app], DEFAULT_KUBERNETES_VERSION).rendered[0]
    first = chart_module.analyse_app(rendered)[0].analysis
    probed = Probed.of(first)
    objects = copy.deepcopy(rendered.per_instance[1])
    objects[0]["metadata"]["labels"]["extra"] = "only-here"
    assert move_sites(probed, "beta", objects, ("beta",), str) is None
    assert move_sites(probed, "beta", rendered.per_instance[1], ("beta",), str) is not None


def test_spans_move_with_the_name_length() -> None:
    text = "http://pc.ns.svc:3100/pc"
    parts = ((13, 16, "{{ A }}"), (17, 21, "{{ B }}"))  # "svc" and "3100"
    moved = _moved_spans(text, parts, "pc", "team-b")
    renamed = text.replace("pc", "team-b")
    assert [renamed[s:e] for s, e, _ in moved.parts] == ["svc", "3100"]
    assert [a for _, _, a in moved.parts] == ["{{ A }}", "{{ B }}"]
    with pytest.raises(LookupError):
        _moved_spans(text, ((7, 9, "{{ C }}"),), "pc", "team-b")  # a value inside the name


@pytest.mark.parametrize(
    ("old", "new"), [("team_a", "team-b"), ("team-a", "team_b"), ("a1", "bb"), ("x-y", "z-w")]
)
def test_values_references_move_to_the_other_prefix(old: str, new: str) -> None:
    paths = [("image", "tag"), ("agents", "templates", "my-agent", "image"), ("replicas",)]
    refs = _Refs((old,), (new,))
    for path in paths:
        text = f"{{{{ {values_ref((old,), path)} | toJson }}}} and {values_ref((old,), path)}"
        assert refs(text) == text.replace(values_ref((old,), path), values_ref((new,), path))
    # a longer key that merely starts with the name is another key, left alone
    other = "$.Values." + old + "x.image"
    assert refs(other) == other


def test_text_comparison_only_where_it_is_sound() -> None:
    assert _text_safe("paperclip-000")
    assert not _text_safe("1-2")  # could match inside a number
    assert not _text_safe("ru")  # inside true
    assert not _text_safe("Team")  # not a DNS label
    # a match inside an escape sequence is not trusted: the caller compares leaf by leaf
    for value, old in (("a\n-x", "n-x"), ("\u00e9x", "e9x")):
        text = json.dumps({"s": value}, separators=(",", ":"))
        assert old in text and old not in value
        assert _renamable(text, old) == ""
        assert _equal_renamed({"s": value}, {"s": value}, old, "qq")
    # a name right after an escaped quote is outside the escape
    text = json.dumps({"s": 'up{pod="pc-1"}'}, separators=(",", ":"))
    assert _renamable(text, "pc") == text
    assert _same_text_renamed(text, {"s": 'up{pod="qq-1"}'}, "pc", "qq")
    assert _same_text_renamed('{"name":"pc","n":1}', {"name": "qq", "n": 1}, "pc", "qq")
    assert not _same_text_renamed('{"name":"pc","n":1}', {"name": "qq", "n": 2}, "pc", "qq")
    # config-hash values are recomputed, not compared
    hashed = {"annotations": {CONFIG_HASH_ANNOTATION: "a" * 64}, "name": "pc"}
    other = {"annotations": {CONFIG_HASH_ANNOTATION: "b" * 64}, "name": "qq"}
    text = json.dumps(hashed, separators=(",", ":"))
    assert _same_text_renamed(text, other, "pc", "qq")


def test_site_types_survive_the_move(tmp_path: Path) -> None:
    app = _app(tmp_path, ("one", "three"))
    rendered = synthesize([app], DEFAULT_KUBERNETES_VERSION).rendered[0]
    [first, second] = [a.analysis for a in chart_module.analyse_app(rendered)]
    kinds = {type(site) for sites in second.sites.values() for site in sites.values()}
    assert {Whole, Spans, Hash} <= kinds
    assert second.params == first.params
    exprs = [
        s.expr for sites in second.sites.values() for s in sites.values() if isinstance(s, Whole)
    ]
    assert exprs and not any("$.Values.one." in e for e in exprs)
    assert any("$.Values.three." in e for e in exprs)
