"""Where a value lands, found by rendering the typed model, not by hand-written templates.

A *probe* sets spec fields to unusual valid values and the instance is rendered again; the
leaves that differ from the default render are where the values land:

* a leaf that became the probe value is replaced by the value (``| toJson``, ``| int64``);
* a string leaf that now contains the probe text gets the value spliced in at exactly those
  positions (the rest of the string must be unchanged);
* a key that only exists with the probe value is written under ``{{- with }}``;
* a pod annotation holding the hash of a ConfigMap's data is computed in the template from
  the rendered ConfigMap, so a value that changes the ConfigMap still rolls the pods.

Many probes go into one render (:func:`explain_group`): each carries marks (its probe texts
and numbers) that no other probe of the group shares, so every changed leaf names the value
that changed it. A group whose render cannot be read that way tells nothing, and
:mod:`~constructs_lib.render.helm.analysis` splits it; one probe alone is read by
:func:`explain`, which says exactly why a value cannot be offered.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ValidationError

from constructs_lib.constructs.build import Plan, manifests, plan
from constructs_lib.constructs.names import CONFIG_HASH_ANNOTATION
from constructs_lib.constructs.package_files import sources
from constructs_lib.errors import Problem
from constructs_lib.render.helm.registry import Param, Shape
from constructs_lib.render.helm.sites import (
    MISSING,
    Merge,
    Pointer,
    Whole,
    get,
    hashed_config,
)
from constructs_lib.spec import Instance, rules

Objects = list[dict[str, Any]]
Where = tuple[int, Pointer]
"""A leaf of the objects: (object index, pointer)."""
Leaf = tuple[int, Pointer, Any, Any]
"""(object index, pointer, default value, probed value); MISSING where a key is absent."""
Change = tuple[tuple[str, ...], Any]
"""(spec path, value): a field of an Instance document set (None removes it)."""
Marks = tuple[frozenset[str], frozenset[int]]
"""The texts and numbers a probe brings into the objects (:attr:`Probe.marks`)."""

# --- documents --------------------------------------------------------------------------


def document(instance: Instance) -> dict[str, Any]:
    return instance.model_dump(by_alias=True, mode="json", exclude_none=True)


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
    last = int(path[-1]) if isinstance(node, list) else path[-1]
    if value is not None:
        node[last] = copy.deepcopy(value)
    elif isinstance(node, dict):
        node.pop(last, None)
    return out


def with_values(doc: dict[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    for path, value in changes:
        doc = with_value(doc, path, value)
    return doc


def _said(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


@dataclass(frozen=True)
class Base:
    """An instance and its document, which the documents of its probes share every mapping
    they do not change with."""

    doc: dict[str, Any]
    instance: Instance


def _reused(node: Any, original: Any, model: Any) -> Any:
    """``node`` of a probe document with each mapping that is still the instance's own (the
    very object of its document) replaced by the instance's model of it: pydantic takes a
    model as it is, so only what the probe changed is validated again."""
    if node is original and isinstance(model, BaseModel):
        return model
    if not (isinstance(node, dict) and isinstance(original, dict) and isinstance(model, BaseModel)):
        return node
    names = _field_names(type(model))
    return {
        key: _reused(value, original.get(key), getattr(model, names[key]))
        if key in names
        else value
        for key, value in node.items()
    }


def _ruled(doc: dict[str, Any], base: Base | None = None) -> tuple[Instance | None, str]:
    """(the Instance of a document, "") or (None, why the model or a spec rule refuses it);
    ``base``: the instance the document is a probe of (what it shares is not validated again)."""
    try:
        instance = Instance.model_validate(_reused(doc, base.doc, base.instance) if base else doc)
    except (ValidationError, ValueError) as exc:
        return None, str(exc).splitlines()[0]
    problems = rules.errors(instance)
    return (None, _said(problems[0])) if problems else (instance, "")


@functools.cache
def _field_names(model: type[BaseModel]) -> dict[str, str]:
    """A model's field names by the alias a document spells them with."""
    return {info.alias or name: name for name, info in model.model_fields.items()}


def refused_by_rules(
    instance: Instance, doc: dict[str, Any], path: tuple[str, ...], value: Any
) -> bool:
    """Whether the model or a spec rule refuses ``instance`` (``doc``: its document) with
    ``spec.<path>`` set to ``value``; only the section the change is in is validated again
    (see :class:`Base`), and no feature plans it."""
    return bool(_ruled(with_value(doc, path, value), Base(doc, instance))[1])


def probe_plan(doc: dict[str, Any], base: Base | None = None) -> tuple[Plan | None, str]:
    """(the plan of an Instance document, "") or (None, why the model, a spec rule or a
    feature refuses it). The rules come first: a refusal by a rule costs no plan."""
    instance, refused = _ruled(doc, base)
    if instance is None:
        return None, refused
    planned = plan(instance)
    errors = planned.contribution.errors
    return (None, _said(errors[0])) if errors else (planned, "")


def probe_render(doc: dict[str, Any], base: Base | None = None) -> tuple[Objects | None, str]:
    """(the objects of an Instance document, "") or (None, why it is refused)."""
    planned, refused = probe_plan(doc, base)
    return (manifests(planned, sources()), "") if planned is not None else (None, refused)


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
    """The empty value of a parameter's type ("", [] or {})."""
    kind = param.schema.get("type")
    return [] if kind == "array" else {} if kind == "object" else ""


def default_value(param: Param, doc: dict[str, Any]) -> Any:
    """The value in the document, else the empty value of its type."""
    value = spec_value(doc, param.spec)
    return empty_of(param) if value is None else value


# --- probes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One landing to find: how the spec changes, what to look for, what to write instead."""

    key: str
    changes: tuple[Change, ...]
    """(spec path, value) set together (a :data:`METADATA` path for metadata fields)."""
    value: Any
    shape: Shape
    expr: str
    embeddable: bool
    sentinel: str
    default_text: str
    default: Any
    """What a whole leaf holds when the value is the chart's default (values.yaml)."""
    integer: bool
    guard: tuple[str, ...] | None = None
    """The spec path emptied to learn which keys vanish with the value (optional values)."""

    @cached_property
    def marks(self) -> Marks:
        """The texts and numbers this probe brings into the objects: its sentinel, the leaf
        values of a block, the keys and values of a merged mapping. A number counts as text
        only where it may be spliced into strings."""
        texts: set[str] = {self.sentinel} if self.sentinel and self.embeddable else set()
        numbers: set[int] = set()
        _collect(self.value, texts, numbers, self.embeddable, self.shape is Shape.MERGE)
        return frozenset(texts), frozenset(numbers)


def _collect(value: Any, texts: set[str], numbers: set[int], embeddable: bool, keys: bool) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        numbers.add(value)
        if embeddable:
            texts.add(str(value))
    elif isinstance(value, str):
        texts.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if keys:
                texts.add(key)
            _collect(item, texts, numbers, embeddable, keys)
    elif isinstance(value, list):
        for item in value:
            _collect(item, texts, numbers, embeddable, keys)


@functools.cache
def clash(a: Marks, b: Marks) -> bool:
    """Whether one render of two probes (``a``, ``b``: their marks) could not tell their
    landings apart: a text of one holds a text of the other, or their numbers are equal or
    adjacent. Marks are the same for every instance but the namespace's and the names':
    remembered."""
    texts_a, numbers_a = a
    texts_b, numbers_b = b
    if any(x in y or y in x for x in texts_a for y in texts_b):
        return True
    return any(abs(x - y) <= 1 for x in numbers_a for y in numbers_b)


# --- diffing ----------------------------------------------------------------------------


def walk_diff(
    a: Any, b: Any, at: Pointer = (), blocks: Sequence[Any] = ()
) -> list[tuple[Pointer, Any, Any]]:
    """(pointer, default, probe) of every difference; MISSING where a key is absent. A value
    equal to one of ``blocks`` (a probed block) is one difference, not one per leaf."""
    out: list[tuple[Pointer, Any, Any]] = []
    _diff(a, b, at, blocks, out)
    return out


def _diff(a: Any, b: Any, at: Pointer, blocks: Sequence[Any], out: list[Any]) -> None:
    if a is b or (type(a) is type(b) and a == b):
        return
    if b in blocks:
        out.append((at, a, b))
    elif isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if key in b:
                _diff(value, b[key], (*at, key), blocks, out)
            else:
                out.append(((*at, key), value, MISSING))
        out.extend(((*at, key), MISSING, value) for key, value in b.items() if key not in a)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, (*at, i), blocks, out)
    else:
        out.append((at, a, b))


def identity(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _renamed(obj: dict[str, Any], probes: Sequence[Probe]) -> tuple[str, str]:
    """The identity with probe texts in the name put back to their defaults (a
    cluster-scoped object's name contains its instance's namespace). Only a value that may
    be spliced into strings can be in a name: the 3 of a replica count is not the 3 of
    ``team-3``."""
    kind, name = identity(obj)
    for probe in probes:
        if probe.embeddable and probe.sentinel and probe.sentinel in name:
            name = name.replace(probe.sentinel, probe.default_text)
    return kind, name


def same_objects(default: Objects, probed: Objects, probes: Sequence[Probe] = ()) -> bool:
    """Whether ``probed`` holds ``default``'s objects in its order: each of the same kind and
    name, the name as it is or with the probe texts put back (a port of 31337 is not in
    ``team-31337`` because of the probe)."""
    return len(default) == len(probed) and all(
        identity(a) == identity(b) or identity(a) == _renamed(b, probes)
        for a, b in zip(default, probed, strict=True)
    )


def _is_hash(leaf: Leaf) -> bool:
    """Whether a leaf is a config hash annotation that changed (the ConfigMap it hashes did)."""
    return leaf[1][-2:] == ("annotations", CONFIG_HASH_ANNOTATION) and MISSING not in leaf[2:]


def _leaves(default: Objects, probed: Objects, probes: Sequence[Probe]) -> list[Leaf] | None:
    """Every changed leaf, or None when the probes add or remove objects."""
    if not same_objects(default, probed, probes):
        return None
    blocks = [p.value for p in probes if p.shape is Shape.BLOCK]
    return [
        (index, pointer, old, new)
        for index, (a, b) in enumerate(zip(default, probed, strict=True))
        for pointer, old, new in walk_diff(a, b, (), blocks)
    ]


# --- explaining a probe -----------------------------------------------------------------


class Unexplained(Exception):
    """The probe changed something its value cannot account for."""


@dataclass
class Found:
    whole: dict[Where, Whole] = field(default_factory=dict)
    added: dict[Where, Whole] = field(default_factory=dict)
    spans: dict[Where, list[tuple[int, int, str]]] = field(default_factory=dict)
    merges: dict[Where, Merge] = field(default_factory=dict)
    hashes: set[Where] = field(default_factory=set)
    generated: dict[Where, Any] = field(default_factory=dict)
    """Whole leaves that hold something else than the value's default by default (what the
    generator fills in while the value is unset), as the value's type."""
    filled: dict[Where, Any] = field(default_factory=dict)
    """Whole leaves of an optional value that hold something else than the empty value when
    the value is emptied (what the generator fills in then, e.g. the in-cluster URL for an
    unset publicURL): the template would write the empty value there, so the chart's schema
    refuses it."""


def spans_in(default: str, probed: str, sentinel: str, default_text: str) -> list[tuple[int, int]]:
    """Positions in ``default`` that ``sentinel`` replaced, or Unexplained."""
    pieces = probed.split(sentinel)
    if len(pieces) < 2 or default_text.join(pieces) != default:
        raise Unexplained(f"a string changed in a way the value does not explain: {probed!r}")
    width = len(default_text)  # each piece is followed by one default text, but the last
    ends = itertools.accumulate(len(piece) + width for piece in pieces[:-1])
    return [(end - width, end) for end in ends]


Vanishes = Callable[[int, Pointer], Any]
"""The leaf at (object index, pointer) when the value is emptied: MISSING when the key is
then absent (it is written under ``{{- with }}``), :data:`NOT_EMPTIED` when the value is not
optional or the rules refuse it empty; asked only where a whole leaf is the value."""

NOT_EMPTIED: Any = object()
"""What :data:`Vanishes` says of a value that has no emptied render."""


def is_empty(value: Any) -> bool:
    """Whether a leaf holds what an emptied value's template writes ("", {} or [])."""
    return isinstance(value, str | dict | list) and not value


def pointer_text(pointer: Pointer) -> str:
    """A pointer as a message shows it (a/b/0)."""
    return "/".join(map(str, pointer))


def is_value(new: Any, value: Any) -> bool:
    """``new`` equals ``value`` and is of its type (True is not 1)."""
    return bool(new == value and type(new) is type(value))


def _merge_leaf(probe: Probe, leaf: Leaf, found: Found, maps: dict[Where, None]) -> None:
    index, pointer, old, new = leaf
    keys = probe.value
    last = pointer[-1] if pointer else None
    if (new is not MISSING and last in keys and new == keys[last]) or (
        new is MISSING and old is not MISSING
    ):
        maps[(index, pointer[:-1])] = None
    elif old is MISSING and new == keys:
        found.added[(index, pointer)] = Whole(probe.expr, "json", guarded=True)
    else:
        raise Unexplained(f"{pointer_text(pointer)} changed unexpectedly")


def _note_default(probe: Probe, found: Found, where: tuple[int, Pointer], read: Any) -> None:
    """Keep a whole leaf that does not hold the value's default (``read``: the leaf as the
    value's type) in ``found.generated``."""
    if not is_value(read, probe.default):
        found.generated[where] = read


def _leaf(probe: Probe, leaf: Leaf, found: Found, vanishes: Vanishes) -> None:
    """Record where one changed leaf takes the probe's value, or raise Unexplained."""
    index, pointer, old, new = leaf
    where = (index, pointer)
    form = "int" if probe.integer else "json"
    if old is MISSING:
        if is_value(new, probe.value):
            found.added[where] = Whole(probe.expr, form, guarded=True)
            return
        raise Unexplained(f"{pointer_text(pointer)} appeared unexpectedly")
    if new is MISSING:
        raise Unexplained(f"{pointer_text(pointer)} disappeared")
    if is_value(new, probe.value):
        _note_default(probe, found, where, old)
        emptied = vanishes(index, pointer)
        if emptied is not MISSING and emptied is not NOT_EMPTIED and not is_empty(emptied):
            found.filled[where] = emptied
        found.whole[where] = Whole(probe.expr, form, guarded=emptied is MISSING)
    elif probe.integer and isinstance(new, str) and new == str(probe.value):
        _note_default(
            probe, found, where, int(old) if isinstance(old, str) and old.isdigit() else old
        )
        found.whole[where] = Whole(probe.expr, "intstr")
    elif (
        probe.embeddable and isinstance(new, str) and isinstance(old, str) and probe.sentinel in new
    ):
        text = "{{ " + probe.expr + (" | int64" if probe.integer else "") + " }}"
        for start, end in spans_in(old, new, probe.sentinel, probe.default_text):
            found.spans.setdefault(where, []).append((start, end, text))
    else:
        raise Unexplained(
            f"{pointer_text(pointer)} changed from {old!r} to {new!r}, which the value does "
            "not explain"
        )


def _found(probe: Probe, leaves: Sequence[Leaf], probed: Objects, vanishes: Vanishes) -> Found:
    """What one probe's changed leaves (in object order) say, or Unexplained."""
    found = Found()
    maps: dict[Where, None] = {}
    for leaf in leaves:
        if _is_hash(leaf):
            found.hashes.add((leaf[0], leaf[1]))
        elif probe.shape is Shape.MERGE:
            _merge_leaf(probe, leaf, found, maps)
        else:
            _leaf(probe, leaf, found, vanishes)
    for index, pointer in maps:
        generated = tuple(k for k in get(probed[index], pointer) if k not in probe.value)
        if generated:
            found.merges[(index, pointer)] = Merge(probe.expr, generated)
        else:  # nothing generated lives there: the whole mapping is the value
            found.whole[(index, pointer)] = Whole(probe.expr, "json", guarded=True)
    return found


def explain(probe: Probe, default: Objects, probed: Objects, vanishes: Vanishes) -> Found:
    """Where one probe's value lands, or Unexplained saying why it cannot be offered."""
    leaves = _leaves(default, probed, (probe,))
    if leaves is None:
        raise Unexplained("a different value adds or removes objects")
    return _found(probe, leaves, probed, vanishes)


# --- many probes in one render ----------------------------------------------------------


def _owners(probes: Sequence[Probe]) -> Callable[[Leaf, Objects], list[Probe]]:
    """The probes whose value explains a changed leaf (by value, map key or mark text), for
    the leaves of one render: the probes are sorted once by what could match a leaf."""
    merges = [(i, p) for i, p in enumerate(probes) if p.shape is Shape.MERGE]
    others = [(i, p) for i, p in enumerate(probes) if p.shape is not Shape.MERGE]
    by_type: dict[type, list[tuple[int, Probe]]] = {}
    for i, probe in others:
        by_type.setdefault(type(probe.value), []).append((i, probe))
    integers = [(str(p.value), i) for i, p in others if p.integer]
    marks = [(mark, i) for i, p in others for mark in p.marks[0] if mark]

    def owners(leaf: Leaf, probed: Objects) -> list[Probe]:
        index, pointer, old, new = leaf
        owning: set[int] = set()
        for i, probe in merges:
            keys = probe.value
            last = pointer[-1] if pointer else None
            if new is MISSING:
                holder = get(probed[index], pointer[:-1])
                owns = isinstance(holder, dict) and all(k in holder for k in keys)
            else:
                owns = (last in keys and new == keys[last]) or (old is MISSING and new == keys)
            if owns:
                owning.add(i)
        owning.update(i for i, probe in by_type.get(type(new), ()) if new == probe.value)
        if isinstance(new, str):
            owning.update(i for text, i in integers if new == text)
            old_text = old if isinstance(old, str) else ""
            owning.update(i for mark, i in marks if new.count(mark) > old_text.count(mark))
        return [probes[i] for i in sorted(owning)]

    return owners


def _alone(leaf: Leaf, owner: Probe, others: Sequence[Probe]) -> Leaf | None:
    """A string leaf changed by several probes as ``owner``'s probe alone would leave it (the
    others' texts put back to their defaults), or None when that cannot be told."""
    index, pointer, old, new = leaf
    if not isinstance(new, str) or not isinstance(old, str):
        return None
    for other in others:
        if other is owner:
            continue
        if not other.sentinel or other.sentinel in owner.sentinel:
            return None
        new = new.replace(other.sentinel, other.default_text)
    return index, pointer, old, new


def _masked(probes: Sequence[Probe], owners: list[Probe], leaf: Leaf) -> list[Probe]:
    """Probes that may land in a leaf another probe's value replaced as a whole (or removed):
    their default text is in the old value, so alone they might have landed there. Probed
    alone, they say where they land. A leaf that held exactly the owner's default was the
    owner's value itself: what it holds is the user's text, and masks nothing."""
    _, _, old, new = leaf
    if len(owners) != 1:
        return []
    owner = owners[0]
    if isinstance(new, str) and isinstance(old, str) and new != owner.value:
        return []
    if is_value(old, owner.default):
        return []
    text = old if isinstance(old, str) else json.dumps(old) if isinstance(old, dict | list) else ""
    scalar = "" if isinstance(old, dict | list) or old is MISSING else str(old)
    if not (text or scalar):  # an empty leaf or a new key: no other value's text was there
        return []
    return [
        p
        for p in probes
        if p is not owner
        and p.default_text
        and ((p.embeddable and _has_word(text, p.default_text)) or p.default_text == scalar)
    ]


def _has_word(text: str, word: str) -> bool:
    """``word`` in ``text`` with no letter or digit right before or after it."""
    return re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", text) is not None


def explain_group(
    probes: Sequence[Probe],
    default: Objects,
    probed: Objects,
    vanishes: Callable[[Probe], Vanishes],
) -> dict[str, Found] | None:
    """What one render of several probes says: what each clean probe found (a probe whose
    leaves could not be told apart is not there: it is probed alone), or None when the render
    tells nothing (objects added or removed, a leaf no probe explains)."""
    leaves = _leaves(default, probed, probes)
    if leaves is None:
        return None
    mine: dict[str, list[Leaf]] = {p.key: [] for p in probes}
    hashes: list[Leaf] = []
    tainted: set[str] = set()
    owners_of = _owners(probes)
    for leaf in leaves:
        if _is_hash(leaf):
            hashes.append(leaf)
            continue
        owners = owners_of(leaf, probed)
        if not owners:
            return None
        tainted.update(p.key for p in _masked(probes, owners, leaf))
        for owner in owners:
            alone = leaf if len(owners) == 1 else _alone(leaf, owner, owners)
            if alone is None:
                tainted.add(owner.key)
            else:
                mine[owner.key].append(alone)
    for leaf in hashes:
        hashed = hashed_config(default, leaf[2])
        users = [k for k, some in mine.items() if hashed and any(x[0] == hashed[0] for x in some)]
        if not users:  # no ConfigMap hashed, or no value changed it
            return None
        for key in users:
            mine[key].append(leaf)
    out: dict[str, Found] = {}
    for probe in probes:
        if probe.key in tainted:
            continue
        leaves_of = sorted(mine[probe.key], key=lambda leaf: leaf[0])  # object order
        with contextlib.suppress(Unexplained):  # then probed alone, which says why
            out[probe.key] = _found(probe, leaves_of, probed, vanishes(probe))
    return out
