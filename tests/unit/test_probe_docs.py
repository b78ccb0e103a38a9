"""Probe documents: a value set on a copy that shares what it does not change."""

from __future__ import annotations

import copy
from typing import Any

from constructs_lib.render.helm.probe import with_value


def test_with_value_changes_a_copy_and_never_the_document() -> None:
    doc: dict[str, Any] = {
        "metadata": {"name": "pc"},
        "spec": {"networking": {"ingress": {"hosts": [{"host": "a"}, {"host": "b"}]}}, "x": 1},
    }
    before = copy.deepcopy(doc)
    changed = with_value(doc, ("networking", "ingress", "hosts", "1", "host"), "c")
    assert doc == before
    assert changed["spec"]["networking"]["ingress"]["hosts"] == [{"host": "a"}, {"host": "c"}]
    removed = with_value(doc, ("x",), None)
    assert "x" not in removed["spec"] and doc == before
    added = with_value(doc, ("image", "tag"), "v2")
    assert added["spec"]["image"] == {"tag": "v2"} and doc == before
    # what is not on the way to the change is shared, not copied
    assert changed["metadata"] is doc["metadata"]
    assert (
        changed["spec"]["networking"]["ingress"]["hosts"][0]
        is doc["spec"]["networking"]["ingress"]["hosts"][0]
    )
    # the value is copied in: changing it later leaves the document alone
    value = {"k": ["v"]}
    nested = with_value(doc, ("extra",), value)
    value["k"].append("w")
    assert nested["spec"]["extra"] == {"k": ["v"]}
