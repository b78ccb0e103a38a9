"""One analysis for instances that differ only by name.

Probing an instance costs dozens of renders. Instances of one app that share everything but
their name (same namespace, spec, labels and annotations) usually render the same objects
with the name text swapped. For such an instance the analysis of the first one is carried
over, after checking that this is really so: every object of the first instance, with its
name replaced by the other's in every string and key, must equal the other instance's object
exactly (config-hash annotations aside: they are recomputed). Sites inside strings move with
the length difference of the names; a site that overlaps the name, or any other mismatch,
means the instance is probed on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from constructs_lib.constructs.names import CONFIG_HASH_ANNOTATION, config_hash
from constructs_lib.render.helm.sites import (
    Hash,
    Merge,
    Pointer,
    Site,
    Spans,
    Whole,
    find_hash,
    get,
    go_json,
    is_hash_pointer,
    sha256,
    values_ref,
)
from constructs_lib.render.helm.templates import render_template
from constructs_lib.render.helper_process import RunStore
from constructs_lib.render.layout import file_name

if TYPE_CHECKING:  # the synthesis helper process runs the jobs without the spec models
    from constructs_lib.render.helm.probe import Analysis
    from constructs_lib.spec import Instance


def share_key(instance: Instance) -> str:
    """Equal for instances that differ only by name."""
    from constructs_lib.render.helm.probe import document

    doc = document(instance)
    doc["metadata"].pop("name", None)
    return json.dumps(doc, sort_keys=True)


def _renames(old: str, new: str) -> Callable[[Any], Any]:
    def rename(part: Any) -> Any:
        return part.replace(old, new) if isinstance(part, str) else part

    return rename


_OUTSIDE_STRINGS = set("0123456789+-.eE")
"""Characters of JSON numbers: a name made only of these could match outside a string."""


def _text_safe(old: str) -> bool:
    """Whether every match of ``old`` in JSON text (away from a backslash) lies inside a
    string: a DNS label with a character no number has, not part of true/false/null."""
    return (
        re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", old) is not None
        and not set(old) <= _OUTSIDE_STRINGS
        and not any(old in literal for literal in ("true", "false", "null"))
    )


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


_HASHED = re.compile(rf'"{re.escape(CONFIG_HASH_ANNOTATION)}":"[0-9a-f]{{64}}"')
"""A config-hash annotation in JSON text (its value is recomputed, not compared)."""


def _odd_backslashes_before(text: str, index: int) -> bool:
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _in_escape(text: str, start: int) -> bool:
    """Whether the character at ``start`` of JSON text belongs to an escape sequence (the
    second character of ``\\n``, ``\\"``..., or one of the digits of ``\\uXXXX``)."""
    if _odd_backslashes_before(text, start):
        return True
    return any(
        start - k >= 1 and text[start - k] == "u" and _odd_backslashes_before(text, start - k)
        for k in range(1, 5)
    )


def _renamable(text: str, old: str) -> str:
    """``text`` when no match of ``old`` in it lies inside an escape sequence, else ""."""
    if any(_in_escape(text, m.start()) for m in re.finditer(re.escape(old), text)):
        return ""
    return text


def _same_text_renamed(text: str, b: Any, old: str, new: str) -> bool:
    """The quick form of :func:`_equal_renamed` for a ``_text_safe`` name, given the JSON
    text of ``a`` (checked by :func:`_renamable`): the texts, with ``old`` replaced in
    ``a``'s, are equal (config-hash values aside). False also means "not shown" (keys in
    another order): the caller then compares leaf by leaf."""
    renamed, other = text.replace(old, new), _json(b)
    if renamed == other:
        return True
    return _HASHED.sub("#", renamed) == _HASHED.sub("#", other)


def _equal_renamed(a: Any, b: Any, old: str, new: str, at: Pointer = ()) -> bool:
    """``b`` is ``a`` with ``old`` replaced by ``new`` in every string and key (the values of
    config-hash annotations are not compared)."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        for key, value in a.items():
            other = key.replace(old, new)
            if other not in b:
                return False
            if is_hash_pointer((*at, key)):
                continue
            if not _equal_renamed(value, b[other], old, new, (*at, key)):
                return False
        return True
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(
                _equal_renamed(x, y, old, new, (*at, i))
                for i, (x, y) in enumerate(zip(a, b, strict=True))
            )
        )
    if isinstance(a, str):
        return isinstance(b, str) and a.replace(old, new) == b
    return type(a) is type(b) and a == b


def _moved_spans(text: str, parts: tuple[tuple[int, int, str], ...], old: str, new: str) -> Spans:
    """The spans of ``text`` at their places in ``text.replace(old, new)``; LookupError when
    one overlaps an occurrence of ``old``."""
    hits = [m.start() for m in re.finditer(re.escape(old), text)]
    shift = len(new) - len(old)
    moved = []
    for start, end, action in parts:
        before = 0
        for hit in hits:
            if hit < end and start < hit + len(old):
                raise LookupError("a value lands inside the instance name")
            if hit + len(old) <= start:
                before += 1
        moved.append((start + before * shift, end + before * shift, action))
    return Spans(tuple(moved))


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


class _Refs:
    """Rewrites the values references of one prefix to another's."""

    def __init__(self, old: tuple[str, ...], new: tuple[str, ...]) -> None:
        self.new = new
        self.done: dict[str, str] = {}
        [name] = old
        quoted = re.escape(json.dumps(name))
        self.dotted = re.compile(
            rf"\$\.Values\.{re.escape(name)}((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?![A-Za-z0-9_])"
        )
        self.indexed = re.compile(rf'\(index \$\.Values {quoted}((?: "(?:[^"\\]|\\.)*")*)\)')

    def __call__(self, text: str) -> str:
        if text not in self.done:
            self.done[text] = self._rewrite(text)
        return self.done[text]

    def _rewrite(self, text: str) -> str:
        text = self.dotted.sub(lambda m: values_ref(self.new, tuple(m[1][1:].split("."))), text)
        return self.indexed.sub(
            lambda m: values_ref(self.new, tuple(json.loads(q) for q in _QUOTED.findall(m[1]))),
            text,
        )


def _moved_hash(
    site: Hash,
    probed: Probed,
    objects: list[dict[str, Any]],
    value: Any,
    file_of: Callable[[int], str],
) -> Hash:
    """The hash site for the ConfigMap at the place of the first instance's (checked: its
    digest is the annotation's value), else found among all ConfigMaps."""
    for index, name in enumerate(probed.files):
        if name != site.config_file:
            continue
        data = objects[index].get("data", {})
        hashed = {site.wrap_key: data.get(site.wrap_key)} if site.wrap_key else data
        if config_hash(hashed) == value:
            return Hash(file_of(index), site.wrap_key, value, sha256(go_json(hashed)))
    return find_hash(objects, value, file_of)


def _moved_site(site: Site, refs: _Refs) -> Site:
    if isinstance(site, Whole):
        expr = refs(site.expr)
        return site if expr == site.expr else Whole(expr, site.form, site.guarded)
    if isinstance(site, Merge):
        return Merge(refs(site.expr), site.generated)
    if isinstance(site, Spans):
        return Spans(tuple((s, e, refs(t)) for s, e, t in site.parts))
    return site


@dataclass
class Probed:
    """The sites of a probed instance, to carry over to instances that differ only by name.
    Plain data (no parameters: their ``applies`` are closures), so it can be sent to the
    synthesis helper process."""

    name: str
    prefix: tuple[str, ...]
    objects: list[dict[str, Any]]
    sites: dict[int, dict[Pointer, Site]]
    added: dict[int, dict[Pointer, Whole]]
    conditions: dict[int, str]
    files: list[str] = field(default_factory=list)
    """The template file name of each object."""
    named: set[Pointer] = field(default_factory=set)
    """Site pointers with a key that holds the instance name."""
    _texts: list[str] | None = None

    @classmethod
    def of(cls, analysis: Analysis) -> Probed:
        name = analysis.instance.name
        pointers = [p for sites in analysis.sites.values() for p in sites]
        return cls(
            name=name,
            prefix=analysis.prefix,
            objects=analysis.objects,
            sites=analysis.sites,
            added=analysis.added,
            conditions=analysis.conditions,
            files=[file_name(o) for o in analysis.objects],
            named={p for p in pointers if any(isinstance(k, str) and name in k for k in p)},
        )

    @property
    def texts(self) -> list[str]:
        """The JSON text of each object, or "" where the name occurs inside an escape
        sequence (made once, compared with many instances)."""
        if self._texts is None:
            self._texts = [_renamable(_json(o), self.name) for o in self.objects]
        return self._texts


@dataclass
class Moved:
    """The sites of one instance, carried over from a probed one."""

    sites: dict[int, dict[Pointer, Site]]
    added: dict[int, dict[Pointer, Whole]]
    conditions: dict[int, str]


def move_sites(
    probed: Probed,
    name: str,
    objects: list[dict[str, Any]],
    prefix: tuple[str, ...],
    file_of: Callable[[int], str],
) -> Moved | None:
    """The probed sites at their places in the objects of instance ``name`` (same spec,
    another name), or None when those objects are not the probed ones with the name
    swapped."""
    old, new = probed.name, name
    if len(objects) != len(probed.objects) or len(probed.prefix) != 1 or len(prefix) != 1:
        return None
    if old == new and prefix == probed.prefix:  # the probed instance itself
        if objects != probed.objects:
            return None
        return Moved(probed.sites, probed.added, probed.conditions)
    texts = probed.texts if _text_safe(old) else [""] * len(objects)
    for a, b, text in zip(probed.objects, objects, texts, strict=True):
        if not (text and _same_text_renamed(text, b, old, new)) and not _equal_renamed(
            a, b, old, new
        ):
            return None
    rename = _renames(old, new)
    refs = _Refs(probed.prefix, prefix)
    out = Moved({}, {}, {})
    try:
        for index, sites in probed.sites.items():
            moved: dict[Pointer, Site] = {}
            for pointer, site in sites.items():
                at = tuple(rename(p) for p in pointer) if pointer in probed.named else pointer
                if isinstance(site, Hash):
                    site = _moved_hash(site, probed, objects, get(objects[index], at), file_of)
                elif isinstance(site, Spans):
                    text = get(probed.objects[index], pointer)
                    site = _moved_spans(text, site.parts, old, new)
                elif isinstance(site, Merge):
                    site = Merge(site.expr, tuple(rename(k) for k in site.generated))
                moved[at] = _moved_site(site, refs)
            out.sites[index] = moved
    except LookupError:
        return None
    for index, added in probed.added.items():
        out.added[index] = {
            tuple(rename(p) for p in pointer): Whole(refs(s.expr), s.form, s.guarded)
            for pointer, s in added.items()
        }
    out.conditions = {index: refs(expr) for index, expr in probed.conditions.items()}
    return out


def adopt(
    first: Analysis,
    moved: Moved,
    instance: Instance,
    objects: list[dict[str, Any]],
    prefix: tuple[str, ...],
) -> Analysis:
    """The analysis of ``instance``: the moved sites, and what ``first`` offers."""
    old, new = first.instance.name, instance.name
    from constructs_lib.render.helm.probe import Analysis

    out = Analysis(instance, objects, prefix, namespaced=first.namespaced)
    out.sites, out.added, out.conditions = moved.sites, moved.added, moved.conditions
    out.params = list(first.params)
    out.composites = list(first.composites)
    # the name where it stands as a name (not inside a probe value such as "zqhelm-class")
    named = re.compile(rf"(?<![a-z0-9]){re.escape(old)}(?![a-z0-9])")
    out.left_out = [type(u)(u.key, named.sub(new, u.reason)) for u in first.left_out]
    out.schema_overrides = dict(first.schema_overrides)
    return out


def carry_over(
    first: Analysis,
    probed: Probed,
    instance: Instance,
    objects: list[dict[str, Any]],
    prefix: tuple[str, ...],
    file_of: Callable[[int], str],
) -> Analysis | None:
    """``first``'s analysis moved to ``instance`` (same spec, another name), or None."""
    moved = move_sites(probed, instance.name, objects, prefix, file_of)
    return adopt(first, moved, instance, objects, prefix) if moved is not None else None


# --- in the synthesis helper process -----------------------------------------------------


@dataclass
class Part:
    """One instance's share of the chart, made in the helper process: its moved sites and
    the template text of each of its objects (None: probe it in the main process)."""

    moved: Moved
    templates: list[str]


_PROBED: RunStore[str, Probed] = RunStore()
"""Probed sites by group, kept by a process between an app's instances (their JSON texts are
made once per process)."""


def remember(run: str, group: str, probed: Probed) -> None:
    """Keep the probed sites of a group for the jobs of this run (forgetting earlier runs)."""
    _PROBED.put(run, group, probed)


def instance_part(
    run: str,
    group: str,
    probed: Probed | None,
    name: str,
    prefix: tuple[str, ...],
    objects: list[dict[str, Any]],
) -> Part | None:
    """Carry the group's probed sites over to this instance and write its templates. The
    probed sites travel with the group's first job only (``probed`` is None after that: the
    one helper process runs the jobs in order); without them the main process does it."""
    if probed is not None:
        remember(run, group, probed)
    known = _PROBED.get(run, group)
    if known is None:
        return None
    files = [file_name(o) for o in objects]
    try:
        moved = move_sites(known, name, objects, prefix, files.__getitem__)
        if moved is None:
            return None
        templates = [
            render_template(
                obj,
                moved.sites.get(index, {}),
                moved.added.get(index, {}),
                moved.conditions.get(index),
            )
            for index, obj in enumerate(objects)
        ]
    except (AssertionError, LookupError, ValueError):
        return None  # the main process probes it, and reports what it cannot template
    return Part(moved, templates)
