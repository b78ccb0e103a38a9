"""A pass-through value's schema verdict is remembered only for exactly the same value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from constructs_lib.memo import image as _image
from constructs_lib.spec.instance import Instance
from tests.conftest import MINIMAL, merge


def _with_toleration(toleration: dict[str, Any]) -> dict[str, Any]:
    return merge(MINIMAL, {"spec": {"availability": {"tolerations": [toleration]}}})


def test_a_remembered_verdict_never_answers_for_another_type() -> None:
    good = {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    for _ in range(2):  # the second time from memory
        Instance.model_validate(_with_toleration(good))
    for wrong in ("30", 30.5, True):
        with pytest.raises(ValidationError, match="tolerationSeconds"):
            Instance.model_validate(_with_toleration({**good, "tolerationSeconds": wrong}))
    Instance.model_validate(_with_toleration(good))  # and the good one is still good


def test_the_image_tells_apart_what_a_check_could() -> None:
    assert _image({"a": 1}) != _image({"a": True}) != _image({"a": 1.0})
    assert _image({"a": 1, "b": 2}) != _image({"b": 2, "a": 1})  # the order of findings
    assert _image([]) != _image({})
    assert _image({"a": [1, "x", None]}) == _image({"a": [1, "x", None]})
    assert _image(["a"]) != _image(("a",)) and _image({1: "a"}) != _image({"1": "a"})
    assert _image(-0.0) != _image(0.0) and _image("1") != _image(1)

    class Text(str):
        pass

    for unplain in (Text("a"), {"a": Text("a")}, [object()]):
        with pytest.raises(TypeError):
            _image(unplain)


def test_a_memo_keeps_at_most_its_limit_and_never_remembers_other_objects() -> None:
    from constructs_lib.memo import ByValue, Memo

    made: list[Any] = []

    def make(item: Any) -> int:
        made.append(item)
        return len(made)

    memo: Memo[int] = Memo(2)
    for key in ("a", "b", "a", "c", "a"):
        memo(key, lambda key=key: make(key))  # type: ignore[misc]
    assert made == ["a", "b", "c", "a"]  # full at "c": all dropped, so "a" is made again
    assert len(memo.found) <= 2
    made.clear()
    by_value: ByValue[int] = ByValue(8)
    other = type("Other", (), {"__eq__": lambda self, x: True, "__hash__": lambda self: 0})()
    for value in ([1], [1], (1,), [other], [other]):
        by_value.of(value, make)
    assert made == [[1], (1,), [other], [other]]
