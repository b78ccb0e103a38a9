"""The fast YAML emitter writes exactly what libyaml writes, and text that loads back to the
same data, for every generated object and for strings chosen to trip a YAML writer."""

from __future__ import annotations

import random
import string
from functools import cache
from typing import Any

import pytest
import yaml

from constructs_lib.render import yamltext
from tests.conftest import make_instance, synth_objects

TRICKY = [
    "",
    " lead",
    "trail ",
    "a: b",
    "a #b",
    "#x",
    "- x",
    "-x",
    "?x",
    "? x",
    ":x",
    "x:",
    "true",
    "True",
    "yes",
    "no",
    "on",
    "off",
    "null",
    "~",
    "1",
    "1.5",
    "0x1F",
    "1e3",
    "2026-11-21",
    "12:30",
    "=",
    "<<",
    "'q'",
    '"q"',
    "it's",
    "a\tb",
    "x\ny",
    "x\n",
    "x\n\n",
    "\nx",
    " x\ny",
    "x \ny",
    "a,b",
    "[x]",
    "{x}",
    "*a",
    "&a",
    "!t",
    "%x",
    "@x",
    "`x",
    "é",
    "日本",
    "\x07",
    "a\u2028b",
    "\ufeffx",
    "---",
    "...",
    "--- x",
    "a\n\nb\n",
    "x\n  indented\n",
    "NaN",
    ".nan",
    ".inf",
    "-.inf",
    "0o17",
    "+1",
    "1_000",
    "0b101",
    "190:20:30",
    "a: ",
    "a:b",
    "x" * 5000,
    "http://x:80/y",
    "key=value",
    "*",
    "&",
    "|",
    ">",
    "-",
    "?",
    ":",
    "{{agent.id}}",
]


@cache
def corpus() -> list[Any]:
    spec = {
        "agents": {"enabled": True},
        "env": [{"name": "MULTI", "value": "line one\nline two\n"}],
        "podAnnotations": {"note": "a: b", "empty": ""},
    }
    objects: list[Any] = list(synth_objects(make_instance(spec)).values())
    for text in TRICKY:
        key = text if text and "\n" not in text else "k"
        objects.append({"k": text, "l": [text, {"n": text}, [], {}], key: [None, True, 3, -1]})
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 12)))
        objects.append({"v": text, "s": [text]})
    return objects


@pytest.mark.parametrize("index", range(0, 2150, 50))
def test_same_text_as_libyaml_and_round_trips(index: int) -> None:
    for obj in corpus()[index : index + 50]:
        text = yamltext.dump(obj)
        assert text == yamltext._libyaml(obj), obj
        assert yaml.safe_load(text) == obj
