"""On the real control plane: every pinned CRD installs, a valid sample of every pinned kind
passes a server-side dry-run, and our validator and the API server agree on invalid ones."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import dynamic
from kubernetes.client.rest import ApiException

from constructs_lib.spec import crds
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION, object_validator
from tests.controlplane.cluster import ControlPlane
from tests.k8s.test_controlplane import ensure_namespace, install_crds
from tests.unit.test_schemas_samples import (
    CEL_ONLY,
    INVALID,
    NAMESPACE,
    SAMPLES,
    STRICTER,
    VALID_VARIANTS,
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]


def dry_run(plane: ControlPlane, obj: dict[str, Any]) -> str | None:
    """None when the API server accepts ``obj``, else its answer.

    A create with ``dryRun=All`` and ``fieldValidation=Strict`` runs the server's whole
    validation (structural schema, strict fields, CEL) and answers 400/422 with the field
    path. (Server-side apply refuses the same objects, but as a 500 "failed to create typed
    patch object" before validation, which hides CEL and value errors behind type errors.)
    """
    dyn = dynamic.DynamicClient(plane.api_client())
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        resource.create(
            body=obj,
            namespace=obj["metadata"].get("namespace"),
            dry_run="All",
            query_params=[("fieldValidation", "Strict")],
        )
    except ApiException as exc:
        return f"{exc.status} {exc.body}"
    return None


def ours(obj: dict[str, Any]) -> list[tuple[str, str]]:
    validator = object_validator(DEFAULT_KUBERNETES_VERSION, obj["apiVersion"], obj["kind"])
    return validator.errors(obj)


@pytest.fixture(scope="module")
def with_all_crds(control_plane: ControlPlane) -> ControlPlane:
    install_crds(control_plane, [{"apiVersion": a, "kind": k} for a, k in crds.pinned_kinds()])
    ensure_namespace(control_plane, NAMESPACE)
    return control_plane


def test_every_pinned_kind_has_a_sample() -> None:
    assert {k for _, k in crds.pinned_kinds()} == {s["kind"] for s in SAMPLES}


def test_a_valid_sample_of_every_pinned_kind_passes_dry_run(with_all_crds: ControlPlane) -> None:
    verdicts = {
        f"{s['apiVersion']} {s['kind']}": (ours(s), dry_run(with_all_crds, s))
        for s in SAMPLES + [v for _, v in VALID_VARIANTS]
    }
    disagreements = {k: v for k, v in verdicts.items() if v != ([], None)}
    assert not disagreements
    assert len(verdicts) >= 13


@pytest.mark.parametrize("what", [w for w, _ in INVALID])
def test_what_our_validator_rejects_the_api_server_rejects(
    with_all_crds: ControlPlane, what: str
) -> None:
    [obj] = [o for w, o in INVALID if w == what]
    assert ours(obj), f"our validator accepted {what}"
    answer = dry_run(with_all_crds, obj)
    assert answer is not None, f"the API server accepted {what}"
    assert answer.startswith(("422", "400")), answer


@pytest.mark.parametrize("what", [w for w, _ in CEL_ONLY])
def test_cel_rules_are_enforced_by_the_api_server_only(
    with_all_crds: ControlPlane, what: str
) -> None:
    [obj] = [o for w, o in CEL_ONLY if w == what]
    assert ours(obj) == []  # CEL (x-kubernetes-validations) is not evaluated in Python
    answer = dry_run(with_all_crds, obj)
    assert answer is not None and answer.startswith("422"), answer


@pytest.mark.parametrize("what", [w for w, _ in STRICTER])
def test_where_our_validator_is_stricter_than_the_api_server(
    with_all_crds: ControlPlane, what: str
) -> None:
    [obj] = [o for w, o in STRICTER if w == what]
    assert ours(obj), f"our validator accepted {what}"
    assert dry_run(with_all_crds, obj) is None  # if this fails, move the case to INVALID
