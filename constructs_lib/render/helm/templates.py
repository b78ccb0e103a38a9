"""Template text for one object: its YAML (as in the Kustomize tree) with every site the probes
found turned into a template action, and every other literal ``{{`` escaped.

The object is dumped with the same YAML writer as the Kustomize tree, with a plain token in
place of each site; the tokens are then replaced by template actions. Multi-line strings keep
their ``|`` block with the actions inline; single-line strings that hold actions are written
double-quoted (the spliced values cannot hold quotes, backslashes or newlines: their schemas
say so).
"""

from __future__ import annotations

import json
import re
from typing import Any

from constructs_lib.render.helm.sites import Hash, Merge, Pointer, Spans, Whole, get
from constructs_lib.render.yamltext import dump

_TOKEN = "zqhelmtok{:05d}x"
_TOKEN_RE = re.compile(r"zqhelmtok\d{5}x")
_TOKEN_LINE = re.compile(r"^.*?(zqhelmtok\d{5}x).*\n?", re.MULTILINE)
"""A line that holds a token (with its line break), and the line's first token."""


def escape_braces(text: str) -> str:
    """Literal ``{{`` as a template action that prints it."""
    return text.replace("{{", '{{ "{{" }}')


def _quoted(literal: str) -> str:
    """A literal piece inside a double-quoted YAML scalar."""
    return escape_braces(json.dumps(literal, ensure_ascii=False)[1:-1])


_FILTERS = {"json": "toJson", "int": "int64", "intstr": "int64 | toString | toJson"}
"""What a whole leaf's value is written through, by :attr:`~.sites.Whole.form`."""


def _hash_action(site: Hash) -> str:
    rendered = f"(include {json.dumps(site.config)} $ | fromYaml)"
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
    default = "{{ if eq $h " + json.dumps(site.go_default) + " }}" + json.dumps(site.python_default)
    return "{{ $h := " + digest + " }}" + default + "{{ else }}{{ $h | quote }}{{ end }}"


def _writable(root: dict[str, Any], pointer: Pointer) -> Any:
    """The node at ``pointer`` in ``root`` (a copy of an object), with every mapping and list
    on the way to it copied first (the rest is shared with the object, which is never
    changed)."""
    node: Any = root
    for part in pointer:
        child = node[part]
        node[part] = dict(child) if isinstance(child, dict) else list(child)
        node = node[part]
    return node


def _set(root: dict[str, Any], pointer: Pointer, value: Any) -> None:
    _writable(root, pointer[:-1])[pointer[-1]] = value


def render_template(
    obj: dict[str, Any],
    sites: dict[Pointer, Any],
    added: dict[Pointer, Whole],
    condition: str | None = None,
) -> str:
    """The template of one object: one YAML document of its instance's template file."""
    root = dict(obj)
    inline: dict[str, str] = {}
    lines: dict[str, Whole | Merge] = {}
    counter = iter(range(100_000))

    def token(replacement: str | Whole | Merge) -> str:
        """A new token: an inline action replaces it, a site (Whole, Merge) its whole line."""
        name = _TOKEN.format(next(counter))
        if isinstance(replacement, str):
            inline[name] = replacement
        else:
            lines[name] = replacement
        return name

    for pointer, site in [*sites.items(), *added.items()]:
        if isinstance(site, Merge):
            # the token first (its line becomes the values' keys), then the generated keys only
            mapping = _writable(root, pointer)
            generated = [(k, v) for k, v in mapping.items() if k in site.generated]
            mapping.clear()
            mapping.update([(token(site), "x"), *generated])
        elif isinstance(site, Whole):  # a guarded one replaces its whole line
            action = "{{ " + site.expr + " | " + _FILTERS[site.form] + " }}"
            _set(root, pointer, token(site if site.guarded else action))
        elif isinstance(site, Hash):
            _set(root, pointer, token(_hash_action(site)))
        elif isinstance(site, Spans):
            text = get(obj, pointer)
            block = "\n" in text  # a block keeps its actions inline; else one quoted scalar
            value, position = "", 0
            for start, end, action in site.parts:
                literal = text[position:start]
                value += literal + token(action) if block else _quoted(literal) + action
                position = end
            tail = text[position:]
            value = value + tail if block else token('"' + value + _quoted(tail) + '"')
            _set(root, pointer, value)

    text = escape_braces(dump(root))

    def line_with_token(found: re.Match[str]) -> str:
        line, name = found.group(0, 1)
        if name in lines:
            return _line_action(line, lines[name])
        return _TOKEN_RE.sub(lambda match: inline[match.group(0)], line)

    # the lines found by searching for their tokens: a template runs to megabytes, and
    # matching it line by line cost a tenth of a second for a hundred instances
    parts, position = [], 0
    for found in _TOKEN_RE.finditer(text):
        if found.start() >= position:  # the first token of its line
            line = _TOKEN_LINE.match(text, text.rfind("\n", 0, found.start()) + 1)
            assert line is not None  # it holds a token
            parts += [text[position : line.start()], line_with_token(line)]
            position = line.end()
    body = "".join(parts) + text[position:]
    leftover = _TOKEN_RE.search(body)
    if leftover:
        raise AssertionError(f"template token {leftover.group(0)} was not replaced")
    if condition:
        return "{{- if " + condition + " }}\n" + body + "{{- end }}\n"
    return body


_LINE = re.compile(r"^(?P<indent> *)(?P<key>[^ -].*?): (?P<token>zqhelmtok\d{5}x)\n?$")
_MERGE_LINE = re.compile(r"^(?P<indent> *)(?P<token>zqhelmtok\d{5}x): x\n?$")


def _line_action(line: str, site: Whole | Merge) -> str:
    if isinstance(site, Merge):
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
