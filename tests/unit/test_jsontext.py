"""pretty_json writes exactly what json.dumps(indent=2) writes."""

from __future__ import annotations

import json
import math
from enum import IntEnum, StrEnum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib.constructs.jsontext import pretty_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.booleans(), st.booleans())
def test_same_text_as_json_dumps(data: Any, sort_keys: bool, ascii_only: bool) -> None:
    assert pretty_json(data, sort_keys=sort_keys, ensure_ascii=ascii_only) == json.dumps(
        data, indent=2, sort_keys=sort_keys, ensure_ascii=ascii_only
    )


class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    BIG = 3


def test_unusual_values() -> None:
    data = {
        "enum": Colour.RED,
        "int-enum": Size.BIG,
        "tuple": (1, "é\u2028\x00"),
        "floats": [math.nan, math.inf, -math.inf, 1e21, -0.0],
        "empty": [{}, []],
    }
    assert pretty_json(data) == json.dumps(data, indent=2)
    # shapes this writer leaves to json.dumps: non-string keys
    assert pretty_json({1: "a", None: "b"}) == json.dumps({1: "a", None: "b"}, indent=2)
