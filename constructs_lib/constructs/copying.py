"""Copies of JSON-like values (the pass-through blocks of a spec, the bodies of objects).

``copy.deepcopy`` keeps a memo of every node and looks up how to copy each type; for the
plain dicts, lists and scalars of Kubernetes objects that bookkeeping is most of its cost
(a tenth of the synthesis of a full-featured instance). Anything else is left to it.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

T = TypeVar("T")

_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def json_copy(value: T) -> T:
    """A deep copy of ``value``: plain dicts and lists are copied, strings, numbers, booleans
    and None are shared (they cannot change), any other value is ``copy.deepcopy``-ed. Unlike
    ``deepcopy``, a node that occurs twice is copied twice (no aliasing in the copy)."""
    return cast(T, _copy(value))


def _copy(value: Any) -> Any:
    # Leaves are most of the nodes: they are shared without a call per leaf.
    kind = type(value)
    if kind is dict:
        return {
            key: item if type(item) in _IMMUTABLE else _copy(item) for key, item in value.items()
        }
    if kind is list:
        return [item if type(item) in _IMMUTABLE else _copy(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)
