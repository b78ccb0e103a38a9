"""A JSON Schema (Draft 2020-12) compiler into a tree of Python closures, verdict only.

``Compiler(documents).compile(schema)`` returns ``check(instance) -> bool`` that gives the same
verdict as ``jsonschema.Draft202012Validator(schema, registry=...).is_valid(instance)``
(without a format checker: ``format`` is an annotation there too), 30-100x faster because
every ``$ref`` is resolved, every keyword looked up and every regular expression compiled
once, when first needed (a property's subschema when an object first has the property). It
produces no messages: callers run jsonschema when the verdict is "invalid" to explain why
(see :mod:`constructs_lib.spec.kubeschema`).

Only the keywords our schemas use are supported; any other keyword that affects validation
raises :class:`Unsupported` when its subschema is compiled, so a schema never gets a fast
verdict that silently ignores part of it (the caller then asks jsonschema).

Why not PyPI ``fastjsonschema``: it implements drafts 4, 6 and 7 only (no ``$defs`` and no
2020-12 ``$ref``-with-siblings semantics), and it would still need a resolver for the
kubernetes-validate definitions. The resolver here (:class:`Documents`) knows what our
schemas use: documents named by their ``$id``, ``$ref`` as a URI reference with a JSON
Pointer fragment, ``$id`` changing the base URI. Anything else raises :class:`Unsupported`
(the caller then asks jsonschema, whose verdict the tests compare with this one). It spares
every command importing ``referencing`` (30-40 ms); jsonschema brings it when a message is
needed.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import ge, gt, le, lt
from typing import Any
from urllib.parse import unquote, urljoin

Check = Callable[[Any], bool]

UNSUPPORTED = frozenset(
    {
        "if",
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$dynamicRef",
        "$recursiveRef",
    }
)
"""Validating 2020-12 keywords not implemented: a schema using one does not compile.
Every other keyword is either implemented below or, like ``format`` without a format
checker, ``then``/``else`` without ``if``, ``description`` and ``x-kubernetes-*``, has no
effect on jsonschema's verdict either."""


class Unsupported(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


# --- equality and types, exactly as jsonschema defines them ------------------------------


def equal(one: Any, two: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, ``1`` is ``1.0``, containers compared deeply."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # and not the same object (checked above)
    return bool(one == two)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


_TYPE_CLASSES: dict[str, type] = {"object": dict, "array": list, "string": str}
"""The JSON types a plain ``isinstance`` tests ..."""
_TYPE_TESTS: dict[str, Check] = {
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
"""... and the tests of the others."""


def _type_check(types: Any) -> Check:
    names = [types] if isinstance(types, str) else list(types)
    unknown = [n for n in names if n not in _TYPE_CLASSES and n not in _TYPE_TESTS]
    if unknown:
        raise Unsupported(f"type {unknown[0]!r}")
    plain = tuple(_TYPE_CLASSES[n] for n in names if n in _TYPE_CLASSES)
    others = [_TYPE_TESTS[n] for n in names if n in _TYPE_TESTS]
    if not others:
        return lambda v: isinstance(v, plain)
    if names == ["string", "null"] or names == ["null", "string"]:
        return lambda v: v is None or isinstance(v, str)
    return lambda v: isinstance(v, plain) or any(test(v) for test in others)


def _uniq(items: list[Any]) -> bool:
    return all(not equal(a, b) for i, a in enumerate(items) for b in items[i + 1 :])


# --- the compiler -------------------------------------------------------------------------


class Documents:
    """Schema documents by the URI their ``$id`` gives them (what a ``$ref`` names)."""

    def __init__(self, *documents: Mapping[str, Any]) -> None:
        self.by_uri: dict[str, Any] = {_document_uri(d): d for d in documents}

    def resolver(self, root: Any) -> Resolver:
        """Resolves the references of ``root``, a schema that may have an ``$id`` of its own."""
        base = _document_uri(root) if isinstance(root, dict) else ""
        by_uri = {**self.by_uri, base: root} if base else self.by_uri
        return Resolver(by_uri, root, base)


def _document_uri(document: Mapping[str, Any]) -> str:
    uri = document.get("$id", "")
    if not isinstance(uri, str):
        raise Unsupported(f"$id {uri!r}")
    return uri.partition("#")[0]


@dataclass(frozen=True)
class Resolver:
    """The documents, the schema being compiled and the base URI of its current part."""

    by_uri: Mapping[str, Any]
    root: Any
    base: str

    def lookup(self, ref: str) -> tuple[Any, Resolver]:
        """The subschema ``ref`` names, and the resolver below it."""
        uri, _, fragment = urljoin(self.base, ref).partition("#")
        if fragment and not fragment.startswith("/"):
            raise Unsupported(f"$ref {ref!r} (an anchor)")
        try:
            node = self.by_uri[uri] if uri else self.root  # no URI: the root has no $id
        except KeyError:
            raise Unsupported(f"$ref {ref!r} (an unknown document)") from None
        here = replace(self, base=uri)
        for part in fragment.split("/")[1:]:
            key = unquote(part).replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(key)] if isinstance(node, list) else node[key]
            except (KeyError, IndexError, TypeError, ValueError):
                raise Unsupported(f"$ref {ref!r} (nothing there)") from None
            if isinstance(node, dict) and isinstance(node.get("$id"), str):
                here = here.in_subresource(node)
        return node, here

    def in_subresource(self, schema: Mapping[str, Any]) -> Resolver:
        """Below a subschema with an ``$id``: its URI is the base."""
        return replace(self, base=urljoin(self.base, schema["$id"]).partition("#")[0])


class Compiler:
    """Compiles schemas against one set of documents; shares compiled ``$ref`` targets
    between them."""

    def __init__(self, documents: Documents, *, eager: bool = False) -> None:
        self.documents = documents
        self.eager = eager
        """Compile every property's subschema at once (to prove a whole schema compiles)."""
        self._refs: dict[int, list[Check]] = {}
        self._keep: list[Any] = []

    def compile(self, schema: Any) -> Check:
        return self._compile(schema, self.documents.resolver(schema))

    def _ref(self, ref: str, resolver: Resolver) -> Check:
        contents, below = resolver.lookup(ref)
        key = id(contents)
        cell = self._refs.get(key)
        if cell is None:
            cell = self._refs[key] = []
            self._keep.append(contents)
            try:
                cell.append(self._compile(contents, below))
            except Unsupported:  # not compiled: the next schema reaching it finds out again
                del self._refs[key]
                raise
        if cell:
            return cell[0]
        # a recursive reference still being compiled: look it up at call time
        return lambda v: cell[0](v)

    def _compile(self, schema: Any, resolver: Resolver) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        if (unknown := next((k for k in schema if k in UNSUPPORTED), None)) is not None:
            raise Unsupported(f"keyword {unknown!r}")
        if "$id" in schema:
            resolver = resolver.in_subresource(schema)
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"], resolver))
        object_check = self._object(schema, resolver)
        type_check = _type_check(schema["type"]) if "type" in schema else None
        if object_check is not None:
            # object keywords fused with the type test: one isinstance for both
            checks.append(_with_type(object_check, schema.get("type"), type_check))
        elif type_check is not None:
            checks.append(type_check)
        if "enum" in schema:
            checks.append(_enum(schema["enum"]))
        if "const" in schema:
            checks.append(_enum([schema["const"]]))
        keyword_checks = (self._array(schema, resolver), _string(schema), _number(schema))
        checks += [check for check in keyword_checks if check is not None]
        checks += [self._compile(sub, resolver) for sub in schema.get("allOf", ())]
        for keyword, junctor in _JUNCTORS.items():
            if keyword in schema:
                subs = [schema["not"]] if keyword == "not" else schema[keyword]
                checks.append(junctor([self._compile(sub, resolver) for sub in subs]))
        return _all(checks)

    def _object(self, schema: dict[str, Any], resolver: Resolver) -> Check | None:
        if not any(k in schema for k in _OBJECT_KEYWORDS):
            return None
        declared: dict[str, Any] = schema.get("properties", {})
        patterns = [
            (re.compile(p).search, self._compile(sub, resolver))
            for p, sub in schema.get("patternProperties", {}).items()
        ]
        additional = schema.get("additionalProperties", True)
        # False compiles to _never; True and {} accept anything: no check at all
        extra = (
            None if additional is True or additional == {} else self._compile(additional, resolver)
        )
        # A property's check is compiled when an object first has the property: a Pod's
        # schema has hundreds of fields, and a process validates few of them.
        properties: dict[str, Check] = {}

        def first_seen(key: str) -> Check | None:
            """The check of a key's value: its property's and those of the patterns it matches
            (remembered), else additionalProperties' (None: any value)."""
            if not patterns and key not in declared:  # a key of a map (labels, data): kept fast
                return extra
            checks = [pattern_check for search, pattern_check in patterns if search(key)]
            if key in declared:
                checks.insert(0, self._compile(declared[key], resolver))
            if not checks:
                return extra
            found = _all(checks)
            if key in declared:  # the keys of a map are many: only properties are remembered
                properties[key] = found
            return found

        if self.eager:
            for name in declared:
                first_seen(name)
        required = tuple(schema.get("required", ()))
        min_props = schema.get("minProperties")
        max_props = schema.get("maxProperties")
        get = properties.get

        def check(v: dict[str, Any]) -> bool:
            for key, value in v.items():
                sub = get(key) or first_seen(key)
                if sub is not None and not sub(value):
                    return False
            for name in required:
                if name not in v:
                    return False
            if min_props is not None and len(v) < min_props:
                return False
            return max_props is None or len(v) <= max_props

        return check

    def _array(self, schema: dict[str, Any], resolver: Resolver) -> Check | None:
        if not any(k in schema for k in ("items", "minItems", "maxItems", "uniqueItems")):
            return None
        items = self._compile(schema.get("items", True), resolver)
        min_items = schema.get("minItems")
        max_items = schema.get("maxItems")
        unique = bool(schema.get("uniqueItems", False))

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            if items is not _always and not all(map(items, v)):  # _always: any or no "items"
                return False
            if min_items is not None and len(v) < min_items:
                return False
            if max_items is not None and len(v) > max_items:
                return False
            return not unique or _uniq(v)

        return check


_JUNCTORS: dict[str, Callable[[list[Check]], Check]] = {
    "anyOf": lambda options: lambda v: any(option(v) for option in options),
    "oneOf": lambda choices: lambda v: sum(1 for choice in choices if choice(v)) == 1,
    "not": lambda negated: lambda v: not negated[0](v),
}
"""The check of each junctor but ``allOf`` (whose subschemas are simply more checks), from its
compiled subschemas (``not``: its one subschema's, in a list)."""

_OBJECT_KEYWORDS = (
    "properties",
    "additionalProperties",
    "patternProperties",
    "required",
    "minProperties",
    "maxProperties",
)


def _with_type(object_check: Check, types: Any, type_check: Check | None) -> Check:
    if type_check is None:  # no "type"
        return lambda v: not isinstance(v, dict) or object_check(v)
    if "object" not in ([types] if isinstance(types, str) else types):
        return lambda v: type_check(v) and (not isinstance(v, dict) or object_check(v))
    return lambda v: object_check(v) if isinstance(v, dict) else type_check(v)


def _all(checks: list[Check]) -> Check:
    checks = [c for c in checks if c is not _always]
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    frozen = tuple(checks)
    return lambda v: all(check(v) for check in frozen)


def _enum(values: list[Any]) -> Check:
    if values and all(isinstance(x, str) for x in values):
        allowed = frozenset(values)
        return lambda v: isinstance(v, str) and v in allowed
    options = list(values)
    return lambda v: any(equal(option, v) for option in options)


def _string(schema: dict[str, Any]) -> Check | None:
    min_length = schema.get("minLength")
    max_length = schema.get("maxLength")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    if min_length is None and max_length is None and search is None:
        return None

    def check(v: Any) -> bool:
        if not isinstance(v, str):
            return True
        if min_length is not None and len(v) < min_length:
            return False
        if max_length is not None and len(v) > max_length:
            return False
        return search is None or search(v) is not None

    return check


_BOUNDS = {"minimum": ge, "maximum": le, "exclusiveMinimum": gt, "exclusiveMaximum": lt}
"""The bound keywords and the test a number must pass against each."""


def _number(schema: dict[str, Any]) -> Check | None:
    tests = [(bound, test) for k, test in _BOUNDS.items() if (bound := schema.get(k)) is not None]
    multiple = schema.get("multipleOf")
    if not tests and multiple is None:
        return None

    def check(v: Any) -> bool:
        if not _is_number(v):
            return True
        if not all(test(v, bound) for bound, test in tests):
            return False
        return multiple is None or _multiple_of(v, multiple)

    return check


def _multiple_of(value: Any, divisor: Any) -> bool:
    if isinstance(divisor, float):
        quotient = value / divisor
        try:
            return bool(int(quotient) == quotient)
        except OverflowError:
            from fractions import Fraction

            return Fraction(value) % Fraction(divisor) == 0
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return bool(value % divisor == 0)
