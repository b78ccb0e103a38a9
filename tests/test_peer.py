"""The operator's own Instance documents (tests/peer/, each with its origin) through
`paperclip-gitops validate`, `import` and `synth`: every document the operator accepts is
refused only by our deliberate stricter rules (named here, documented in docs/instances.md), all of
them in one run; `import` answers each refusal with a fix it reports, or fails naming the
decision it needs and the option that gives it; with the decisions of the table below it
writes an app that synthesizes. The operator's negative cases are refused at the same field
path."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from constructs_lib.cli import main
from constructs_lib.importer.decisions import DECISIONS as IMPORT_DECISIONS
from constructs_lib.importer.fixes import FIXES as IMPORT_FIXES
from tests.conftest import REPO, docs_text

PEER = REPO / "tests" / "peer"

# Our deliberate stricter rules: (field path in the error, rule name used in docs/instances.md,
# "The operator's own documents"). A document the operator accepts may be refused only by these.
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
        "in which namespace its controller runs",
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
    # the API server's own rule, reported at the user's field (the operator's pods would be
    # refused)
    "mount-of-an-unknown-volume": ("spec.initContainers", "is not a volume"),
}

# How `import` answers each stricter rule: the import fix rules (reported with their reason)
# or the decisions (an error naming the choice until an option gives it) that may.
ANSWERS: dict[str, set[str]] = {
    "image-pinned": {"image-version"},
    "image-tag-format": {"image-version"},
    "image-digest-format": {"image-version"},
    "auth-secret": {"auth-secret"},
    "no-password-in-url": {"database-url-to-secret", "external-url-unused"},
    "deployment-with-persistence": {"statefulset-as-run"},
    "shared-file-storage": {"file-storage-bucket"},
    "embedded-single-pod": {"database-for-replicas"},
    "pdb-blocks-drains": {"budget-allows-drains"},
    "ingress-controller-namespace": {"ingress-controller-namespace"},
    "restore-key": {"restore-source"},
    "restore-needs-backups": {"restore-source"},
    "plugins-not-declarative": {"plugins-dropped"},
    "ordinal-gating-deployment": {"scheduler-gating-lease"},
    "ordinal-gating-autoscaler": {"scheduler-gating-lease"},
    "autoscaler-needs-requests": {"resource-requests"},
    "replicas-on-one-claim": {"data-volume-sharing"},
    "mount-of-an-unknown-volume": {"data-volume-name"},
}

TAG = ["--image-tag", "2026.1106.0"]
FILES = "{provider: s3, bucket: paperclip-files, credentialsSecretRef: {name: paperclip-s3}}"
SHARED = "{accessModes: [ReadWriteMany], storageClass: nfs}"
REQUESTS = "{cpu: 500m, memory: 1Gi}"
EXTERNAL = "{mode: external, externalURLSecretRef: {name: paperclip-db, key: DATABASE_URL}}"


def _set(name: str, path: str, value: str) -> list[str]:
    return ["--set", f"{name}:{path}={value}"]


# The decisions each operator-accepted document needs for `import` (document id -> decision
# name -> the options that give it); every other accepted document imports without options.
# The choices keep every feature the document asks for (a bucket rather than one replica).
NEEDS: dict[str, dict[str, list[str]]] = {
    "conformance-testdata-maximal.yaml#0": {
        "database-for-replicas": _set("conf-maximal", "spec.database", EXTERNAL),
        "data-volume-sharing": _set("conf-maximal", "spec.storage.persistence", SHARED),
        "file-storage-bucket": _set("conf-maximal", "spec.objectStorage", FILES),
    },
    "conformance-testdata-networking-ingress.yaml#0": {
        "ingress-controller-namespace": _set(
            "conf-ingress",
            "spec.security.networkPolicy.ingressControllerNamespaces",
            "[ingress-nginx]",
        )
    },
    "e2e-scheduler-lease-failover.yaml#0": {
        "image-version": TAG,
        "file-storage-bucket": _set("e2e-lease", "spec.objectStorage", FILES),
    },
    "envtest-instance-controller.yaml#1": {
        "data-volume-sharing": _set("suspended-resource", "spec.storage.persistence", SHARED),
        "file-storage-bucket": _set("suspended-resource", "spec.objectStorage", FILES),
    },
    "envtest-instance-controller.yaml#2": {
        "file-storage-bucket": _set("auto-workload", "spec.objectStorage", FILES),
        "resource-requests": _set("auto-workload", "spec.resources.requests", REQUESTS),
    },
    "readme-storage-networking-scaling.yaml#5": {
        "image-version": TAG,
        "data-volume-sharing": _set("readme-manual-replicas", "spec.storage.persistence", SHARED),
        "file-storage-bucket": _set("readme-manual-replicas", "spec.objectStorage", FILES),
    },
    "readme-storage-networking-scaling.yaml#7": {
        "image-version": TAG,
        "data-volume-sharing": _set("readme-hpa", "spec.storage.persistence", SHARED),
        "file-storage-bucket": _set("readme-hpa", "spec.objectStorage", FILES),
        "resource-requests": _set("readme-hpa", "spec.resources.requests", REQUESTS),
    },
    "readme-probes-image-backup.yaml#4": {
        "image-version": TAG,
        "restore-source": _set("readme-restore-from", "spec.restoreFrom", "null"),
    },
    "readme-production.yaml#0": {
        "data-volume-sharing": _set("paperclip-prod", "spec.storage.persistence", SHARED),
    },
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
    # (restore-needs-backups, at the same field, follows once the key is valid: one problem
    # per field; import's restore-source decision answers both)
    "readme-probes-image-backup.yaml#4": {"image-pinned", "restore-key"},
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


# README fragments and examples without a usable image: the one decision they need.
for _id, _rules in REFUSED_ON_PURPOSE.items():
    if _rules & {"image-pinned", "image-tag-format", "image-digest-format"}:
        NEEDS.setdefault(_id, {}).setdefault("image-version", TAG)


@cache
def documents() -> list[dict[str, Any]]:
    index = yaml.safe_load((PEER / "index.yaml").read_text())["documents"]
    found = []
    for entry in index:
        docs = [d for d in yaml.safe_load_all((PEER / entry["file"]).read_text()) if d]
        document = docs[entry["document"]]
        found.append({**entry, "id": f"{entry['file']}#{entry['document']}", "body": document})
    return found


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def broken_rules(output: str) -> set[str]:
    """The stricter rules named by the problem lines of an error output."""
    lines = [line for line in output.splitlines() if line.strip().startswith("- ")]
    return {
        name
        for name, (path, words) in STRICTER_RULES.items()
        for line in lines
        if f" {path}" in line and words in line
    }


def reported(output: str) -> set[str]:
    """The import rules a report names ([rule] lines) and the decisions its errors name."""
    return set(re.findall(r"^\s+- \[([a-z-]+)\]", output, re.MULTILINE)) | set(
        re.findall(r"needs your decision \(([a-z-]+)\)", output)
    )


def import_app(tmp_path: Path, entry: dict[str, Any], options: list[str]) -> tuple[Result, Path]:
    source, app = tmp_path / "operator.yaml", tmp_path / "app" / "peer.yaml"
    tmp_path.mkdir()
    source.write_text(yaml.safe_dump(entry["body"], sort_keys=False))
    return invoke("import", str(source), "--out", str(app), *options), app


@pytest.mark.parametrize("entry", documents(), ids=lambda e: e["id"])
def test_operator_document(tmp_path: Path, entry: dict[str, Any]) -> None:
    source = tmp_path / "operator.yaml"
    source.write_text(yaml.safe_dump(entry["body"], sort_keys=False))
    validated = invoke("validate", str(source))
    if entry["expect"] == "invalid":
        assert validated.exit_code == 2, validated.output
        assert f"{entry['path']}" in validated.output
        return
    # refused only by the stricter rules, every one of them in one run
    refused = REFUSED_ON_PURPOSE.get(entry["id"], set())
    assert broken_rules(validated.output) == refused, validated.output
    assert validated.exit_code == (2 if refused else 0), validated.output
    needs = NEEDS.get(entry["id"], {})
    # without its decisions, import fails naming each choice and the option that gives it
    bare, app = import_app(tmp_path / "bare", entry, [])
    if needs:
        assert bare.exit_code == 2, bare.output
        assert not app.exists()
        for decision, options in needs.items():
            assert f"needs your decision ({decision})" in bare.output, bare.output
            given = options[1].split("=", 1)[0] if options[0] == "--set" else "--image-tag TAG"
            assert given in bare.output, (given, bare.output)
    else:
        assert bare.exit_code == 0, bare.output
    # with them, every refusal is answered by a reported fix or a given decision
    options = [option for given in needs.values() for option in given]
    imported, app = import_app(tmp_path / "decided", entry, options)
    assert imported.exit_code == 0, imported.output
    answered = reported(imported.output) | set(needs)
    for rule in refused:
        assert ANSWERS[rule] & answered, (rule, imported.output)
    # and the app it wrote synthesizes
    synthesized = invoke("synth", str(app), "--out", str(tmp_path / "out"))
    assert synthesized.exit_code == 0, synthesized.output
    assert list((tmp_path / "out").glob("*/kustomize/kustomization.yaml"))


def test_the_answers_name_real_import_rules() -> None:
    names = {f.name for f in IMPORT_FIXES} | {d.name for d in IMPORT_DECISIONS}
    assert set(ANSWERS) == set(STRICTER_RULES)
    assert set().union(*ANSWERS.values()) <= names
    assert {d for needs in NEEDS.values() for d in needs} <= names


def test_the_index_covers_every_file() -> None:
    files = {p.name for p in PEER.glob("*.yaml")} - {"index.yaml"}
    assert {e["file"] for e in documents()} == files
    assert len(documents()) >= 57


def test_the_migrating_page_gives_the_figures_of_this_table() -> None:
    accepted = [e["id"] for e in documents() if e["expect"] == "valid"]
    only_image = [i for i, needs in NEEDS.items() if set(needs) == {"image-version"}]
    others = len(NEEDS) - len(only_image)
    page = " ".join(docs_text("migrating.md").split())
    assert (
        f"Of the operator's {len(accepted)} accepted documents in `tests/peer/`, "
        f"{len(accepted) - len(NEEDS)} import with no decision"
    ) in page
    assert f"{len(only_image)} need only `--image-tag`" in page
    assert f"{others} need other decisions" in page
