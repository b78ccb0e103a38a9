"""Template text for one object: its YAML (as in the Kustomize tree) with every site the probes
found turned into a template action, and every other literal ``{{`` escaped.

The object is dumped with the same YAML writer as the Kustomize tree, with a plain token in
place of each site; the tokens are then replaced by template actions. Multi-line strings keep
their ``|`` block with the actions inline; single-line strings that hold actions are written
double-quoted (the spliced values cannot hold quotes, backslashes or newlines: their schemas
say so).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from constructs_lib.render.helm.probe import (
    Hash,
    Merge,
    Pointer,
    Spans,
    Whole,
    get,
)
from constructs_lib.render.yamltext import dump

_TOKEN = "zqhelmtok{:05d}x"
_TOKEN_RE = re.compile(r"zqhelmtok\d{5}x")


def escape_braces(text: str) -> str:
    """Literal ``{{`` as a template action that prints it."""
    return text.replace("{{", '{{ "{{" }}')


def _quoted(literal: str) -> str:
    """A literal piece inside a double-quoted YAML scalar."""
    return escape_braces(json.dumps(literal, ensure_ascii=False)[1:-1])


def _whole_action(site: Whole) -> str:
    if site.form == "int":
        return "{{ " + site.expr + " | int64 }}"
    if site.form == "intstr":
        return "{{ " + site.expr + " | int64 | toString | toJson }}"
    return "{{ " + site.expr + " | toJson }}"


def _hash_action(site: Hash) -> str:
    rendered = f'(include (print $.Template.BasePath "/{site.config_file}") $ | fromYaml)'
    data = f'(get {rendered} "data")'
    if site.wrap_key:
        data = f"(dict {json.dumps(site.wrap_key)} (get {data} {json.dumps(site.wrap_key)}))"
    digest = (
        f"{data} | toJson"
        ' | replace "\\\\u003c" "<" | replace "\\\\u003e" ">" | replace "\\\\u0026" "&"'
        " | sha256sum"
    )
    if site.go_default == site.python_default:
        return "{{ " + digest + " | quote }}"
    # data outside ASCII: Go and Python escape it differently; keep the Kustomize value for
    # the default data, and still change whenever the data changes
    return (
        "{{ $h := "
        + digest
        + " }}{{ if eq $h "
        + json.dumps(site.go_default)
        + " }}"
        + json.dumps(site.python_default)
        + "{{ else }}{{ $h | quote }}{{ end }}"
    )


def _set(obj: Any, pointer: Pointer, value: Any) -> None:
    parent = get(obj, pointer[:-1])
    parent[pointer[-1]] = value


def _insert_first(obj: Any, pointer: Pointer, key: str, value: Any, keep: tuple[str, ...]) -> None:
    """Insert a key at the start of the mapping at ``pointer``, keeping only ``keep`` (the
    generated keys: the others come from the values)."""
    mapping = get(obj, pointer)
    items = [(k, v) for k, v in mapping.items() if k in keep]
    mapping.clear()
    mapping[key] = value
    mapping.update(items)


def render_template(
    obj: dict[str, Any],
    sites: dict[Pointer, Any],
    added: dict[Pointer, Whole],
    condition: str | None = None,
) -> str:
    """The template file of one object."""
    tree = copy.deepcopy(obj)
    inline: dict[str, str] = {}
    lines: dict[str, tuple[str, Any]] = {}
    counter = iter(range(100_000))

    def token() -> str:
        return _TOKEN.format(next(counter))

    for pointer, site in sites.items():
        if isinstance(site, Whole):
            name = token()
            _set(tree, pointer, name)
            if site.guarded:
                lines[name] = ("with", site)
            else:
                inline[name] = _whole_action(site)
        elif isinstance(site, Hash):
            name = token()
            _set(tree, pointer, name)
            inline[name] = _hash_action(site)
        elif isinstance(site, Spans):
            text = get(obj, pointer)
            pieces: list[tuple[str, str]] = []  # (literal, action)
            position = 0
            for start, end, action in site.parts:
                pieces.append((text[position:start], action))
                position = end
            tail = text[position:]
            if "\n" in text:
                spliced = ""
                for literal, action in pieces:
                    name = token()
                    inline[name] = action
                    spliced += literal + name
                _set(tree, pointer, spliced + tail)
            else:
                name = token()
                _set(tree, pointer, name)
                inline[name] = (
                    '"' + "".join(_quoted(lit) + act for lit, act in pieces) + _quoted(tail) + '"'
                )
        elif isinstance(site, Merge):
            name = token()
            _insert_first(tree, pointer, name, "x", site.generated)
            lines[name] = ("merge", site)
    for pointer, site in added.items():
        name = token()
        parent = get(tree, pointer[:-1])
        parent[pointer[-1]] = name
        lines[name] = ("with", site)

    text = escape_braces(dump(tree))
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        found = _TOKEN_RE.search(line)
        if found and found.group(0) in lines:
            out.append(_line_action(line, found.group(0), lines[found.group(0)]))
            continue
        out.append(_TOKEN_RE.sub(lambda m: inline[m.group(0)], line))
    body = "".join(out)
    leftover = _TOKEN_RE.search(body)
    if leftover:
        raise AssertionError(f"template token {leftover.group(0)} was not replaced")
    if condition:
        return "{{- if " + condition + " }}\n" + body + "{{- end }}\n"
    return body


_LINE = re.compile(r"^(?P<indent> *)(?P<key>[^ -].*?): (?P<token>zqhelmtok\d{5}x)\n?$")
_MERGE_LINE = re.compile(r"^(?P<indent> *)(?P<token>zqhelmtok\d{5}x): x\n?$")


def _line_action(line: str, name: str, action: tuple[str, Any]) -> str:
    kind, site = action
    if kind == "merge":
        match = _MERGE_LINE.match(line)
        if not match:
            raise AssertionError(f"cannot template a merged mapping at: {line!r}")
        indent = match.group("indent")
        generated = " ".join(json.dumps(k) for k in site.generated)
        return (
            f"{indent}{{{{- range $k, $v := {site.expr} }}}}\n"
            f"{indent}{{{{- if not (has $k (list {generated})) }}}}\n"
            f"{indent}{{{{ $k | toJson }}}}: {{{{ $v | toJson }}}}\n"
            f"{indent}{{{{- end }}}}\n"
            f"{indent}{{{{- end }}}}\n"
        )
    match = _LINE.match(line)
    if not match:
        raise AssertionError(f"cannot template an optional key at: {line!r}")
    indent, key = match.group("indent"), match.group("key")
    value = "{{ . | int64 }}" if site.form == "int" else "{{ toJson . }}"
    return f"{indent}{{{{- with {site.expr} }}}}\n{indent}{key}: {value}\n{indent}{{{{- end }}}}\n"
