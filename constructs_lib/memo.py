"""Bounded memos for pure functions: what the chart analysis's repeated builds of one
instance recompute. One policy for all of them: at most ``limit`` results, all dropped when
full (a synth of many instances keeps bounded memory; the next instance refills them)."""

from __future__ import annotations

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


def image(value: Any) -> Hashable:
    """A hashable image of plain data that tells apart all a check could: types (``True``,
    ``1``, ``1.0``), key order, a list from a dict. TypeError for anything else (a tuple, a
    key that is not a string, any other object)."""
    kind = type(value)
    if kind is dict:
        return (dict, *((_text_key(k), image(v)) for k, v in value.items()))
    if kind is list:
        return (list, *(image(v) for v in value))
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return (kind, value)
    raise TypeError(kind)


def _text_key(key: Any) -> str:
    if type(key) is not str:
        raise TypeError(type(key))
    return key


__all__ = ["ByValue", "Memo", "image"]
