"""The operator's own Instance documents (tests/peer/, each with its origin) through
`paperclip-gitops validate` and `synth`: every document the operator accepts renders, unless
one of our deliberate stricter rules refuses it (named here, documented in the README); the
operator's negative cases are refused at the same field path."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from constructs_lib.cli import main
from tests.conftest import REPO

PEER = REPO / "tests" / "peer"

# Our deliberate stricter rules: (field path in the error, rule name used in the README's table
# of differences). A document the operator accepts may be refused only by these.
STRICTER_RULES: dict[str, tuple[str, str]] = {
    "image-pinned": ("spec.image", "one of tag or digest must be set"),
    "auth-secret": ("spec.auth.secretRef", "is required here"),
    "no-password-in-url": ("spec.database.externalURL", "would be committed to git"),
    "deployment-with-persistence": ("spec.workload", "storage.persistence is enabled"),
    "shared-file-storage": ("spec.objectStorage", "replicas"),
    "embedded-single-pod": ("spec.database.mode", "cannot be shared"),
    "image-tag-format": ("spec.image.tag", "String should match pattern"),
    "image-digest-format": ("spec.image.digest", "String should match pattern"),
    "pdb-blocks-drains": ("spec.availability.podDisruptionBudget", "PDBMayBlockDrains"),
    "ingress-controller-namespace": (
        "spec.security.networkPolicy.ingressControllerNamespaces",
        "does not tell in which namespace",
    ),
    "restore-key": ("spec.restoreFrom", "is not a backup"),
    "restore-needs-backups": ("spec.restoreFrom", "no restore CronJob is built"),
    "plugins-not-declarative": ("spec.plugins", "not installed declaratively"),
    "ordinal-gating-deployment": ("spec.heartbeat.schedulerGating", "every pod would run"),
    "ordinal-gating-autoscaler": ("spec.heartbeat.schedulerGating", "with an autoscaler"),
    "autoscaler-needs-requests": ("spec.availability.autoScaling", "FailedGetResourceMetric"),
    "replicas-on-one-claim": (
        "spec.storage.persistence.accessModes",
        "replicas mount the one data volume",
    ),
    # the API server's own rule, found at synth time (the operator's pods would be refused)
    "mount-of-an-unknown-volume": ("spec.template.spec", "is not a volume"),
}


# The fix each rule's message gives, applied mechanically: a document refused on purpose must
# render once the fixes of the rules it breaks are applied (so every feature it uses is built).
def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc.setdefault("spec", {})
    return spec


def _pin(doc: dict[str, Any]) -> None:
    image = _spec(doc).setdefault("image", {})
    image.pop("digest", None)
    image["tag"] = "2026.1106.0"


def _secret_url(doc: dict[str, Any]) -> None:
    database = _spec(doc)["database"]
    database.pop("externalURL")
    database["externalURLSecretRef"] = {"name": "paperclip-db", "key": "DATABASE_URL"}


def _files_in_s3(doc: dict[str, Any]) -> None:
    _spec(doc)["objectStorage"] = {"provider": "s3", "bucket": "paperclip-files"}


def _auth_secret(doc: dict[str, Any]) -> None:
    _spec(doc).setdefault("auth", {})["secretRef"] = {"name": "paperclip-auth", "key": "secret"}


def _external_db(doc: dict[str, Any]) -> None:
    _spec(doc)["database"] = {
        "mode": "external",
        "externalURLSecretRef": {"name": "paperclip-db", "key": "DATABASE_URL"},
    }


def _budget(doc: dict[str, Any]) -> None:
    _spec(doc)["availability"]["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}


def _controller_namespace(doc: dict[str, Any]) -> None:
    security = _spec(doc).setdefault("security", {})
    security.setdefault("networkPolicy", {})["ingressControllerNamespaces"] = ["ingress-nginx"]


def _lease(doc: dict[str, Any]) -> None:
    _spec(doc).setdefault("heartbeat", {})["schedulerGating"] = "lease"


def _requests(doc: dict[str, Any]) -> None:
    resources = _spec(doc).setdefault("resources", {})
    resources.setdefault("requests", {}).update(cpu="500m", memory="1Gi")


def _backups(doc: dict[str, Any]) -> None:
    _spec(doc)["backup"] = {
        "schedule": "0 3 * * *",
        "s3": {"bucket": "paperclip-backups", "credentialsSecretRef": {"name": "backup-s3"}},
    }


def _data_volume_mounts(doc: dict[str, Any]) -> None:
    for section in ("initContainers", "sidecars"):
        for container in _spec(doc).get(section, []):
            for mount in container.get("volumeMounts", []):
                if mount["name"] == "data":
                    mount["name"] = "paperclip-data"


FIXES: dict[str, Any] = {
    "image-pinned": _pin,
    "image-tag-format": _pin,
    "image-digest-format": _pin,
    "auth-secret": _auth_secret,
    "no-password-in-url": _secret_url,
    "deployment-with-persistence": lambda d: _spec(d).update(workload="StatefulSet"),
    "shared-file-storage": _files_in_s3,
    "embedded-single-pod": _external_db,
    "pdb-blocks-drains": _budget,
    "ingress-controller-namespace": _controller_namespace,
    "restore-key": lambda d: _spec(d).update(restoreFrom="latest"),
    "plugins-not-declarative": lambda d: _spec(d).pop("plugins"),
    "restore-needs-backups": _backups,
    "ordinal-gating-deployment": _lease,
    "ordinal-gating-autoscaler": _lease,
    "autoscaler-needs-requests": _requests,
    "replicas-on-one-claim": lambda d: (
        _spec(d)
        .setdefault("storage", {})
        .setdefault("persistence", {})
        .update(accessModes=["ReadWriteMany"])
    ),
    "mount-of-an-unknown-volume": _data_volume_mounts,
}

# Documents the operator accepts that our stricter rules refuse: document id -> the rules.
REFUSED_ON_PURPOSE: dict[str, set[str]] = {
    "config-samples-instance-public.yaml#0": {"pdb-blocks-drains"},
    "conformance-testdata-maximal.yaml#0": {
        "auth-secret",
        "embedded-single-pod",
        "replicas-on-one-claim",
        "shared-file-storage",
    },
    "conformance-testdata-networking-ingress.yaml#0": {"ingress-controller-namespace"},
    "e2e-scheduler-lease-failover.yaml#0": {"image-tag-format", "shared-file-storage"},
    "envtest-instance-controller.yaml#1": {
        "auth-secret",
        "replicas-on-one-claim",
        "shared-file-storage",
    },
    "envtest-instance-controller.yaml#2": {
        "auth-secret",
        "autoscaler-needs-requests",
        "no-password-in-url",
        "ordinal-gating-deployment",
        "shared-file-storage",
    },
    "envtest-instance-controller.yaml#4": {"auth-secret", "no-password-in-url"},
    "envtest-instance-controller.yaml#5": {"deployment-with-persistence"},
    "readme-configuration.yaml#3": {"image-pinned", "no-password-in-url"},
    "readme-configuration.yaml#15": {"image-pinned", "plugins-not-declarative"},
    "readme-storage-networking-scaling.yaml#5": {
        "auth-secret",
        "image-pinned",
        "replicas-on-one-claim",
        "shared-file-storage",
    },
    "readme-storage-networking-scaling.yaml#7": {
        "auth-secret",
        "autoscaler-needs-requests",
        "image-pinned",
        "ordinal-gating-autoscaler",
        "replicas-on-one-claim",
        "shared-file-storage",
    },
    "readme-storage-networking-scaling.yaml#8": {"image-pinned", "pdb-blocks-drains"},
    "readme-probes-image-backup.yaml#1": {"image-digest-format"},
    "readme-production.yaml#0": {"replicas-on-one-claim"},
    "readme-probes-image-backup.yaml#4": {"image-pinned", "restore-key", "restore-needs-backups"},
    "readme-pod-extras.yaml#0": {"image-pinned", "mount-of-an-unknown-volume"},
    # README fragments and examples without an image: the operator would run "<repo>:" (no tag)
    **{
        f"{file}#{index}": {"image-pinned"}
        for file, indexes in (
            ("readme-quickstart.yaml", [0]),
            ("readme-configuration.yaml", [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]),
            ("readme-storage-networking-scaling.yaml", [0, 1, 2, 3, 4, 6, 9, 10]),
            ("readme-probes-image-backup.yaml", [0, 2, 3]),
            ("readme-pod-extras.yaml", [1, 2, 3, 4]),
            ("readme-security-observability.yaml", [0, 1, 2, 3, 4]),
        )
        for index in indexes
    },
}


@cache
def documents() -> list[dict[str, Any]]:
    index = yaml.safe_load((PEER / "index.yaml").read_text())["documents"]
    found = []
    for entry in index:
        docs = [d for d in yaml.safe_load_all((PEER / entry["file"]).read_text()) if d]
        document = docs[entry["document"]]
        found.append({**entry, "id": f"{entry['file']}#{entry['document']}", "body": document})
    return found


def run(tmp_path: Path, entry: dict[str, Any], command: str) -> Any:
    app = tmp_path / "peer.yaml"
    app.write_text(yaml.safe_dump(entry["body"], sort_keys=False))
    args = ["validate", str(app)] if command == "validate" else ["synth", str(app)]
    if command == "synth":
        args += ["--out", str(tmp_path / "out")]
    return CliRunner().invoke(main, args)


def broken_rules(output: str) -> set[str]:
    """The stricter rules named by the problem lines of an error output."""
    lines = [line for line in output.splitlines() if line.strip().startswith("- ")]
    return {
        name
        for name, (path, words) in STRICTER_RULES.items()
        for line in lines
        if f" {path}" in line and words in line
    }


def refusals(tmp_path: Path, entry: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """The stricter rules that refuse the document, found by applying each refusal's fix and
    validating again (some rules run only once the fields before them are valid), and the
    document with every fix applied."""
    fixed = {**entry, "body": copy.deepcopy(entry["body"])}
    seen: set[str] = set()
    for attempt in range(8):
        result = run(tmp_path / str(attempt), fixed, "validate")
        assert "Traceback" not in result.output
        if result.exit_code == 0:
            return seen, fixed
        assert result.exit_code == 2, result.output
        assert "not built by paperclip-gitops yet" not in result.output
        rules = broken_rules(result.output) - seen
        assert rules, f"refused by something that is not a named stricter rule:{result.output}"
        for rule in sorted(rules):
            FIXES[rule](fixed["body"])
        seen |= rules
    raise AssertionError(f"{entry['id']}: still refused after fixing {sorted(seen)}")


@pytest.mark.parametrize("entry", documents(), ids=lambda e: e["id"])
def test_operator_document(tmp_path: Path, entry: dict[str, Any]) -> None:
    if entry["expect"] == "invalid":
        (tmp_path / "neg").mkdir()
        result = run(tmp_path / "neg", entry, "validate")
        assert "Traceback" not in result.output
        assert result.exit_code == 2, result.output
        assert f"{entry['path']}" in result.output
        return
    for attempt in range(8):
        (tmp_path / str(attempt)).mkdir()
    rules, fixed = refusals(tmp_path, entry)
    assert rules == REFUSED_ON_PURPOSE.get(entry["id"], set())
    # it renders (with the fixes the messages give, for one refused on purpose)
    (tmp_path / "synth").mkdir()
    synthesized = run(tmp_path / "synth", fixed, "synth")
    assert synthesized.exit_code == 0, synthesized.output
    assert list((tmp_path / "synth" / "out").glob("*/kustomize/kustomization.yaml"))


def test_the_index_covers_every_file() -> None:
    files = {p.name for p in PEER.glob("*.yaml")} - {"index.yaml"}
    assert {e["file"] for e in documents()} == files
    assert len(documents()) >= 57
