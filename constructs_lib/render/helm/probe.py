"""Where each value lands, found by rendering the typed model, not by hand-written templates.

For every parameter the instance is rendered with the spec field set to an unusual valid value
(a *probe*) and compared, leaf by leaf, with the default render:

* a leaf that became the probe value is replaced by the value (``| toJson``, ``| int64``);
* a string leaf that now contains the probe text gets the value spliced in at exactly those
  positions (the rest of the string must be unchanged);
* a key that only exists with the probe value is written under ``{{- with }}``;
* a pod annotation holding the hash of a ConfigMap's data is computed in the template from
  the rendered ConfigMap, so a value that changes the ConfigMap still rolls the pods;
* a ``toggle`` whose flipped render removes whole objects wraps their files in ``{{- if }}``.

Any other difference (the probe changed the object set, or a leaf the parameter does not
explain) means the value cannot be offered as a plain parameter for this instance; it is left
out of the chart's values, and the chart's README says why.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from constructs_lib.render.helm.registry import (
    COMPOSITES,
    Composite,
    Param,
    Shape,
    Unoffered,
    params_for,
)
from constructs_lib.render.helm.sites import (
    MISSING,
    NAMESPACE_EXPR,
    NAMESPACE_SENTINEL,
    Merge,
    Pointer,
    Site,
    Spans,
    Whole,
    find_hash,
    get,
    is_hash_pointer,
    values_ref,
)
from constructs_lib.spec import Instance, rules


@dataclass
class Analysis:
    """Every site of one instance's objects, and what the chart offers for it."""

    instance: Instance
    objects: list[dict[str, Any]]
    prefix: tuple[str, ...]
    sites: dict[int, dict[Pointer, Site]] = field(default_factory=dict)
    added: dict[int, dict[Pointer, Whole]] = field(default_factory=dict)
    """Keys that exist only when a value is set (pointer of the new key)."""
    conditions: dict[int, str] = field(default_factory=dict)
    """Object index -> the expression its template file is wrapped in."""
    params: list[Param] = field(default_factory=list)
    composites: list[Composite] = field(default_factory=list)
    left_out: list[Unoffered] = field(default_factory=list)
    schema_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    namespaced: bool = True


# --- rendering --------------------------------------------------------------------------


Render = Callable[[Instance], list[dict[str, Any]]]


def document(instance: Instance) -> dict[str, Any]:
    data: dict[str, Any] = instance.model_dump(by_alias=True, mode="json", exclude_none=True)
    return data


def _copied(node: Any) -> Any:
    """A shallow copy of a mapping or list (anything else as it is)."""
    if isinstance(node, dict):
        return dict(node)
    return list(node) if isinstance(node, list) else node


METADATA = "@metadata"
"""A Param path that starts with it names a field of the Instance's metadata, not its spec
(``("@metadata", "labels")``: the labels carried onto every object)."""


def _root(path: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    if path and path[0] == METADATA:
        return "metadata", path[1:]
    return "spec", path


def with_value(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of an Instance document with ``spec.<path>`` set (None removes it; a path that
    starts with :data:`METADATA` sets ``metadata.<rest>``). A digit part of the path indexes a
    list (``("networking", "ingress", "hosts", "0")``). Only the mappings and lists on the way
    to the change are copied: the rest is shared with ``doc``, and no document is changed in
    place."""
    root, path = _root(path)
    out = dict(doc)
    out[root] = node = _copied(doc.get(root, {}))
    for part in path[:-1]:
        if isinstance(node, list):
            node[int(part)] = child = _copied(node[int(part)])
        else:
            node[part] = child = _copied(node.get(part, {}))
        node = child
    last = path[-1]
    if isinstance(node, list):
        if value is not None:
            node[int(last)] = copy.deepcopy(value)
    elif value is None:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)
    return out


def instance_from(doc: dict[str, Any]) -> Instance | None:
    """The validated Instance, or None when the model or the synth-time rules refuse it."""
    return checked(doc)[0]


def checked(doc: dict[str, Any]) -> tuple[Instance | None, str]:
    """(the validated Instance, "") or (None, why the model or a synth-time rule refuses it)."""
    from constructs_lib.constructs.build import plan

    try:
        instance = Instance.model_validate(doc)
    except (ValidationError, ValueError) as exc:
        return None, str(exc).splitlines()[0]
    planned = plan(instance)
    problems = [*rules.errors(instance), *planned.contribution.errors]
    if problems:
        first = problems[0]
        return None, f"{first.path}: {first.message}" if first.path else first.message
    if len(PLANS) >= 256:
        PLANS.clear()
    PLANS[instance.model_dump_json(by_alias=True)] = planned
    return instance, ""


PLANS: dict[str, Any] = {}
"""The plan :func:`checked` made for each accepted probe Instance (by its JSON), so rendering
it does not plan it again."""


def spec_value(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    root, path = _root(path)
    node: Any = doc.get(root, {})
    for part in path:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def empty_of(param: Param) -> Any:
    kind = param.schema.get("type")
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return ""


def to_spec(param: Param, value: Any) -> Any:
    """A values.yaml value as the spec field takes it: "" / {} / [] of an optional key mean
    unset (the spec's default)."""
    if param.optional and value in ("", {}, []):
        return None
    return value


def default_value(param: Param, doc: dict[str, Any]) -> Any:
    value = spec_value(doc, param.spec)
    if value is None:
        return empty_of(param)
    return value


# --- diffing ----------------------------------------------------------------------------


def walk_diff(
    a: Any, b: Any, at: Pointer = (), whole: Any = MISSING
) -> Iterator[tuple[Pointer, Any, Any]]:
    """(pointer, default, probe) of every difference; MISSING where a key is absent. A value
    equal to ``whole`` (a probed block) is one difference, not one per leaf."""
    if whole is not MISSING and a != b and b == whole and type(b) is type(whole):
        yield at, a, b
    elif isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key in b:
                yield from walk_diff(a[key], b[key], (*at, key), whole)
            else:
                yield (*at, key), a[key], MISSING
        for key in b:
            if key not in a:
                yield (*at, key), MISSING, b[key]
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from walk_diff(x, y, (*at, i), whole)
    elif type(a) is not type(b) or a != b:
        yield at, a, b


def identity(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def renamed(obj: dict[str, Any], probe: Probe) -> tuple[str, str]:
    """The identity with the probe text in the name put back to the default (a
    cluster-scoped object's name contains its instance's namespace)."""
    kind, name = identity(obj)
    if probe.sentinel and probe.sentinel in name:
        name = name.replace(probe.sentinel, probe.default_text)
    return kind, name


# --- explaining a probe -----------------------------------------------------------------


class Unexplained(Exception):
    """The probe changed something this parameter cannot account for."""


@dataclass
class Found:
    whole: dict[tuple[int, Pointer], Whole] = field(default_factory=dict)
    added: dict[tuple[int, Pointer], Whole] = field(default_factory=dict)
    spans: dict[tuple[int, Pointer], list[tuple[int, int, str]]] = field(default_factory=dict)
    merges: dict[tuple[int, Pointer], Merge] = field(default_factory=dict)
    hashes: set[tuple[int, Pointer]] = field(default_factory=set)


def spans_in(default: str, probed: str, sentinel: str, default_text: str) -> list[tuple[int, int]]:
    """Positions in ``default`` that ``sentinel`` replaced, or Unexplained."""
    pieces = probed.split(sentinel)
    if len(pieces) < 2 or default_text.join(pieces) != default:
        raise Unexplained(f"a string changed in a way the value does not explain: {probed!r}")
    spans = []
    position = 0
    for piece in pieces[:-1]:
        position += len(piece)
        spans.append((position, position + len(default_text)))
        position += len(default_text)
    return spans


@dataclass(frozen=True)
class Probe:
    """One landing to find: how the spec changes, what to look for, what to write instead."""

    key: str
    doc: dict[str, Any]
    value: Any
    shape: Shape
    expr: str
    embeddable: bool
    sentinel: str
    default_text: str
    integer: bool
    guard_doc: dict[str, Any] | None = None
    """The document with the value empty (to learn which keys vanish)."""


def explain(
    probe: Probe,
    default: list[dict[str, Any]],
    probed: list[dict[str, Any]],
    empty: Callable[[], list[dict[str, Any]] | None],
) -> Found:
    if [identity(o) for o in default] != [renamed(o, probe) for o in probed]:
        raise Unexplained("a different value adds or removes objects")
    found = Found()
    for index, (a, b) in enumerate(zip(default, probed, strict=True)):
        merge_maps: dict[Pointer, None] = {}
        whole = probe.value if probe.shape is Shape.BLOCK else MISSING
        for pointer, old, new in walk_diff(a, b, (), whole):
            where = (index, pointer)
            if is_hash_pointer(pointer) and old is not MISSING and new is not MISSING:
                found.hashes.add(where)
                continue
            if probe.shape is Shape.MERGE:
                keys = probe.value
                last = pointer[-1] if pointer else None
                if (new is not MISSING and last in keys and new == keys[last]) or (
                    new is MISSING and old is not MISSING
                ):
                    merge_maps[pointer[:-1]] = None
                    continue
                if old is MISSING and new == keys:
                    found.added[where] = Whole(probe.expr, "json", guarded=True)
                    continue
                raise Unexplained(f"{'/'.join(map(str, pointer))} changed unexpectedly")
            if old is MISSING:
                if new == probe.value and type(new) is type(probe.value):
                    form = "int" if probe.integer else "json"
                    found.added[where] = Whole(probe.expr, form, guarded=True)
                    continue
                raise Unexplained(f"{'/'.join(map(str, pointer))} appeared unexpectedly")
            if new is MISSING:
                raise Unexplained(f"{'/'.join(map(str, pointer))} disappeared")
            if new == probe.value and type(new) is type(probe.value):
                emptied = empty()
                guarded = emptied is not None and get(emptied[index], pointer) is MISSING
                form = "int" if probe.integer else "json"
                found.whole[where] = Whole(probe.expr, form, guarded=guarded)
                continue
            if probe.integer and isinstance(new, str) and new == str(probe.value):
                found.whole[where] = Whole(probe.expr, "intstr")
                continue
            if (
                probe.embeddable
                and isinstance(new, str)
                and isinstance(old, str)
                and probe.sentinel in new
            ):
                text = "{{ " + probe.expr + (" | int64" if probe.integer else "") + " }}"
                for start, end in spans_in(old, new, probe.sentinel, probe.default_text):
                    found.spans.setdefault(where, []).append((start, end, text))
                continue
            raise Unexplained(
                f"{'/'.join(map(str, pointer))} changed from {old!r} to {new!r}, which the "
                "value does not explain"
            )
        for map_pointer in merge_maps:
            probed_map = get(b, map_pointer)
            generated = tuple(k for k in probed_map if k not in probe.value)
            if not generated:
                # nothing generated lives there: the whole mapping is the value
                found.whole[(index, map_pointer)] = Whole(probe.expr, "json", guarded=True)
            else:
                found.merges[(index, map_pointer)] = Merge(probe.expr, generated)
    return found


# --- the analysis of one instance -------------------------------------------------------


def _probe_values(param: Param, default: Any) -> list[Any]:
    candidates = [v for v in param.probes if v != default]
    if param.shape is Shape.TOGGLE:
        candidates = [not default]
    return candidates


def analyse(
    instance: Instance,
    render: Render,
    prefix: tuple[str, ...],
    file_of: Callable[[int], str],
    namespaced: bool = True,
) -> Analysis:
    """Every site where a value or the release namespace lands in one instance's objects."""
    default_doc = document(instance)
    objects = render(instance)
    analysis = Analysis(instance, objects, prefix, namespaced=namespaced)
    hashes: set[tuple[int, Pointer]] = set()
    spans: dict[tuple[int, Pointer], list[tuple[int, int, str, str]]] = {}
    claimed: dict[tuple[int, Pointer], str] = {}

    def accept(key: str, found: Found, priority: bool = False) -> str | None:
        """Record what a probe found, unless it collides with an earlier key."""
        for where in [*found.whole, *found.added, *found.merges]:
            if where in claimed or where in spans:
                return f"it lands where {claimed.get(where, 'another value')} lands"
        for where, parts in found.spans.items():
            if where in claimed:
                return f"it lands where {claimed[where]} lands"
            for start, end, _ in parts:
                for s, e, _, other in spans.get(where, []):
                    if (s, e) == (start, end) and priority:
                        continue
                    if s < end and start < e:
                        return f"it lands where {other} lands"
        for where, whole in found.whole.items():
            analysis.sites.setdefault(where[0], {})[where[1]] = whole
            claimed[where] = key
        for where, whole in found.added.items():
            analysis.added.setdefault(where[0], {})[where[1]] = whole
            claimed[where] = key
        for where, merge in found.merges.items():
            analysis.sites.setdefault(where[0], {})[where[1]] = merge
            claimed[where] = key
        for where, parts in found.spans.items():
            existing = spans.setdefault(where, [])
            for start, end, text in parts:
                if priority:
                    existing[:] = [p for p in existing if (p[0], p[1]) != (start, end)]
                existing.append((start, end, text, key))
        hashes.update(found.hashes)
        return None

    def run(probe: Probe, docs: list[dict[str, Any]]) -> tuple[Found | None, str]:
        reason = "no probe value renders"
        rendered_empty: list[list[dict[str, Any]] | None] = []

        def empty() -> list[dict[str, Any]] | None:
            """The render with the value empty, made only when a whole leaf needs it."""
            if not rendered_empty:
                emptied = instance_from(probe.guard_doc) if probe.guard_doc is not None else None
                rendered_empty.append(render(emptied) if emptied is not None else None)
            return rendered_empty[0]

        for doc in docs:
            probed_instance, refused = checked(doc)
            if probed_instance is None:
                reason = f"other values are refused for this instance ({refused})"
                continue
            try:
                return explain(probe, objects, render(probed_instance), empty), ""
            except Unexplained as exc:
                reason = str(exc)
        return None, reason

    # the release namespace
    if namespaced:
        doc = copy.deepcopy(default_doc)
        doc["metadata"]["namespace"] = NAMESPACE_SENTINEL
        probe = Probe(
            key="namespace",
            doc=doc,
            value=NAMESPACE_SENTINEL,
            shape=Shape.SCALAR,
            expr=NAMESPACE_EXPR,
            embeddable=True,
            sentinel=NAMESPACE_SENTINEL,
            default_text=instance.namespace,
            integer=False,
        )
        found, reason = run(probe, [doc])
        if found is None or accept("the namespace", found) is not None:
            raise AssertionError(f"the namespace cannot be templated: {reason}")

    # composite values (the image reference)
    image_ref = ""
    for composite in COMPOSITES:
        doc = default_doc
        for path, value in composite.probe.items():
            doc = with_value(doc, path, value)
        ref = values_ref(prefix, composite.prefix)
        expr = composite.expression.format(v=ref)
        probe = Probe(
            key=composite.name,
            doc=doc,
            value=composite.sentinel,
            shape=Shape.SCALAR,
            expr=expr,
            embeddable=True,
            sentinel=composite.sentinel,
            default_text=composite.default_text(instance),
            integer=False,
        )
        found, reason = run(probe, [doc])
        if found is not None:
            reason = accept(composite.name, found) or ""
        if reason:
            analysis.left_out += [Unoffered(k, reason) for k in composite.keys]
            continue
        analysis.composites.append(composite)
        if composite.name == "image":
            image_ref = ref

    offered_composite_keys = {k for c in analysis.composites for k in c.keys}
    for param in params_for(instance):
        if not param.landing:
            if param.key in offered_composite_keys:
                analysis.params.append(param)
            continue
        default = spec_value(default_doc, param.spec)
        ref = values_ref(prefix, param.path)
        expr = ref
        priority = False
        if param.key.startswith("agents.templates.") and default is None and image_ref:
            # an agent template without an image runs the server image
            expr = f'({ref} | default (include "paperclip.image" {image_ref}))'
            priority = True
        if param.shape is Shape.TOGGLE:
            reason = toggle(analysis, param, default_doc, render, ref)
            if reason:
                analysis.left_out.append(Unoffered(param.key, reason))
            else:
                analysis.params.append(param)
            continue
        candidates = _probe_values(param, default)
        if not candidates:
            analysis.left_out.append(Unoffered(param.key, "no probe value"))
            continue
        docs = [with_value(default_doc, param.spec, v) for v in candidates]
        reason = ""
        found = None
        for value, doc in zip(candidates, docs, strict=True):
            if param.shape is Shape.HOSTLIST:
                text = ",".join(value)
                default_text = ",".join(default or [])
                probe = Probe(
                    key=param.key,
                    doc=doc,
                    value=value,
                    shape=param.shape,
                    expr=ref,
                    embeddable=True,
                    sentinel=("," + text),
                    default_text=("," + default_text) if default_text else "",
                    integer=False,
                )
            else:
                probe = Probe(
                    key=param.key,
                    doc=doc,
                    value=value,
                    shape=param.shape,
                    expr=expr,
                    embeddable=param.embeddable,
                    sentinel=str(value),
                    default_text=str(
                        default if default is not None else _implicit_default(instance, param)
                    ),
                    integer=isinstance(value, int) and not isinstance(value, bool),
                    guard_doc=with_value(default_doc, param.spec, None) if param.optional else None,
                )
            try:
                found, reason = run(probe, [doc])
            except (AssertionError, LookupError, TypeError, ValueError) as exc:
                found, reason = None, f"it cannot be located in the objects ({exc})"
            if found is None:
                continue
            if param.shape is Shape.HOSTLIST:
                host_text = "{{ range " + ref + " }},{{ . }}{{ end }}"
                found.spans = {
                    w: [(s, e, host_text) for s, e, _ in parts] for w, parts in found.spans.items()
                }
            clash = accept(param.key, found, priority)
            if clash:
                reason, found = clash, None
            break
        if found is None:
            analysis.left_out.append(Unoffered(param.key, reason))
            continue
        analysis.params.append(param)
        narrowed = narrow(param, default, default_doc, objects, render)
        if narrowed:
            analysis.schema_overrides[param.key] = narrowed

    # the hashes of ConfigMaps that values feed
    for index, pointer in sorted(hashes, key=lambda w: (w[0], tuple(map(str, w[1])))):
        value = get(objects[index], pointer)
        try:
            site = find_hash(objects, value, file_of)
        except LookupError as exc:
            raise AssertionError(f"{identity(objects[index])}: {exc}") from None
        analysis.sites.setdefault(index, {})[pointer] = site
    for (index, pointer), parts in spans.items():
        ordered = tuple(sorted((s, e, t) for s, e, t, _ in parts))
        analysis.sites.setdefault(index, {})[pointer] = Spans(ordered)
    return analysis


def _implicit_default(instance: Instance, param: Param) -> str:
    """What an unset value renders as (an agent template image: the server image)."""
    if param.key.startswith("agents.templates."):
        return instance.spec.image.reference
    return ""


def narrow(
    param: Param,
    default: Any,
    doc: dict[str, Any],
    objects: list[dict[str, Any]],
    render: Render,
) -> dict[str, Any]:
    """Schema bounds for this instance: an integer whose minimum would change the object set
    (or break a rule) gets this instance's default as its minimum."""
    if param.schema.get("type") != "integer" or not isinstance(default, int):
        return {}
    minimum = param.schema.get("minimum")
    if minimum is None or minimum >= default:
        return {}
    instance = instance_from(with_value(doc, param.spec, minimum))
    if instance is not None:
        probed = render(instance)
        if [identity(o) for o in probed] == [identity(o) for o in objects]:
            return {}
    return {"minimum": default}


def toggle(
    analysis: Analysis,
    param: Param,
    doc: dict[str, Any],
    render: Render,
    ref: str,
) -> str:
    """A boolean that removes whole objects when flipped: their files get ``{{- if }}``."""
    default = spec_value(doc, param.spec)
    if default is not True:
        return "only a toggle that is on by default (and removes objects when off) is templated"
    flipped = instance_from(with_value(doc, param.spec, False))
    if flipped is None:
        return "the spec refuses the other value for this instance"
    kept = {identity(o): o for o in render(flipped)}
    removed = []
    for index, obj in enumerate(analysis.objects):
        other = kept.pop(identity(obj), None)
        if other is None:
            removed.append(index)
            continue
        for pointer, _, _ in walk_diff(obj, other):
            if not is_hash_pointer(pointer):
                kind, name = identity(obj)
                return f"switching it changes {kind} {name}, not only the object set"
    if kept:
        return "switching it adds objects"
    if not removed:
        return "switching it changes nothing"
    for index in removed:
        analysis.conditions[index] = ref
    return ""


def lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def document_with_values(
    instance: Instance, params: list[Param], values: dict[str, Any], prefix: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The Instance document with chart values applied to the spec fields they stand for:
    what the Kustomize tree of the same change is synthesized from."""
    doc = document(instance)
    for param in params:
        value = lookup(values, (*prefix, *param.path))
        if value is not MISSING:
            doc = with_value(doc, param.spec, to_spec(param, value))
    return doc
