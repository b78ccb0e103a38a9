"""The bounded memos of pure functions (constructs_lib/memo.py) and the image they remember
plain data by."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.memo import by_value, image


def test_the_image_tells_apart_what_a_check_could() -> None:
    assert len({image({"a": value}) for value in (1, True, 1.0)}) == 3  # all equal in Python
    assert image({"a": 1, "b": 2}) != image({"b": 2, "a": 1})  # the order of findings
    assert image([]) != image({})
    assert image({"a": [1, "x", None]}) == image({"a": [1, "x", None]})
    assert image(["a"]) != image(("a",)) and image({1: "a"}) != image({"1": "a"})
    assert image(-0.0) != image(0.0) and image("1") != image(1)

    class Text(str):
        pass

    for unplain in (Text("a"), {"a": Text("a")}, [object()]):
        with pytest.raises(TypeError):
            image(unplain)


def test_a_memo_keeps_at_most_its_limit_and_never_remembers_other_objects() -> None:
    made: list[Any] = []

    @by_value(2)
    def make(item: Any) -> int:
        made.append(item)
        return len(made)

    for key in ("a", "b", "a", "c", "a"):
        make(key)
    assert made == ["a", "b", "c", "a"]  # full at "c": all dropped, so "a" is made again
    made.clear()
    other = type("Other", (), {"__eq__": lambda self, x: True, "__hash__": lambda self: 0})()
    for value in ([1], [1], (1,), [other], [other]):
        make(value)
    assert made == [[1], (1,), [other], [other]]
