"""The Helm chart beside the Kustomize tree, checked with the real helm and kubectl.

* ``helm lint --strict`` of every chart;
* equivalence: ``helm template`` with default values == ``kubectl kustomize`` of the tree (of
  every app and every feature scenario), and for a set of overrides (some change the object
  count, one sets every value of the full-featured instance) == the Kustomize tree synthesized
  from the spec with the same change;
* the values schema refuses bad values in ``helm template`` and ``helm lint``; it is valid
  draft-07; registry, values.yaml and schema keys agree;
* snapshots of the values.yaml and one template per feature.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from constructs_lib.constructs.kube import NETWORK_POLICY
from constructs_lib.errors import UserError
from constructs_lib.render.atomic import write_trees
from constructs_lib.render.helm.chart import _nest, build_chart
from constructs_lib.render.helm.probe import document, spec_value, with_value
from constructs_lib.render.helm.registry import PARAMS, Param, params_for
from constructs_lib.render.helm.sites import MISSING, get
from constructs_lib.render.kustomize import KustomizeWriter
from constructs_lib.render.pipeline import synthesize
from constructs_lib.spec import Instance
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from constructs_lib.spec.loader import load_app
from tests.bench.distinct_bench import distinct
from tests.conftest import MINIMAL, REPO, merge, trusted_document
from tests.test_snapshots import SCENARIOS, scenario_document

APPS = {
    "quickstart": "paperclip",
    "production": "paperclip-prod",
    "production-full": "paperclip-full",
}
VERSION = DEFAULT_KUBERNETES_VERSION
SEMVER = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-((0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?"
)
"""SemVer 2.0.0 (semver.org's grammar): no leading zero in a numeric identifier."""

Key = tuple[str, str, str, str]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every app of apps/, synthesized with every writer into a private directory."""
    out = tmp_path_factory.mktemp("dist")
    result = synthesize(
        [
            REPO / "apps" / "quickstart.py",
            REPO / "apps" / "production.yaml",
            REPO / "apps" / "production-full.yaml",
        ],
        VERSION,
    )
    write_trees(out, result.trees, prune=False)
    return out


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def keyed(text: str) -> dict[Key, dict[str, Any]]:
    out = {}
    for obj in yaml.safe_load_all(text):
        if obj:
            meta = obj["metadata"]
            key = (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
            assert key not in out, f"{key} rendered twice"
            out[key] = obj
    return out


def helm_objects(
    helm: str, chart: Path, namespace: str, values: dict[str, Any] | None, tmp: Path
) -> dict[Key, dict[str, Any]]:
    args = [helm, "template", "release", str(chart), "-n", namespace]
    if values is not None:
        override = tmp / "override.yaml"
        override.write_text(yaml.safe_dump(values))
        args += ["-f", str(override)]
    return keyed(run(*args).stdout)


def kustomize_objects(kubectl: str, tree: Path) -> dict[Key, dict[str, Any]]:
    return keyed(run(kubectl, "kustomize", str(tree)).stdout)


def assert_same(expected: dict[Key, Any], actual: dict[Key, Any]) -> None:
    assert sorted(actual) == sorted(expected)
    for key in expected:
        if actual[key] != expected[key]:
            want = json.dumps(expected[key], indent=1, sort_keys=True).splitlines()
            have = json.dumps(actual[key], indent=1, sort_keys=True).splitlines()
            diff = "\n".join(difflib.unified_diff(want, have, "kustomize", "helm", lineterm=""))
            raise AssertionError(f"{key} differs:\n{diff}")


def test_helm_lint_strict(helm: str, synthesized: Path) -> None:
    for app in APPS:
        done = run(helm, "lint", "--strict", str(synthesized / app / "helm"))
        assert "0 chart(s) failed" in done.stdout, done.stdout


@pytest.mark.parametrize("app", sorted(APPS))
def test_default_render_equals_kustomize(
    app: str, helm: str, kubectl: str, synthesized: Path, tmp_path: Path
) -> None:
    expected = kustomize_objects(kubectl, synthesized / app / "kustomize")
    actual = helm_objects(helm, synthesized / app / "helm", APPS[app], None, tmp_path)
    assert len(expected) >= 5
    assert_same(expected, actual)


REFUSED_SCENARIOS = {"server-without-persistence-or-policy"}
"""Scenarios the rules refuse at synth (the snapshot shows the build; synth says why)."""


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_feature_scenario_renders_its_kustomize_tree_by_default(
    scenario: str, helm: str, kubectl: str, tmp_path: Path
) -> None:
    """The chart of each feature scenario (tests/test_snapshots.py), with its default values,
    is the scenario's Kustomize tree: no value's default in values.yaml differs from what the
    objects hold."""
    doc = scenario_document(scenario)
    if scenario in REFUSED_SCENARIOS:
        with pytest.raises(UserError):
            _synthesized_instance(doc, tmp_path)
        return
    tree = _synthesized_instance(doc, tmp_path)
    _assert_renders(helm, kubectl, tree, None, tree)


SWITCHED_SCENARIOS = sorted(
    name
    for name in set(SCENARIOS) - REFUSED_SCENARIOS
    if spec_value(scenario_document(name), NETWORK_POLICY.path)
)


@pytest.mark.parametrize("scenario", SWITCHED_SCENARIOS)
def test_every_feature_scenario_switches_its_network_policies_off_as_synth_does(
    scenario: str, helm: str, kubectl: str, tmp_path: Path
) -> None:
    """networkPolicy.enabled=false renders what synth makes of the instance with the policies
    off (the chart knows which objects the switch adds from the build, without rendering the
    instance switched off)."""
    doc = scenario_document(scenario)
    chart = _synthesized_instance(doc, tmp_path / "on")
    assert yaml.safe_load((chart / "helm" / "values.yaml").read_text())["networkPolicy"] == {
        "enabled": True
    }
    off = _synthesized_instance(with_value(doc, NETWORK_POLICY.path, False), tmp_path / "off")
    _assert_renders(helm, kubectl, chart, {"networkPolicy": {"enabled": False}}, off)


def test_an_agent_template_image_emptied_runs_the_server_image_as_synth_does(
    helm: str, kubectl: str, tmp_path: Path
) -> None:
    """The values comment of every agent template image promises '"" for the server image':
    a template with an image of its own, emptied, rendered "image": "" in the launcher's
    templates ConfigMap where synth of the spec without the image writes the server image."""
    doc = scenario_document("agents-custom-templates")
    chart = _synthesized_instance(doc, tmp_path / "set")
    unset = copy.deepcopy(doc)
    del unset["spec"]["agents"]["templates"]["ci"]["image"]
    expected = _synthesized_instance(unset, tmp_path / "unset")
    values = {"agents": {"templates": {"ci": {"image": ""}}}}
    _assert_renders(helm, kubectl, chart, values, expected)


def test_templates_never_generate_secrets(synthesized: Path) -> None:
    for template in sorted(synthesized.glob("*/helm/templates/*")):
        text = template.read_text()
        for forbidden in ("lookup", "randAlpha", "randAscii", "randBytes", "genPrivateKey"):
            assert forbidden not in text, f"{template.name} uses {forbidden}"
        assert "kind: Secret\n" not in text


OVERRIDES: list[tuple[str, str, dict[str, Any], str]] = [
    ("quickstart", "image-tag", {"image": {"tag": "2026.1201.0"}}, ""),
    (
        "quickstart",
        "image-digest",
        {"image": {"digest": "sha256:" + "ab" * 32, "pullPolicy": "Always"}},
        "",
    ),
    ("quickstart", "service", {"service": {"port": 8080, "type": "NodePort"}}, ""),
    (
        "quickstart",
        "scheduling-blocks",
        {
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
            "nodeSelector": {"pool": "agents"},
            "tolerations": [{"key": "x", "operator": "Exists"}],
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {
                                "matchExpressions": [{"key": "zone", "operator": "Exists"}]
                            },
                        }
                    ]
                }
            },
            "image": {"pullSecrets": [{"name": "regcred"}]},
        },
        "",
    ),
    (
        "quickstart",
        "annotations-and-hostnames",
        {
            "podAnnotations": {"example.com/team": "a", "prometheus.io/port": "9999"},
            "service": {"annotations": {"example.com/lb": "internal"}},
            "allowedHostnames": ["paperclip.example.com", "pc.internal"],
            "publicURL": "http://paperclip.example.com",
            "logLevel": "debug",
        },
        "",
    ),
    ("quickstart", "network-policy-off", {"networkPolicy": {"enabled": False}}, ""),
    ("quickstart", "common-labels", {"commonLabels": {"team": "platform", "cost": "ai"}}, ""),
    (
        "quickstart",
        "storage",
        {
            "persistence": {
                "size": "20Gi",
                "storageClass": "fast",
                "accessModes": ["ReadWriteOncePod"],
            },
            "agents": {"workspace": {"size": "50Gi", "storageClass": "nfs"}},
        },
        "",
    ),
    (
        "quickstart",
        "launcher-and-agents",
        {
            "launcher": {"image": "registry.example/launcher:0.2.0", "replicas": 2},
            "agents": {"templates": {"opencode": {"image": "registry.example/agent:1"}}},
        },
        "",
    ),
    ("quickstart", "namespace", {}, "team-b"),
    (
        "production",
        "replicas-secrets",
        {
            "replicas": 4,
            "secretRefs": {"auth": "auth-2", "masterKey": "mk-2"},
            # maps merge into the defaults (null deletes a key); lists are replaced
            "nodeSelector": {"node.example.com/pool": None},
            "tolerations": [],
            "podAnnotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": None},
            "publicURL": "",
        },
        "",
    ),
    (
        "production",
        "data-tier",
        {
            "database": {
                "storageSize": "80Gi",
                "storageClass": "",
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
            },
            "backup": {
                "schedule": "@daily",
                "retentionDays": 14,
                "keepLast": 5,
                "bucket": "other-backups",
                "prefix": "team/paperclip",
            },
            "secretRefs": {"backup": "backup-creds-2"},
        },
        "",
    ),
    (
        "production-full",
        "ingress-host-and-tls",
        {"ingress": {"host": "pc.other.example", "tlsSecret": "other-tls"}},
        "",
    ),
    (
        "production-full",
        "autoscaler-bounds",
        {"autoScaling": {"minReplicas": 3, "maxReplicas": 9}},
        "",
    ),
    (
        "production",
        "network-policy-off-and-image",
        {"networkPolicy": {"enabled": False}, "image": {"repository": "registry.example/pc"}},
        "",
    ),
]


@pytest.mark.parametrize(
    ("app", "values", "namespace"),
    [pytest.param(a, v, n, id=f"{a}-{i}") for a, i, v, n in OVERRIDES],
)
def test_override_equals_kustomize_of_the_same_change(
    app: str,
    values: dict[str, Any],
    namespace: str,
    helm: str,
    kubectl: str,
    synthesized: Path,
    tmp_path: Path,
) -> None:
    loaded = load_app(REPO / "apps" / f"{app}.{'py' if app == 'quickstart' else 'yaml'}")
    [instance] = loaded.instances
    defaults = yaml.safe_load((synthesized / app / "helm" / "values.yaml").read_text())
    effective = coalesce(defaults, values)
    doc = document_with_values(instance, params_for(instance), effective)
    if namespace:
        doc["metadata"]["namespace"] = namespace
    changed = tmp_path / f"{app}.yaml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = synthesize([changed], VERSION, writers=(KustomizeWriter(),))
    write_trees(tmp_path / "out", result.trees, prune=False)
    expected = kustomize_objects(kubectl, tmp_path / "out" / app / "kustomize")
    default = kustomize_objects(kubectl, synthesized / app / "kustomize")
    assert expected != default, "the override must change the output"
    actual = helm_objects(
        helm, synthesized / app / "helm", namespace or APPS[app], values, tmp_path
    )
    assert_same(expected, actual)


def coalesce(defaults: Any, override: Any) -> Any:
    """Helm's merge of user values over the chart's: maps merge key by key (null deletes a
    key), everything else is replaced."""
    if not isinstance(defaults, dict) or not isinstance(override, dict):
        return override
    merged = dict(defaults)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = coalesce(defaults.get(key), value)
    return merged


def document_with_values(
    instance: Instance, params: list[Param], values: dict[str, Any]
) -> dict[str, Any]:
    """The Instance document with chart values applied to the spec fields they stand for:
    what the Kustomize tree of the same change is synthesized from ("" / {} / [] of an
    optional key mean unset: the spec's default)."""
    doc = document(instance)
    for param in params:
        value = get(values, param.path)
        if value is not MISSING:
            unset = param.optional and value in ("", {}, [])
            doc = with_value(doc, param.spec, None if unset else value)
    return doc


def _emptied_values(app: str, synthesized: Path) -> dict[str, Any]:
    """Every string and list value of ``app``'s chart that is not empty by default, emptied
    ("" or []: they replace the default, where an empty map merges into it and changes
    nothing), each where the chart's schema accepts it empty."""
    chart = synthesized / app / "helm"
    validator = jsonschema.Draft7Validator(json.loads((chart / "values.schema.json").read_text()))
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    values: dict[str, Any] = {}
    for param in PARAMS:
        default = get(defaults, param.path)
        if not isinstance(default, str | list) or not default:
            continue
        one = _nest([(param.path, type(default)())])
        if validator.is_valid(coalesce(defaults, one)):
            values = coalesce(values, one)
    return values


@pytest.mark.parametrize("app", ["production", "production-full"])
def test_every_value_the_schema_takes_empty_renders_what_synth_makes_of_it_empty(
    app: str, helm: str, kubectl: str, synthesized: Path, tmp_path: Path
) -> None:
    """An emptied value renders the Kustomize tree of the spec with it empty (an optional one
    unset), or the schema refuses it: publicURL "" rendered the admin bootstrap Job's
    SERVER_URL "" where synth fills in the in-cluster URL, and image.pullSecrets [] an
    imagePullSecrets: [] that synth leaves out."""
    values = _emptied_values(app, synthesized)
    assert "storageClass" in values["database"], values  # the test empties something
    test_override_equals_kustomize_of_the_same_change(
        app, values, "", helm, kubectl, synthesized, tmp_path
    )
    if app == "production-full":  # its schema refuses publicURL "", and the README says why
        readme = (synthesized / app / "helm" / "README.md").read_text()
        assert "publicURL" not in values
        assert "- `publicURL`: emptied, spec/template/spec/containers/0/env/" in readme
        # and its description does not offer "" for none
        schema = json.loads((synthesized / app / "helm" / "values.schema.json").read_text())
        described = schema["properties"]["publicURL"]["description"]
        assert '""' not in described and "Not empty for this instance" in described


def test_override_changes_object_count(helm: str, synthesized: Path, tmp_path: Path) -> None:
    chart = synthesized / "quickstart" / "helm"
    on = helm_objects(helm, chart, "paperclip", None, tmp_path)
    off = helm_objects(helm, chart, "paperclip", {"networkPolicy": {"enabled": False}}, tmp_path)
    assert len(off) < len(on)
    assert not any(k[1] == "NetworkPolicy" and k[3] == "quickstart" for k in off)


def test_changed_config_rolls_the_pods(helm: str, synthesized: Path, tmp_path: Path) -> None:
    chart = synthesized / "quickstart" / "helm"

    def hashes(values: dict[str, Any] | None) -> tuple[str, str]:
        objects = helm_objects(helm, chart, "paperclip", values, tmp_path)
        server = objects[("apps/v1", "StatefulSet", "paperclip", "quickstart")]
        launcher = objects[("apps/v1", "Deployment", "paperclip", "quickstart-launcher")]
        key = "paperclip.inc/config-hash"
        return (
            server["spec"]["template"]["metadata"]["annotations"][key],
            launcher["spec"]["template"]["metadata"]["annotations"][key],
        )

    default = hashes(None)
    assert hashes({"logLevel": "debug"})[0] != default[0]
    assert hashes({"logLevel": "debug"})[1] == default[1]
    image = {"agents": {"templates": {"opencode": {"image": "registry.example/agent:2"}}}}
    assert hashes(image)[1] != default[1]


BAD_VALUES = [
    ("replicas-negative", "production", {"replicas": -1}),
    ("replicas-word", "production", {"replicas": "three"}),
    ("unknown-key", "quickstart", {"iamge": {"tag": "x"}}),
    ("storage-unit", "quickstart", {"persistence": {"size": "10GB"}}),
    ("hostname", "quickstart", {"allowedHostnames": ["not a host!"]}),
    ("unknown-nested-key", "quickstart", {"image": {"tga": "1"}}),
    ("no-tag-or-digest", "quickstart", {"image": {"tag": ""}}),
    ("service-type", "quickstart", {"service": {"type": "Ingress"}}),
]


@pytest.mark.parametrize(("app", "values"), [pytest.param(a, v, id=i) for i, a, v in BAD_VALUES])
def test_schema_refuses_bad_values(
    app: str, values: dict[str, Any], helm: str, synthesized: Path, tmp_path: Path
) -> None:
    chart = str(synthesized / app / "helm")
    override = tmp_path / "bad.yaml"
    override.write_text(yaml.safe_dump(values))
    rendered = run(helm, "template", "r", chart, "-f", str(override), check=False)
    assert rendered.returncode != 0
    assert "values don't meet the specifications of the schema" in rendered.stderr
    linted = run(helm, "lint", "--strict", chart, "-f", str(override), check=False)
    assert linted.returncode != 0, linted.stdout


def _shared_key_instance(replicas: int) -> dict[str, Any]:
    """Two or more replicas without a master key Secret share one the bootstrap creates, and
    a StatefulSet of several pods runs the heartbeat on pod -0 only: one replica does neither."""
    spec = {
        "database": {"mode": "managed"},
        "storage": {"persistence": {"enabled": False}},
        "availability": {"replicas": replicas},
        "auth": {"secretRef": {"name": "shared-auth", "key": "secret"}},
        "objectStorage": {"provider": "s3", "bucket": "shared-files", "region": "eu-west-1"},
    }
    return merge(MINIMAL, {"metadata": {"name": "shared", "namespace": "shared"}, "spec": spec})


def _synthesized_instance(doc: dict[str, Any], out: Path) -> Path:
    """The app directory synth writes for the one Instance document ``doc`` (under ``out``)."""
    app = out / "shared.yaml"
    app.parent.mkdir(parents=True, exist_ok=True)
    app.write_text(yaml.safe_dump(doc, sort_keys=False))
    write_trees(out / "dist", synthesize([app], VERSION).trees, prune=False)
    return out / "dist" / "shared"


def _assert_renders(
    helm: str, kubectl: str, tree: Path, values: dict[str, Any] | None, synthesized: Path
) -> None:
    """The chart of the app directory ``tree`` with ``values`` renders the Kustomize tree of
    the app directory ``synthesized`` (what synth makes of the spec with those values)."""
    namespace = json.loads((synthesized / "app.json").read_text())["namespace"]
    expected = kustomize_objects(kubectl, synthesized / "kustomize")
    assert_same(expected, helm_objects(helm, tree / "helm", namespace, values, synthesized.parent))


def _schema_minimum(tree: Path, key: tuple[str, ...]) -> Any:
    """The minimum ``values.schema.json`` of the app directory ``tree`` gives a key (or None)."""
    node = json.loads((tree / "helm" / "values.schema.json").read_text())
    for part in key:
        node = node.get("properties", {}).get(part, {})
    return node.get("minimum")


def _assert_refused(helm: str, tree: Path, values: dict[str, Any]) -> None:
    """The chart's schema refuses ``values``."""
    given = tree.parent / "refused.yaml"
    given.write_text(yaml.safe_dump(values))
    refused = run(helm, "template", "r", str(tree / "helm"), "-f", str(given), check=False)
    assert refused.returncode != 0, values
    assert "values don't meet the specifications of the schema" in refused.stderr, values


def test_a_value_the_generator_fills_in_defaults_to_what_it_fills_in(
    helm: str, kubectl: str, tmp_path: Path
) -> None:
    """The managed database without resources gets the generator's requests and limits, not
    the empty block the spec holds: values.yaml offers them as the default, the default render
    is the Kustomize tree, and a change merged over them renders what synth makes of the
    merged block."""
    tree = _synthesized_instance(_shared_key_instance(2), tmp_path / "unset")
    values = yaml.safe_load((tree / "helm" / "values.yaml").read_text())
    filled = {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert values["database"]["resources"] == filled
    _assert_renders(helm, kubectl, tree, None, tree)
    change = {"requests": {"cpu": "500m"}}
    doc = _shared_key_instance(2)
    doc["spec"]["database"]["managed"] = {"resources": merge(filled, change)}
    changed = _synthesized_instance(doc, tmp_path / "set")
    _assert_renders(helm, kubectl, tree, {"database": {"resources": change}}, changed)


OWN_KEY = {"secrets": {"masterKeySecretRef": {"name": "shared-master", "key": "key"}}}
LEASE = {"heartbeat": {"schedulerGating": "lease"}}


@pytest.mark.parametrize(
    ("extra", "lowest"),
    [({}, 2), (OWN_KEY, 2), (LEASE, 2), (merge(OWN_KEY, LEASE), 1)],
    ids=["shared-key-and-ordinal-gating", "ordinal-gating", "shared-key", "neither"],
)
def test_a_replica_count_goes_as_low_as_only_the_count_changes(
    extra: dict[str, Any], lowest: int, helm: str, kubectl: str, tmp_path: Path
) -> None:
    """One replica drops the shared master key (no master key Secret of the user's) and the
    heartbeat gating on pod -0 (ordinal gating), so where either applies the chart cannot
    lower 3 replicas below 2; where neither does, to 1. At the lowest value the chart renders
    what synth makes of the same spec, and one below is refused by the schema."""

    def instance(replicas: int) -> dict[str, Any]:
        return merge(_shared_key_instance(replicas), {"spec": extra})

    tree = _synthesized_instance(instance(3), tmp_path / "three")
    assert _schema_minimum(tree, ("replicas",)) == lowest
    _assert_refused(helm, tree, {"replicas": lowest - 1})
    low = _synthesized_instance(instance(lowest), tmp_path / "low")
    _assert_renders(helm, kubectl, tree, {"replicas": lowest}, low)
    if lowest == 2:  # the reason: one replica builds other objects, not only another count
        one = _synthesized_instance(instance(1), tmp_path / "one") / "kustomize"
        objects = kustomize_objects(kubectl, one)
        objects[("apps/v1", "StatefulSet", "shared", "shared")]["spec"]["replicas"] = 2
        assert objects != kustomize_objects(kubectl, low / "kustomize")


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - REFUSED_SCENARIOS))
def test_every_feature_scenario_renders_common_labels_as_synth_does(
    scenario: str, helm: str, kubectl: str, tmp_path: Path
) -> None:
    """commonLabels (placed from the build, not probed) render what synth makes of the
    Instance with those labels, a generated key winning over a label of the same name."""
    doc = scenario_document(scenario)
    tree = _synthesized_instance(doc, tmp_path / "chart")
    labels = {"team": "platform", "app.kubernetes.io/name": "mine"}
    labelled = with_value(doc, ("@metadata", "labels"), labels)
    synthesized = _synthesized_instance(labelled, tmp_path / "labelled")
    _assert_renders(helm, kubectl, tree, {"commonLabels": labels}, synthesized)


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - REFUSED_SCENARIOS))
def test_every_feature_scenario_renders_its_integers_at_their_minimums_as_synth_does(
    scenario: str, helm: str, kubectl: str, tmp_path: Path
) -> None:
    """Each integer the chart of a feature scenario offers, at the lowest value its schema
    allows (the floor of a replica count, or the lowest value the rules accept), renders what
    synth makes of the spec with that value; one below is refused."""
    doc = scenario_document(scenario)
    tree = _synthesized_instance(doc, tmp_path / "chart")
    lowered = 0
    for param in params_for(Instance.model_validate(doc)):
        low, default = _schema_minimum(tree, param.path), spec_value(doc, param.spec)
        if low is None or param.schema.get("type") != "integer" or not isinstance(default, int):
            continue
        if low < default:
            lowered += 1
            lowest = _synthesized_instance(with_value(doc, param.spec, low), tmp_path / param.key)
            _assert_renders(helm, kubectl, tree, _nest([(param.path, low)]), lowest)
        if low > param.schema["minimum"]:
            _assert_refused(helm, tree, _nest([(param.path, low - 1)]))
    assert lowered, "every feature scenario offers an integer above its minimum"


@pytest.mark.parametrize("index", [1, 2])
def test_a_maximum_goes_down_to_the_minimum_the_rules_keep(
    index: int, helm: str, kubectl: str, tmp_path: Path
) -> None:
    """The rules refuse an autoscaler maximum below its minimum, so the chart's schema lets
    maxReplicas go down to exactly minReplicas (found by halving between the schema's minimum
    and the instance's value): there the chart renders what synth makes of the spec, and one
    below is refused."""
    doc = distinct(index)
    scaling = doc["spec"]["availability"]["autoScaling"]
    assert 1 < scaling["minReplicas"] < scaling["maxReplicas"] - 1, "a range to search"
    tree = _synthesized_instance(doc, tmp_path / "chart")
    lowest = _schema_minimum(tree, ("autoScaling", "maxReplicas"))
    assert lowest == scaling["minReplicas"]
    path = ("availability", "autoScaling", "maxReplicas")
    low = _synthesized_instance(with_value(doc, path, lowest), tmp_path / "low")
    _assert_renders(helm, kubectl, tree, {"autoScaling": {"maxReplicas": lowest}}, low)
    _assert_refused(helm, tree, {"autoScaling": {"maxReplicas": lowest - 1}})


def test_every_value_offered_renders_what_synth_makes_of_that_spec(
    helm: str, tmp_path: Path
) -> None:
    """Every value the full-featured instance's chart offers, set to another valid value at
    once, renders the objects synth makes of the spec with those values (a mapping merged
    over the default, as Helm merges values: conftest's ``merge``)."""
    from constructs_lib.render.synth import render_app

    app = REPO / "tests" / "bench" / "full_features.yaml"
    built = build_chart(render_app(load_app(app), VERSION), str(app))
    chart = tmp_path / "chart"
    for path, text in built.files.items():
        (chart / path).parent.mkdir(parents=True, exist_ok=True)
        (chart / path).write_text(text)
    [analysis] = built.analyses
    doc = changed = document(analysis.instance)
    overrides = []
    for param in analysis.params:
        default = analysis.defaults.get(param.key, spec_value(doc, param.spec))
        others = [v for v in param.probes if v != default]
        if others:
            value = others[0]
            merged = merge(default, value) if isinstance(default, dict) else value
            changed = with_value(changed, param.spec, merged)
            overrides.append((param.path, value))
    values = _nest(overrides)
    assert len(values) >= 15 and "image" in values and "backup" in values, sorted(values)
    spec = tmp_path / "changed.yaml"
    spec.write_text(yaml.safe_dump(changed))
    want = keyed(yaml.safe_dump_all(render_app(load_app(spec), VERSION).objects))
    assert_same(want, helm_objects(helm, chart, analysis.instance.namespace, values, tmp_path))


def _leaf_keys(schema: dict[str, Any], params: set[str], at: str = "") -> set[str]:
    if at in params or "properties" not in schema:
        return {at}
    assert schema["additionalProperties"] is False, at
    own = {k: v for k, v in schema["properties"].items() if not (at == "" and k == "global")}
    assert sorted(schema["required"]) == sorted(own), at
    keys: set[str] = set()
    for name, child in own.items():
        keys |= _leaf_keys(child, params, f"{at}.{name}" if at else name)
    return keys


def _value_keys(values: Any, params: set[str], at: str = "") -> set[str]:
    if at in params or not isinstance(values, dict):
        return {at}
    keys: set[str] = set()
    for name, child in values.items():
        keys |= _value_keys(child, params, f"{at}.{name}" if at else name)
    return keys


@pytest.mark.parametrize("app", sorted(APPS))
def test_schema_is_draft07_and_keys_agree(app: str, synthesized: Path) -> None:
    chart = synthesized / app / "helm"
    schema = json.loads((chart / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    values = yaml.safe_load((chart / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    loaded = load_app(next((REPO / "apps").glob(f"{app}.*")))
    [instance] = loaded.instances
    registry = {p.key for p in params_for(instance)}
    offered = _value_keys(values, registry)
    assert offered == _leaf_keys(schema, registry)
    assert offered <= registry
    readme = (chart / "README.md").read_text()
    for key in registry - offered:
        assert f"`{key}`:" in readme, f"{key} is neither offered nor explained"
    for key in offered:
        assert f"| `{key}` |" in readme


def test_values_yaml_documents_every_key(synthesized: Path) -> None:
    for app in APPS:
        lines = (synthesized / app / "helm" / "values.yaml").read_text().splitlines()
        values = yaml.safe_load("\n".join(lines))
        documented = set()
        for comment, line in itertools.pairwise(lines):
            if not comment.lstrip().startswith("# ") or ":" not in comment:
                continue
            name = comment.lstrip()[2:].split(":", 1)[0]
            if " " in name:
                continue  # the header
            indent = comment[: len(comment) - len(comment.lstrip())]
            assert line.startswith(f"{indent}{name}:"), f"{app}: {comment!r} is not above its key"
            documented.add((len(indent), name))

        def keys(node: Any, depth: int, leaf_paths: bool) -> set[tuple[int, str]]:
            found = set()
            for name, child in node.items():
                found.add((depth, name))
                if isinstance(child, dict) and name not in LEAF_BLOCKS:
                    found |= keys(child, depth + 2, leaf_paths)
            return found

        assert keys(values, 0, True) <= documented
        for line in lines:
            if line.lstrip().startswith("# ") and "Default:" not in line and line.count(":") > 0:
                name = line.lstrip()[2:].split(":", 1)[0]
                assert name not in {"replicas", "tag", "port", "size"}, line


LEAF_BLOCKS = {
    "resources",
    "nodeSelector",
    "affinity",
    "podAnnotations",
    "annotations",
    "commonLabels",
}


def test_chart_metadata(synthesized: Path) -> None:
    text = (synthesized / "quickstart" / "helm" / "Chart.yaml").read_text()
    chart = yaml.safe_load(text)
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"].endswith("-0")
    assert 'appVersion: "2026.1106.0"' in text
    assert chart["name"] == "quickstart"
    names = {p.name for p in (synthesized / "quickstart" / "helm").iterdir()}
    assert {".helmignore", "values.yaml", "values.schema.json", "README.md", "templates"} <= names
    notes = (synthesized / "quickstart" / "helm" / "templates" / "NOTES.txt").read_text()
    assert "port-forward" in notes and "quickstart-launcher-token" in notes


def test_registry_keys_are_unique() -> None:
    keys = [p.key for p in PARAMS]
    assert len(keys) == len(set(keys))


def test_hooks_on_the_bootstrap_job(synthesized: Path) -> None:
    text = (synthesized / "quickstart" / "helm" / "templates" / "quickstart.yaml").read_text()
    job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: quickstart-secrets-bootstrap\n"
    [body] = [d for d in text.split("---\n") if d.startswith(job)]
    assert "helm.sh/hook: pre-install,pre-upgrade" in body
    assert "helm.sh/hook-delete-policy: before-hook-creation" in body


SNAPSHOT_TEMPLATES = [("quickstart", "quickstart.yaml"), ("production", "paperclip-prod.yaml")]
"""The template file of each app's instance."""


def test_snapshot_values(synthesized: Path, yaml_snapshot: Any) -> None:
    assert (synthesized / "quickstart" / "helm" / "values.yaml").read_text() == yaml_snapshot


@pytest.mark.parametrize(("app", "name"), SNAPSHOT_TEMPLATES)
def test_snapshot_template(app: str, name: str, synthesized: Path, yaml_snapshot: Any) -> None:
    assert (synthesized / app / "helm" / "templates" / name).read_text() == yaml_snapshot


def test_build_chart_is_deterministic() -> None:
    from constructs_lib.render.synth import render_app

    app = load_app(REPO / "apps" / "quickstart.py")
    first = build_chart(render_app(app, VERSION), "apps/quickstart.py").files
    second = build_chart(render_app(app, VERSION), "apps/quickstart.py").files
    assert first == second


def _two_instances(tmp_path: Path, second_namespace: str) -> Path:
    documents = [
        trusted_document(name, namespace)
        for name, namespace in (("team-a", "teams"), ("team-b", second_namespace))
    ]
    path = tmp_path / "teams.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return path


@pytest.mark.parametrize("second_namespace", ["teams", "other"])
def test_several_instances_get_values_per_instance(
    second_namespace: str, helm: str, kubectl: str, tmp_path: Path
) -> None:
    app = _two_instances(tmp_path, second_namespace)
    result = synthesize([app], VERSION)
    write_trees(tmp_path / "out", result.trees, prune=False)
    chart = tmp_path / "out" / "teams" / "helm"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert set(values) == {"team-a", "team-b"}
    run(helm, "lint", "--strict", str(chart))
    expected = kustomize_objects(kubectl, tmp_path / "out" / "teams" / "kustomize")
    assert_same(expected, helm_objects(helm, chart, "teams", None, tmp_path))
    changed = helm_objects(
        helm, chart, "teams", {"team-b": {"image": {"tag": "2026.1201.0"}}}, tmp_path
    )
    server_b = changed[("apps/v1", "StatefulSet", second_namespace, "team-b")]
    server_a = changed[("apps/v1", "StatefulSet", "teams", "team-a")]
    assert server_b["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2026.1201.0")
    assert server_a["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2026.1106.0")


def test_ingress_host_moves_the_tls_host_with_the_rule(
    helm: str, synthesized: Path, tmp_path: Path
) -> None:
    objects = helm_objects(
        helm,
        synthesized / "production-full" / "helm",
        APPS["production-full"],
        {"ingress": {"host": "pc.other.example"}},
        tmp_path,
    )
    [ingress] = [o for k, o in objects.items() if k[1] == "Ingress"]
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["pc.other.example"]
    assert ingress["spec"]["tls"][0]["hosts"] == ["pc.other.example"]


def test_an_autoscaled_instance_offers_its_bounds_not_replicas(synthesized: Path) -> None:
    values = yaml.safe_load((synthesized / "production-full" / "helm" / "values.yaml").read_text())
    assert "replicas" not in values  # the HorizontalPodAutoscaler owns the count
    assert values["autoScaling"] == {"minReplicas": 2, "maxReplicas": 6}
    fixed = yaml.safe_load((synthesized / "production" / "helm" / "values.yaml").read_text())
    assert "replicas" in fixed and "autoScaling" not in fixed
    text = (synthesized / "quickstart" / "helm" / "values.yaml").read_text()
    assert "(PAPERCLIP_LOG_LEVEL)" in text  # the variable the server reads


def test_the_chart_version_follows_its_content(
    helm: str, synthesized: Path, tmp_path: Path
) -> None:
    from constructs_lib import __version__
    from constructs_lib.render.helm.chart import chart_version

    chart = yaml.safe_load((synthesized / "quickstart" / "helm" / "Chart.yaml").read_text())
    assert re.fullmatch(rf"{re.escape(__version__)}-[0-9a-f]{{12}}", chart["version"])
    files = {"values.yaml": "a: 1\n", "templates/x.yaml": "kind: X\n"}
    meta = {"name": "c", "appVersion": "1"}
    assert chart_version(files, meta) == chart_version(dict(files), dict(meta))
    assert chart_version({**files, "values.yaml": "a: 2\n"}, meta) != chart_version(files, meta)
    assert chart_version(files, {**meta, "appVersion": "2"}) != chart_version(files, meta)
    versions = {
        yaml.safe_load((synthesized / app / "helm" / "Chart.yaml").read_text())["version"]
        for app in APPS
    }
    assert len(versions) == len(APPS)  # different charts, different versions
    # helm packages it under that version (the file name an OCI push tags it with)
    run(helm, "package", str(synthesized / "quickstart" / "helm"), "-d", str(tmp_path))
    assert (tmp_path / f"{chart['name']}-{chart['version']}.tgz").is_file()


def test_a_chart_version_whose_hash_is_digits_from_zero_is_still_semver(
    helm: str, tmp_path: Path
) -> None:
    """About 1 chart in 3,000 hashes to twelve decimal digits starting with 0, which SemVer
    (and so helm) refuses as a numeric pre-release identifier with a leading zero."""
    from constructs_lib.render.helm.chart import chart_version

    meta = {"apiVersion": "v2", "name": "c", "type": "application"}

    def digits(files: dict[str, str]) -> str:  # the hash part, without a "g" put before it
        return chart_version(files, meta).split("-", 1)[1].removeprefix("g")

    files = next(
        f
        for f in ({"values.yaml": f"a: {i}\n"} for i in range(100_000))
        if digits(f).isdigit() and digits(f).startswith("0")
    )
    version = chart_version(files, meta)
    assert re.fullmatch(SEMVER, version), version
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({**meta, "version": version}))
    (chart / "values.yaml").write_text(files["values.yaml"])
    run(helm, "package", str(chart), "-d", str(tmp_path))  # helm refuses an invalid version
    assert (tmp_path / f"c-{version}.tgz").is_file()


def test_an_umbrella_chart_can_depend_on_it_and_pass_global_values(
    helm: str, synthesized: Path, tmp_path: Path
) -> None:
    """What `helm dependency` does with the chart: pinned by its exact version, and the
    umbrella's `global` values (which Helm gives every subchart) are accepted."""
    chart = yaml.safe_load((synthesized / "quickstart" / "helm" / "Chart.yaml").read_text())
    umbrella = tmp_path / "platform"
    (umbrella / "templates").mkdir(parents=True)
    (umbrella / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "platform",
                "version": "1.0.0",
                "dependencies": [
                    {
                        "name": chart["name"],
                        "version": chart["version"],
                        "repository": f"file://{synthesized / 'quickstart' / 'helm'}",
                    }
                ],
            }
        )
    )
    (umbrella / "values.yaml").write_text(
        yaml.safe_dump({"global": {"team": "platform"}, chart["name"]: {"logLevel": "debug"}})
    )
    run(helm, "dependency", "update", str(umbrella))
    rendered = run(helm, "template", "rel", str(umbrella), "-n", "paperclip").stdout
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered) if d}
    assert "StatefulSet" in kinds
