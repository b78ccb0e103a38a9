"""The analysis of one instance: every site where a value or the release namespace lands in
its objects, and which values its chart offers.

Each value gets a :class:`Candidate` (its probes, see :mod:`.probe`). The first probes of all
candidates are rendered together, in groups whose marks cannot be confused, so an instance
costs a few renders, not one per value; a group whose render cannot be read is split, and a
value that still cannot be placed is probed alone, which says exactly why. The values are
then accepted in registry order: a value that lands where an earlier one lands is left out.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from constructs_lib.constructs.kube import KubeObject
from constructs_lib.render.helm.probe import (
    METADATA,
    NOT_EMPTIED,
    Base,
    Change,
    Found,
    Objects,
    Probe,
    Unexplained,
    Vanishes,
    Where,
    clash,
    default_value,
    document,
    empty_of,
    explain,
    explain_group,
    identity,
    is_value,
    pointer_text,
    probe_plan,
    probe_render,
    refused_by_rules,
    same_objects,
    spec_value,
    with_values,
)
from constructs_lib.render.helm.registry import (
    IMAGE_KEYS,
    IMAGE_PROBE,
    IMAGE_SENTINEL,
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
    values_ref,
)
from constructs_lib.spec import Instance

PROBE_ERRORS = (AssertionError, LookupError, TypeError, ValueError)


@dataclass
class Analysis:
    """Every site of one instance's objects, and what the chart offers for it."""

    instance: Instance
    objects: Objects
    prefix: tuple[str, ...]
    sites: dict[int, dict[Pointer, Site]] = field(default_factory=dict)
    added: dict[int, dict[Pointer, Whole]] = field(default_factory=dict)
    """Keys that exist only when a value is set (pointer of the new key)."""
    conditions: dict[int, str] = field(default_factory=dict)
    """Object index -> the expression its document is wrapped in (``{{- if }}``)."""
    params: list[Param] = field(default_factory=list)
    image: bool = False
    """Whether the chart offers the server image reference (:data:`IMAGE_KEYS`)."""
    left_out: list[Unoffered] = field(default_factory=list)
    schema_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept_filled: list[Unoffered] = field(default_factory=list)
    """Offered values whose empty value the schema refuses, and why (emptied, the generator
    fills in a leaf they land in)."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """values.yaml defaults that are not the spec's: what the generator fills in while the
    value is unset (the managed database's resources)."""
    namespaced: bool = True


@dataclass
class Candidate:
    """One value to place: its probes, tried in turn."""

    key: str
    probes: list[Probe]
    param: Param | None = None
    priority: bool = False
    """An agent template image that defaults to the server image: it lands where the server
    image reference does, and wins there."""


AGENT_TEMPLATES = "agents.templates."
"""The keys of the agent template images, which fall back to the server image."""

REFUSED: set[tuple[str, str]] = set()
"""Keys and first probe values the rules refused alone in an instance: probed alone from then
on (a refusal costs no build), so they do not spoil a group."""
DOUBTFUL: set[tuple[str, str]] = set()
"""Keys and first probe values that could not be placed alone in an instance (their probe
adds objects, or changes what it cannot explain): grouped only with each other from then on,
so they spoil no group of the others."""
MASKED: set[tuple[str, str]] = set()
"""Keys and first probe values that a group could not place but that were placed alone (an
earlier value replaced a leaf they might land in): kept out of the first group from then on.
The learnt sets save renders; the sites found are the same."""
EMPTIED_ALONE: set[str] = set()
"""Keys whose emptied value was refused alone: left out of a group's emptied render for the
same reason."""


# --- candidates -------------------------------------------------------------------------


def _text(
    key: str, changes: tuple[Change, ...], sentinel: str, expr: str, default: str
) -> Candidate:
    """A value probed with one text that may be spliced into strings (the release namespace,
    the server image reference)."""
    probe = Probe(
        key=key,
        changes=changes,
        value=sentinel,
        shape=Shape.SCALAR,
        expr=expr,
        embeddable=True,
        sentinel=sentinel,
        default_text=default,
        default=default,
        integer=False,
    )
    return Candidate(key, [probe])


def _param(
    instance: Instance, param: Param, doc: dict[str, Any], prefix: tuple[str, ...], image_ref: str
) -> Candidate:
    default = spec_value(doc, param.spec)
    ref = values_ref(prefix, param.path)
    template = param.key.startswith(AGENT_TEMPLATES)
    priority = template and default is None and bool(image_ref)
    expr = ref
    if template and image_ref:  # an agent template without an image runs the server image
        expr = f'({ref} | default (include "paperclip.image" {image_ref}))'
    hosts = param.shape is Shape.HOSTLIST
    shown = default
    if default is None:  # what an unset value renders as (an agent template image: the server's)
        shown = instance.spec.image.reference if template else ""
    probes = []
    for value in (v for v in param.probes if v != default):
        if hosts:  # names appended to a comma-separated list
            sentinel, default_text = ("".join("," + n for n in v) for v in (value, default or []))
        else:
            sentinel, default_text = str(value), str(shown)
        probe = Probe(
            key=param.key,
            changes=((param.spec, value),),
            value=value,
            shape=param.shape,
            expr=expr,
            embeddable=hosts or param.embeddable,
            sentinel=sentinel,
            default_text=default_text,
            default=shown if priority else default_value(param, doc),
            integer=isinstance(value, int) and not isinstance(value, bool),
            guard=param.spec if param.optional and not hosts else None,
        )
        probes.append(probe)
    return Candidate(param.key, probes, param, priority)


# --- renders ----------------------------------------------------------------------------


def _same_path(default: Any, emptied: Any, pointer: Pointer) -> bool:
    """Whether ``pointer``'s parent exists in ``emptied`` at the same place as in ``default``
    (every list on the way as long): a missing key then means the value's own key vanished."""
    for part in pointer[:-1]:
        if isinstance(default, list) != isinstance(emptied, list):
            return False
        if isinstance(default, list) and len(default) != len(emptied):
            return False
        default, emptied = get(default, (part,)), get(emptied, (part,))
        if emptied is MISSING:
            return False
    return True


class Renders:
    """The renders of one instance's analysis: the default, renders of its document with
    values changed (validated only where changed, see :class:`Base`), and the emptied values."""

    def __init__(self, doc: dict[str, Any], default: Objects, instance: Instance | None = None):
        self.doc = doc
        self.default = default
        self.base = Base(doc, instance) if instance is not None else None
        self._emptied: dict[tuple[str, ...], tuple[Objects | None, str]] = {}

    def render(self, changes: Sequence[Change]) -> tuple[Objects | None, str]:
        """(the objects with ``changes`` made to the document, "") or (None, why refused)."""
        return probe_render(with_values(self.doc, changes), self.base)

    def plan(self, changes: Sequence[Change]) -> tuple[Any, str]:
        """:meth:`render` without building the objects (the plan, or None and why)."""
        return probe_plan(with_values(self.doc, changes), self.base)

    def emptied_render(self, probes: Sequence[Probe]) -> tuple[Objects | None, str]:
        """(the objects with the optional values of ``probes`` emptied, "") or (None, why the
        rules refuse that)."""
        key = tuple(p.key for p in probes)
        if key not in self._emptied:
            self._emptied[key] = found = self.render(_emptying(probes))
            if found[0] is None and len(probes) == 1:
                EMPTIED_ALONE.add(probes[0].key)
        return self._emptied[key]

    def vanishing(self, probe: Probe, group: Callable[[], list[Probe]] = list) -> Vanishes:
        """What a leaf holds with ``probe``'s value emptied (MISSING: the key vanishes): read
        from the render of ``group()`` emptied together where ``probe`` is in it and that
        render has the same objects and the same lists on the way, else from the value's own
        emptied render."""

        def vanishes(index: int, pointer: Pointer) -> Any:
            if probe.guard is None:
                return NOT_EMPTIED
            emptied = self.emptied_render(group())[0] if probe in group() else None
            if emptied is None or not (
                same_objects(self.default, emptied)
                and _same_path(self.default[index], emptied[index], pointer)
            ):
                emptied = self.emptied_render([probe])[0]
            return NOT_EMPTIED if emptied is None else get(emptied[index], pointer)

        return vanishes

    def together(self, probes: Sequence[Probe]) -> Callable[[Probe], Vanishes]:
        """:meth:`vanishing` of each value, read from one render with every value of
        ``probes`` emptied. When the rules refuse to empty them all, the others are emptied
        in one render (see :func:`_accepted`)."""
        guarded = [
            p
            for p in probes
            if p.guard is not None
            and p.shape in (Shape.SCALAR, Shape.BLOCK)
            and p.key not in EMPTIED_ALONE
        ]

        @functools.cache
        def group() -> list[Probe]:
            """``guarded`` without the values the rules refuse to empty (those are read from
            their own emptied render). Like the groups of probe values, this reads a value's
            emptied render from the group's on the assumption that a value refused alone is
            refused beside others too."""
            if len(guarded) < 2:
                return guarded
            emptied, refused = self.emptied_render(guarded)
            return guarded if emptied is not None else _accepted(guarded, self, refused, _emptying)

        return lambda probe: self.vanishing(probe, group)


# --- placing values ---------------------------------------------------------------------


def _seen(probe: Probe) -> tuple[str, str]:
    return probe.key, repr(probe.value)


def _groups(candidates: Sequence[Candidate]) -> list[list[Probe]]:
    """The first probe of each candidate, in groups whose marks cannot be confused. Values
    that failed alone before are grouped apart from the rest, values a group could not place
    before stay out of the first (largest) group, and values the rules refused alone are left
    to be probed alone."""
    groups: list[list[Probe]] = []
    doubtful: list[list[Probe]] = []
    for probe in (c.probes[0] for c in candidates if c.probes):
        seen = _seen(probe)
        if seen in REFUSED:
            continue
        into = doubtful if seen in DOUBTFUL else groups
        for group in into[1 if seen in MASKED else 0 :]:
            if not any(clash(probe.marks, other.marks) for other in group):
                group.append(probe)
                break
        else:
            into.append([probe])
    return [*groups, *doubtful]


Changes = Callable[[Sequence[Probe]], list[Change]]


def _changes(probes: Sequence[Probe]) -> list[Change]:
    """The probe values of ``probes`` set together."""
    return [c for p in probes for c in p.changes]


def _emptying(probes: Sequence[Probe]) -> list[Change]:
    """The optional values of ``probes`` emptied together."""
    return [(p.guard, None) for p in probes if p.guard is not None]


def _accepted(
    probes: Sequence[Probe], renders: Renders, refused: str, changes: Changes = _changes
) -> list[Probe]:
    """The probes whose ``changes`` the rules accept together, when they refuse all of them
    together (``refused``: why), found with plans only (no build): when the refusal quotes
    probe texts (four characters or more), the others are tried first; else the probes are
    halved until the refused ones are alone."""
    if len(probes) == 1:
        return []
    named = [p for p in probes if any(len(t) > 3 and t in refused for t in p.marks[0])]
    rest = [p for p in probes if p not in named]
    if named and rest and renders.plan(changes(rest))[0] is not None:
        return rest
    half = len(probes) // 2
    kept: list[Probe] = []
    for part in (probes[:half], probes[half:]):
        planned, why = renders.plan(changes(part))
        kept += part if planned is not None else _accepted(part, renders, why, changes)
    return kept


def _together(
    probes: list[Probe],
    renders: Renders,
    vanishing: Callable[[Probe], Vanishes],
    out: dict[str, Found | None],
) -> None:
    """Place a group of probes with one render; split it when the render cannot be read. A
    group the rules refuse is rendered again without the values they refuse (probed alone
    later, which says why). ``out``: what each probe of a render that could be read found
    (None: that render could not place it)."""
    if len(probes) < 2:
        return
    probed, refused = renders.render(_changes(probes))
    told = None
    if probed is None:
        kept = _accepted(probes, renders, refused)
        if len(kept) < len(probes):
            _together(kept, renders, vanishing, out)
            return
    else:
        with contextlib.suppress(*PROBE_ERRORS):
            told = explain_group(probes, renders.default, probed, vanishing)
    if told is None:
        half = len(probes) // 2
        _together(probes[:half], renders, vanishing, out)
        _together(probes[half:], renders, vanishing, out)
    else:
        out.update({p.key: told.get(p.key) for p in probes})


def _alone(candidate: Candidate, renders: Renders) -> tuple[Found | None, str]:
    """Place a value probe by probe: the first that explains its render decides."""
    reason = "no probe value renders"
    refused_first = False
    for probe in candidate.probes:
        probed, refused = renders.render(probe.changes)
        if probed is None:
            reason = f"other values are refused for this instance ({refused})"
            refused_first = refused_first or probe is candidate.probes[0]
            continue
        try:
            return explain(probe, renders.default, probed, renders.vanishing(probe)), ""
        except Unexplained as exc:
            reason = str(exc)
        except PROBE_ERRORS as exc:
            if candidate.param is None:
                raise
            reason = f"it cannot be located in the objects ({exc})"
    if candidate.probes:
        (REFUSED if refused_first else DOUBTFUL).add(_seen(candidate.probes[0]))
    return None, reason


class Placed:
    """What each candidate's probes found: together where possible, alone otherwise."""

    def __init__(self, candidates: Sequence[Candidate], renders: Renders) -> None:
        self.renders = renders
        self.found: dict[str, Found | None] = {}
        groups = _groups(candidates)
        self.grouped = {p.key: p for group in groups for p in group}
        vanishing = renders.together(list(self.grouped.values()))
        for group in groups:
            _together(group, renders, vanishing, self.found)

    def __call__(self, candidate: Candidate) -> tuple[Found | None, str]:
        """What the groups found for the candidate, if they placed this very probe (a
        candidate made again, e.g. an agent image without the image reference to default to,
        has another template expression); else the candidate probed alone."""
        key = candidate.key
        grouped = candidate.probes[:1] == [self.grouped.get(key)]
        told = self.found.get(key) if grouped else None
        if told is not None:
            return told, ""
        found, reason = _alone(candidate, self.renders)
        if grouped and key in self.found and found is not None:  # a group could not place it
            MASKED.add(_seen(candidate.probes[0]))
        return found, reason


class Claims:
    """The sites accepted so far, and which value claimed each."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.hashes: set[Where] = set()
        self.spans: dict[Where, list[tuple[int, int, str, str]]] = {}
        self.claimed: dict[Where, str] = {}

    def accept(self, key: str, found: Found, priority: bool = False) -> str | None:
        """Record what a probe found, unless it collides with an earlier key (then why)."""
        wholes = [*found.whole, *found.added, *found.merges]
        for where in wholes:
            if where in self.claimed or where in self.spans:
                return f"it lands where {self.claimed.get(where, 'another value')} lands"
        for where, parts in found.spans.items():
            if where in self.claimed:
                return f"it lands where {self.claimed[where]} lands"
            for start, end, _ in parts:
                for s, e, _, other in self.spans.get(where, []):
                    if s < end and start < e and not (priority and (s, e) == (start, end)):
                        return f"it lands where {other} lands"
        # no clash: record it
        placed: list[tuple[Where, Site]] = [*found.whole.items(), *found.merges.items()]
        for where, site in placed:
            self.analysis.sites.setdefault(where[0], {})[where[1]] = site
        for where, whole in found.added.items():
            self.analysis.added.setdefault(where[0], {})[where[1]] = whole
        self.claimed.update(dict.fromkeys(wholes, key))
        for where, parts in found.spans.items():
            existing = self.spans.setdefault(where, [])
            for start, end, text in parts:
                if priority:
                    existing[:] = [p for p in existing if (p[0], p[1]) != (start, end)]
                existing.append((start, end, text, key))
        self.hashes.update(found.hashes)
        return None

    def finish(self, name_of: Callable[[int], str]) -> None:
        """The hashes of ConfigMaps that values feed, and the spans of each string."""
        objects, sites = self.analysis.objects, self.analysis.sites
        for index, pointer in sorted(self.hashes, key=lambda w: (w[0], tuple(map(str, w[1])))):
            try:
                site = find_hash(objects, get(objects[index], pointer), name_of)
            except LookupError as exc:
                raise AssertionError(f"{identity(objects[index])}: {exc}") from None
            sites.setdefault(index, {})[pointer] = site
        for (index, pointer), parts in self.spans.items():
            ordered = tuple(sorted((s, e, t) for s, e, t, _ in parts))
            sites.setdefault(index, {})[pointer] = Spans(ordered)


# --- the analysis -----------------------------------------------------------------------


def analyse(
    instance: Instance,
    objects: Objects,
    prefix: tuple[str, ...],
    name_of: Callable[[int], str],
    made: Sequence[KubeObject],
    namespaced: bool = True,
) -> Analysis:
    """Every site where a value or the release namespace lands in one instance's objects
    (``objects``: its default render; ``name_of``: the named template an object's template
    is defined as, which a config hash includes; ``made``: the objects as built, which say
    what exists by a switch and which labels the generator sets)."""
    doc = document(instance)
    analysis = Analysis(instance, objects, prefix, namespaced=namespaced)
    renders = Renders(doc, objects, instance)
    image_ref = values_ref(prefix, ("image",))
    params = params_for(instance)
    expr = f'include "paperclip.image" {image_ref}'
    image = _text("image", IMAGE_PROBE, IMAGE_SENTINEL, expr, instance.spec.image.reference)
    by_param = {
        p.key: _param(instance, p, doc, prefix, image_ref)
        for p in params
        if p.key not in IMAGE_KEYS and p.shape not in (Shape.TOGGLE, Shape.LABELS)
    }
    changes = (((METADATA, "namespace"), NAMESPACE_SENTINEL),)
    namespace = _text("namespace", changes, NAMESPACE_SENTINEL, NAMESPACE_EXPR, instance.namespace)
    candidates = [*([namespace] if namespaced else []), image, *by_param.values()]
    placed = Placed(candidates, renders)
    claims = Claims(analysis)
    if namespaced:
        found, reason = placed(namespace)
        if found is None or found.generated or claims.accept("the namespace", found):
            raise AssertionError(f"the namespace cannot be templated: {reason}")
    found, reason = placed(image)
    if found is not None:
        generated = _not_default(found) if found.generated else ""
        reason = generated or claims.accept("image", found) or ""
    analysis.image = not reason
    if reason:
        analysis.left_out += [Unoffered(k, reason) for k in IMAGE_KEYS]
    for param in params:
        if param.key in IMAGE_KEYS:
            if analysis.image:
                analysis.params.append(param)
            continue
        if param.shape is Shape.TOGGLE:
            reason = toggle(analysis, param, renders, made)
        elif param.shape is Shape.LABELS:
            reason = claims.accept(param.key, _labels(made, prefix, param)) or ""
        else:
            candidate = by_param[param.key]
            if param.key.startswith(AGENT_TEMPLATES) and not analysis.image:
                candidate = _param(instance, param, doc, prefix, "")  # no image to fall to
            param, reason = _place(param, candidate, placed, claims)
        if reason:
            analysis.left_out.append(Unoffered(param.key, reason))
        else:
            analysis.params.append(param)
    _narrow(analysis, doc)
    claims.finish(name_of)
    return analysis


def _place(param: Param, candidate: Candidate, placed: Placed, claims: Claims) -> tuple[Param, str]:
    """Place one probed value: (the value as offered, "") or (the value, why it is left out).
    A value whose empty value would not do what the generator does gets a schema that refuses
    it, and its help says so."""
    if not candidate.probes:
        return param, "no probe value"
    found, reason = placed(candidate)
    if found is None:
        return param, reason
    if not (found.whole or found.spans or found.added or found.merges):
        return param, "it changes nothing in this instance's objects"
    analysis = claims.analysis
    if param.shape is Shape.HOSTLIST:
        text = "{{ range " + values_ref(analysis.prefix, param.path) + " }},{{ . }}{{ end }}"
        found.spans = {w: [(s, e, text) for s, e, _ in p] for w, p in found.spans.items()}
    held, reason = _held_default(found)
    reason = reason or claims.accept(param.key, found, candidate.priority) or ""
    if reason:
        return param, reason
    if held is not MISSING:
        analysis.defaults[param.key] = held
    if found.filled and not candidate.priority:
        analysis.schema_overrides[param.key] = _not_empty(param)
        filled = f"emptied, {_first(found.filled)} (the generator fills it in), not the empty value"
        analysis.kept_filled.append(Unoffered(param.key, filled))
        return replace(param, help=_not_empty_help(param.help)), ""
    return param, ""


def _labels(made: Sequence[KubeObject], prefix: tuple[str, ...], param: Param) -> Found:
    """Where the Instance's own labels land, from the build: every object's labels, under
    the keys the generator sets there (a test sets them in every feature scenario)."""
    expr = values_ref(prefix, param.path)
    where = ("metadata", "labels")
    return Found(merges={(i, where): Merge(expr, obj.own_labels) for i, obj in enumerate(made)})


def _held_default(found: Found) -> tuple[Any, str]:
    """(MISSING, "") when the value's whole leaves hold its default. (what they hold, "") when
    they all hold one other value instead (what the generator fills in while the value is
    unset) and the value lands nowhere else: that is its default in values.yaml. Else
    (MISSING, why the value cannot be offered)."""
    if not found.generated:
        return MISSING, ""
    held = next(iter(found.generated.values()))
    if (
        not (found.spans or found.added or found.merges)
        and len(found.generated) == len(found.whole)
        and all(is_value(v, held) for v in found.generated.values())
        and not any(w.guarded for w in found.whole.values())
    ):
        return held, ""
    return MISSING, _not_default(found)


_MINIMUM: dict[type, str] = {str: "minLength", list: "minItems", dict: "minProperties"}


def _not_empty(param: Param) -> dict[str, Any]:
    """The schema that refuses a value's empty value: emptied, it would not do what the
    generator does while the spec leaves it unset (fill in a leaf it lands in, e.g. the admin
    bootstrap's in-cluster SERVER_URL for an unset publicURL)."""
    return {_MINIMUM[type(empty_of(param))]: 1}


_EMPTY_NOTE = re.compile(r'[;,] (?:""|\{\}|\[\]) for [^)]*(?=\))| \((?:""|\{\}|\[\]) for [^)]*\)')
"""What a value's help says its empty value does ('; "" for none', ' ({} for none)')."""


def _not_empty_help(text: str) -> str:
    """A value's help without what its empty value would do, which the schema refuses here."""
    return _EMPTY_NOTE.sub("", text) + " Not empty for this instance (the chart README says why)."


def _first(leaves: dict[Where, Any]) -> str:
    """The first of ``leaves`` as a message shows it: where it is and what it holds."""
    (_, pointer), held = next(iter(leaves.items()))
    return f"{pointer_text(pointer)} holds {held!r}"


def _not_default(found: Found) -> str:
    return (
        f"{_first(found.generated)} by default, not the value's default (the generator fills it in)"
    )


def _narrow(analysis: Analysis, doc: dict[str, Any]) -> None:
    """Schema bounds for this instance's offered values: an integer below whose
    :attr:`Param.floor` the builders make other objects for it (one replica: no shared master
    key) gets the floor as its minimum, and one whose minimum the model or a spec rule refuses
    (they relate values such as minReplicas and maxReplicas) gets the lowest value they accept
    (a rule that refuses a value refuses the lower ones too: a bound), checked without a plan:
    no feature's own error reads these integers."""
    instance = analysis.instance
    for param in analysis.params:
        default = analysis.defaults.get(param.key, spec_value(doc, param.spec))
        low = param.schema.get("minimum")
        if param.schema.get("type") != "integer" or low is None or not isinstance(default, int):
            continue
        floor = param.floor(instance) if param.floor is not None else low
        low = max(low, floor) if default >= floor else default  # below a floor: nothing lower
        high = default  # the rules accept it; find the lowest value they accept from low
        middle = low  # the lowest first: mostly accepted
        while low < high:
            if refused_by_rules(instance, doc, param.spec, middle):
                low = middle + 1
            else:
                high = middle
            middle = (low + high) // 2
        if low != param.schema["minimum"]:
            analysis.schema_overrides.setdefault(param.key, {})["minimum"] = low


def toggle(analysis: Analysis, param: Param, renders: Renders, made: Sequence[KubeObject]) -> str:
    """A :class:`~constructs_lib.constructs.kube.Switch`: the documents of the objects of
    ``made`` that exist by it get ``{{- if }}``. Switching it changes nothing else, by
    construction (the builders add those objects with ``only_if``; a test switches it in
    every feature scenario)."""
    switched = [i for i, obj in enumerate(made) if obj.switch == param.spec]
    if spec_value(renders.doc, param.spec) is not True:
        return "only a toggle that is on by default (and removes objects when off) is templated"
    if not switched:
        return "switching it changes nothing"
    if renders.plan([(param.spec, False)])[0] is None:
        return "the spec refuses the other value for this instance"
    for index in switched:
        analysis.conditions[index] = values_ref(analysis.prefix, param.path)
    return ""
