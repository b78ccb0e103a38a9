"""A pass-through value's schema verdict is remembered only for exactly the same value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from constructs_lib.spec.instance import Instance
from tests.conftest import MINIMAL, merge


def _with_toleration(toleration: dict[str, Any]) -> dict[str, Any]:
    return merge(MINIMAL, {"spec": {"availability": {"tolerations": [toleration]}}})


def test_a_remembered_verdict_never_answers_for_another_type() -> None:
    # True == 1 in Python: a memo keyed by equality would answer for one with the other
    good = {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}
    for _ in range(2):  # the second time from memory
        Instance.model_validate(_with_toleration(good))
    for wrong in (True, "1", 1.5):
        with pytest.raises(ValidationError, match="tolerationSeconds"):
            Instance.model_validate(_with_toleration({**good, "tolerationSeconds": wrong}))
    Instance.model_validate(_with_toleration(good))  # and True's verdict is not the good one's
