"""What the cluster added to an exported Instance: the API server's metadata, the operator's
status and finalizer, kubectl's last-applied copy. None of it is part of the desired state."""

from __future__ import annotations

from constructs_lib.importer.model import Change, Document

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
    "ownerReferences",
)
"""Metadata the API server writes (and controllers, for ownerReferences)."""
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""kubectl's copy of the last applied document: an older spec, possibly with credentials."""

RULE = "cluster-fields"


def strip(document: Document) -> list[Change]:
    """Remove what the cluster added; the changes made (without any value)."""
    body = document.body
    changes: list[Change] = []

    def removed(path: str, why: str, names: str | None = None) -> None:
        changes.append(Change(RULE, path, "removed" if names is None else f"removed {names}", why))

    if "status" in body:
        del body["status"]
        removed("status", "the operator's run-time state")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        return changes
    server = [key for key in SERVER_METADATA if key in meta]
    if meta.get("generateName") and meta.get("name"):
        server.append("generateName")
    for key in server:
        del meta[key]
    if server:
        why = "set by the API server for the object in the cluster; synth ignores them"
        removed("metadata", why, ", ".join(server))
    finalizers = meta.pop("finalizers", None)
    if finalizers:
        names = ", ".join(str(f) for f in finalizers) if isinstance(finalizers, list) else "?"
        why = (
            "the operator's; nothing in git finalizes an app (remove it from the live Instance "
            "too before deleting it: see 'Migrating from the operator')"
        )
        removed("metadata.finalizers", why, names)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        del annotations[LAST_APPLIED]
        why = (
            "kubectl's copy of an earlier spec, which may hold credentials; every generated "
            "object would carry it"
        )
        removed(f"metadata.annotations.{LAST_APPLIED}", why)
    if isinstance(annotations, dict) and not annotations:
        del meta["annotations"]
    return changes


__all__ = ["LAST_APPLIED", "RULE", "strip"]
