"""The pinned CRDs (:mod:`constructs_lib.spec.crds`) as objects to install into the test
control plane."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from constructs_lib.spec.crds import crd_for


def crd_manifests(kinds: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The real CRD objects to install for the given (apiVersion, kind) pairs.

    Raises :class:`KeyError` naming a pair no pinned CRD covers.
    """
    found: dict[str, dict[str, Any]] = {}
    for api_version, kind in kinds:
        crd = crd_for(api_version, kind)
        if crd is None:
            raise KeyError(f"no pinned CRD defines {api_version} {kind}")
        found.setdefault(crd["metadata"]["name"], crd)
    return [copy.deepcopy(found[name]) for name in sorted(found)]
