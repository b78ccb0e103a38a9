"""A bounded memo for pure functions of plain data: what the chart analysis's repeated
builds of one instance recompute. At most ``limit`` results, all dropped when full (a synth
of many instances keeps bounded memory; the next instance refills them)."""

from __future__ import annotations

import marshal
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

_Result = TypeVar("_Result")


def by_value(limit: int) -> Callable[[Callable[[Any], _Result]], Callable[[Any], _Result]]:
    """Decorator: the results of a pure function of plain data (what YAML or JSON gives),
    remembered by the data's exact :func:`image`; anything else is computed every time."""

    def remember(function: Callable[[Any], _Result]) -> Callable[[Any], _Result]:
        found: dict[bytes, _Result] = {}

        @wraps(function)
        def remembered(value: Any) -> _Result:
            try:
                key = image(value)
            except TypeError:
                return function(value)
            if key not in found:
                if len(found) >= limit:
                    found.clear()
                found[key] = function(value)
            return found[key]

        return remembered

    return remember


def image(value: Any) -> bytes:
    """The data as marshal's format 2 writes it: every value with its exact built-in type
    (``True``, ``1``, ``1.0`` and ``"1"`` differ, a list from a tuple), key order kept, no
    shared nodes, so equal images are the same data. TypeError for anything marshal refuses
    (a subclass such as a StrEnum member, any other object)."""
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        raise TypeError(type(value)) from None


__all__ = ["by_value", "image"]
