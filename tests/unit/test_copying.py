"""json_copy: a deep copy of JSON-like values, without deepcopy's bookkeeping."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib.constructs.copying import json_copy

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_equal_and_independent(value: Any) -> None:
    copied = json_copy(value)
    assert copied == value
    if isinstance(value, dict | list):
        assert copied is not value
        before = copy.deepcopy(value)
        if isinstance(copied, dict):
            copied["added"] = 1
        else:
            copied.append(1)
        assert value == before


def test_nested_containers_are_new_and_other_types_are_deep_copied() -> None:
    class Box:
        def __init__(self, items: list[int]) -> None:
            self.items = items

    shared = {"k": ["v"]}
    value: dict[str, Any] = {"a": shared, "b": shared, "t": (1, [2]), "box": Box([3])}
    copied = json_copy(value)
    assert copied["a"] is not shared and copied["a"]["k"] is not shared["k"]
    assert copied["a"] is not copied["b"]  # no aliasing in the copy
    copied["t"][1].append(9)
    assert value["t"] == (1, [2])
    assert copied["box"] is not value["box"] and copied["box"].items == [3]
    copied["box"].items.append(4)
    assert value["box"].items == [3]
