"""Bounded memos for pure functions: what the chart analysis's repeated builds of one
instance recompute. One policy for all of them: at most ``limit`` results, all dropped when
full (a synth of many instances keeps bounded memory; the next instance refills them)."""

from __future__ import annotations

import marshal
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

_Result = TypeVar("_Result")


class Memo(Generic[_Result]):
    """Results by key, each made the first time it is asked for."""

    def __init__(self, limit: int) -> None:
        self.found: dict[Hashable, _Result] = {}
        """Read it directly on a hot path; store through :meth:`add`."""
        self.limit = limit

    def add(self, key: Hashable, result: _Result) -> _Result:
        if len(self.found) >= self.limit:
            self.found.clear()
        self.found[key] = result
        return result

    def __call__(self, key: Hashable, make: Callable[[], _Result]) -> _Result:
        try:
            return self.found[key]
        except KeyError:
            return self.add(key, make())


class ByValue(Memo[_Result]):
    """Results of a pure function of plain data (what YAML or JSON gives), by the data's exact
    :func:`image`; anything else is computed every time."""

    def of(self, value: Any, make: Callable[[Any], _Result]) -> _Result:
        try:
            key = image(value)
        except TypeError:
            return make(value)
        return self(key, lambda: make(value))


def image(value: Any) -> bytes:
    """The data as marshal's format 2 writes it: every value with its exact built-in type
    (``True``, ``1``, ``1.0`` and ``"1"`` differ, a list from a tuple), key order kept, no
    shared nodes, so equal images are the same data. TypeError for anything marshal refuses
    (a subclass such as a StrEnum member, any other object)."""
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        raise TypeError(type(value)) from None


__all__ = ["ByValue", "Memo", "image"]
