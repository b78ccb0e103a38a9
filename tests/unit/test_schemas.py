"""The compiled fast checks give exactly jsonschema's verdict, and messages stay as before.

The corpus: every object in dist/, the pass-through structures the spec validates
(containers, volumes, affinity, ...), a valid sample of every pinned CRD kind, and seeded
mutated copies of all of them (wrong types, unknown fields, bad enum values, out-of-range and
fractional numbers, removed keys, nulls).
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kv

from constructs_lib.spec import crds, kubeschema
from constructs_lib.spec.fastschema import Check, Compiler, Documents, Unsupported
from constructs_lib.spec.kubeschema import (
    DEFAULT_KUBERNETES_VERSION,
    SchemaValidator,
    definition_validator,
    object_validator,
    schema_errors,
)
from tests.conftest import REPO
from tests.unit.test_schemas_samples import SAMPLES, VALID_VARIANTS

VERSION = DEFAULT_KUBERNETES_VERSION
MUTATED_NODES_PER_OBJECT = 25


def compile_schema(schema: Any) -> Check:
    """One-off compilation (prefer a shared :class:`Compiler` for many schemas)."""
    return Compiler(Documents()).compile(schema)


def dist_objects() -> list[dict[str, Any]]:
    found = []
    for path in sorted(REPO.glob("dist/*/kustomize/*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def _walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))


def _replacements(value: Any, rng: random.Random) -> list[Any]:
    if isinstance(value, bool):
        return ["true", 1, None]
    if isinstance(value, int | float):
        return [str(value), 2**31, 2**63, -1, 1.5, float(value), True, None]
    if isinstance(value, str):
        return [12345, "", "NotOneOfTheEnumValues", None, [value], False]
    if isinstance(value, dict):
        removed = dict(value)
        if removed:
            removed.pop(rng.choice(sorted(removed)))
        return [[], "x", {**value, "zzUnknownField": 1}, removed, None]
    if isinstance(value, list):
        return [{}, "x", [], [*value, *value[:1]], [None]]
    return [0, "x", {}]


def _replaced(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(root)
    node = copied
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copied


def mutants(obj: Any, seed: int) -> list[Any]:
    rng = random.Random(seed)
    nodes = [(p, v) for p, v in _walk(obj) if p]
    chosen = rng.sample(nodes, min(len(nodes), MUTATED_NODES_PER_OBJECT))
    return [_replaced(obj, p, r) for p, v in chosen for r in _replacements(v, rng)]


def _agree(validator: SchemaValidator, corpus: list[Any]) -> tuple[int, int]:
    """(valid, invalid) counts; fails on the first disagreement."""
    assert validator.fast is not None, "the schema did not compile into a fast check"
    counts = [0, 0]
    for instance in corpus:
        expected = validator.jsonschema.is_valid(instance)
        assert validator.fast(instance) is expected, (
            f"fast verdict differs from jsonschema ({expected}) for {instance!r:.400}"
        )
        counts[0 if expected else 1] += 1
    return counts[0], counts[1]


def test_fast_verdict_equals_jsonschema_on_dist_objects_and_their_mutants() -> None:
    objects = dist_objects()
    assert len(objects) >= 10
    valid = invalid = 0
    for seed, obj in enumerate(objects):
        validator = object_validator(VERSION, obj["apiVersion"], obj["kind"])
        assert validator.is_valid(obj), f"{obj['kind']} {obj['metadata']['name']}"
        v, i = _agree(validator, [obj, *mutants(obj, seed)])
        valid, invalid = valid + v, invalid + i
    # the corpus exercises both verdicts broadly, so a constant answer would fail above
    assert valid >= 100 and invalid >= 1000, (valid, invalid)


def _pass_through_values() -> dict[str, list[Any]]:
    """Values of each KubeSchema definition taken from dist/ (plus a few written here)."""
    values: dict[str, list[Any]] = {
        "io.k8s.api.core.v1.Affinity": [
            {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {"matchLabels": {"app": "paperclip"}},
                            },
                        }
                    ]
                }
            }
        ],
        "io.k8s.api.core.v1.Toleration": [
            {"key": "pool", "operator": "Equal", "value": "agents", "effect": "NoSchedule"}
        ],
        "io.k8s.api.core.v1.TopologySpreadConstraint": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "paperclip"}},
            }
        ],
    }

    def add(definition: str, value: Any) -> None:
        values.setdefault(f"io.k8s.api.{definition}", []).append(value)

    for obj in dist_objects():
        for path, value in _walk(obj):
            key = path[-1] if path else None
            if key == "containers" or key == "initContainers":
                for container in value:
                    add("core.v1.Container", container)
                    for env in container.get("env", []):
                        add("core.v1.EnvVar", env)
                    for source in container.get("envFrom", []):
                        add("core.v1.EnvFromSource", source)
                    for mount in container.get("volumeMounts", []):
                        add("core.v1.VolumeMount", mount)
                    if "resources" in container:
                        add("core.v1.ResourceRequirements", container["resources"])
                    if "securityContext" in container:
                        add("core.v1.SecurityContext", container["securityContext"])
            elif key == "volumes":
                for volume in value:
                    add("core.v1.Volume", volume)
            elif key == "securityContext" and "containers" in _parent(obj, path):
                add("core.v1.PodSecurityContext", value)
            elif key == "egress" and obj["kind"] == "NetworkPolicy":
                for rule in value:
                    add("networking.v1.NetworkPolicyEgressRule", rule)
    return values


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for part in path[:-1]:
        node = node[part]
    return node


def test_fast_verdict_equals_jsonschema_on_every_pass_through_definition() -> None:
    source = "\n".join(p.read_text() for p in (REPO / "constructs_lib" / "spec").glob("*.py"))
    used = set(re.findall(r'KubeSchema\("([^"]+)"\)', source))
    values = _pass_through_values()
    assert used, "no KubeSchema definitions found"
    assert used <= set(values), f"no test values for {sorted(used - set(values))}"
    invalid = 0
    for seed, definition in enumerate(sorted(used)):
        validator = definition_validator(VERSION, definition)
        for value in values[definition][:4]:
            assert validator.is_valid(value), (definition, value)
            invalid += _agree(validator, [value, *mutants(value, seed)])[1]
    assert invalid >= 200


def test_fast_verdict_equals_jsonschema_on_crd_samples_and_their_mutants() -> None:
    invalid = 0
    corpus = SAMPLES + [v for _, v in VALID_VARIANTS]
    for seed, obj in enumerate(corpus):
        validator = object_validator(VERSION, obj["apiVersion"], obj["kind"])
        assert validator.is_valid(obj), obj["kind"]
        invalid += _agree(validator, [obj, *mutants(obj, seed)])[1]
    assert invalid >= 500


def test_every_bundled_kind_and_pinned_crd_compiles_to_a_fast_check() -> None:
    schema_dir = kubeschema._registry(VERSION)[0]
    names = [
        n
        for n in resources.files("kubernetes_validate").joinpath(schema_dir).iterdir()
        if n.name.endswith(".json") and not n.name.startswith("_") and "-" in n.name
    ]
    # every property compiled now, not when an object first has it
    compiler = Compiler(kubeschema._registry(VERSION)[1].documents, eager=True)
    assert len(names) > 100
    for name in names:
        compiler.compile(kv.schema_contents(f"{schema_dir}/{name.name}", VERSION))
    for api_version, kind in crds.pinned_kinds():
        assert object_validator(VERSION, api_version, kind).fast is not None, kind
        compiler.compile(object_validator(VERSION, api_version, kind).schema)


def test_a_property_compiled_on_first_use_may_still_refuse_a_keyword() -> None:
    documents = kubeschema._registry(VERSION)[1].documents
    schema = {"properties": {"size": {"if": {"type": "string"}, "then": {"minLength": 2}}}}
    check = Compiler(documents).compile(schema)
    assert check({"other": 1}) is True  # the property's subschema is not compiled yet
    with pytest.raises(Unsupported, match="if"):
        check({"size": "x"})
    with pytest.raises(Unsupported, match="if"):
        Compiler(documents, eager=True).compile(schema)
    validator = kubeschema.SchemaValidator(schema, Compiler(documents))
    assert validator.is_valid({"size": "x"}) is False  # jsonschema's verdict, from now on
    assert validator.fast is None
    assert validator.is_valid({"size": "xy"}) is True


def test_a_refused_ref_target_is_refused_again_for_the_next_schema() -> None:
    """Two validators share a compiler: a $ref target that failed to compile for the first
    is not left half-made for the second (which then falls back to jsonschema too)."""
    schema = {
        "$id": "https://example.test/s.json",
        "$defs": {"size": {"if": {"type": "string"}, "then": {"minLength": 2}}},
        "properties": {"size": {"$ref": "#/$defs/size"}},
    }
    documents = Documents()
    compiler = Compiler(documents)
    for _ in range(2):
        validator = kubeschema.SchemaValidator(schema, compiler)
        assert validator.is_valid({"size": "x"}) is False
        assert validator.is_valid({"size": "xy"}) is True


def _legacy_errors(validator: SchemaValidator, data: Any) -> list[tuple[str, str]]:
    """What schema_errors returned before the fast path: jsonschema alone."""
    plain = jsonschema.validators.Draft202012Validator(
        validator.schema, registry=validator.jsonschema._registry
    )
    found = []
    for error in sorted(plain.iter_errors(data), key=lambda e: list(map(str, e.path))):
        best = jsonschema.exceptions.best_match([error])
        message = str(best.message)
        if best.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown field")
        elif len(message) > 300:
            message = message[:300] + "..."
        found.append((kubeschema.format_path(best.absolute_path), message))
    return found


def test_error_messages_are_unchanged_by_the_fast_path() -> None:
    deployment = next(o for o in dist_objects() if o["kind"] == "Deployment")
    validator = object_validator(VERSION, "apps/v1", "Deployment")
    broken = mutants(deployment, seed=7)[:80]
    compared = 0
    for instance in broken:
        errors = schema_errors(validator, instance)
        assert errors == _legacy_errors(validator, instance)
        compared += bool(errors)
    assert compared >= 40
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    [(path, message)] = schema_errors(validator, typo)
    assert path == "spec.template.spec.containers[0]"
    assert message == "unknown field ('imagePullPolicyy' was unexpected)"


# --- the compiler on its own: tricky JSON Schema semantics -----------------------------------

TRICKY: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": "number"}, [1, 2.5, True, "1"]),
    ({"type": ["string", "null"]}, ["a", None, 0]),
    ({"enum": [1, "a", None]}, [1, 1.0, True, "a", None, "b"]),
    ({"enum": [True]}, [True, 1]),
    ({"const": [1, {"a": False}]}, [[1, {"a": False}], [True, {"a": 0}], [1.0, {"a": False}]]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, [-1, 1, 0.5, "x"]),
    ({"anyOf": [{"type": "string"}, {"maximum": 3}]}, ["a", 2, 4, None]),
    ({"not": {"type": "string"}}, ["a", 1]),
    ({"allOf": [{"minLength": 2}, {"maxLength": 3}]}, ["a", "ab", "abcd", 5]),
    (
        {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
        [{}, {"a": "x"}, {"a": 1}, {"b": 1}, [], "s"],
    ),
    (
        {"type": "object", "additionalProperties": {"type": "integer"}, "required": ["k"]},
        [{"k": 1}, {"k": "1"}, {}, None],
    ),
    (
        {"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False},
        [{"x-a": "s"}, {"x-a": 1}, {"y": 1}],
    ),
    ({"type": "array", "items": {"type": "string"}, "minItems": 1}, [[], ["a"], [1], "a"]),
    ({"uniqueItems": True}, [[1, True], [1, 1.0], [{"a": 1}, {"a": 1}], [[1], [True]]]),
    ({"multipleOf": 0.1}, [0.3, 0.35, 3, True]),
    ({"multipleOf": 3}, [9, 10, 9.0, "9"]),
    ({"exclusiveMinimum": 0, "maximum": 10}, [0, 0.1, 10, 10.5]),
    ({"pattern": "^a+$"}, ["aaa", "aab", 3]),
    ({"minProperties": 1, "maxProperties": 1}, [{}, {"a": 1}, {"a": 1, "b": 2}, []]),
    ({"type": "string", "properties": {"a": {}}}, ["s", {"a": 1}]),
    (
        {
            "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
            "$ref": "#/$defs/node",
        },
        [{}, {"next": {"next": {}}}, {"next": {"next": 1}}],
    ),
]


@pytest.mark.parametrize(("schema", "instances"), TRICKY)
def test_compiler_agrees_with_jsonschema_on_tricky_semantics(
    schema: dict[str, Any], instances: list[Any]
) -> None:
    full = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    check = compile_schema(full)
    reference = jsonschema.validators.Draft202012Validator(full)
    verdicts = [(check(i), reference.is_valid(i)) for i in instances]
    assert [mine for mine, _ in verdicts] == [theirs for _, theirs in verdicts]
    assert {theirs for _, theirs in verdicts} == {True, False}, "each case needs both verdicts"


def test_compiler_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(Unsupported, match="if"):
        compile_schema({"if": {"type": "string"}, "then": {"minLength": 2}})
