"""The operator's own Instance documents (tests/peer/, each with its origin) through
`paperclip-gitops validate` and `synth`: every document the operator accepts renders, unless
one of our deliberate stricter rules refuses it (named here, documented in the README); the
operator's negative cases are refused at the same field path."""

from __future__ import annotations

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
    "auth-secret": ("spec.auth.secretRef", "is required in authenticated mode"),
    "no-password-in-url": ("spec.database.externalURL", "would be committed to git"),
    "deployment-with-persistence": ("spec.workload", "storage.persistence is enabled"),
    "shared-file-storage": ("spec.objectStorage", "replicas"),
    "image-tag-format": ("spec.image.tag", "String should match pattern"),
    "image-digest-format": ("spec.image.digest", "String should match pattern"),
    "pdb-blocks-drains": ("spec.availability.podDisruptionBudget", "PDBMayBlockDrains"),
}

# Documents the operator accepts that one of the rules above refuses: document id -> rule names.
# (Filled from the run; every entry is one of the rules above, never "not built yet".)
REFUSED_ON_PURPOSE: dict[str, set[str]] = {}


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
    return {
        name
        for name, (path, words) in STRICTER_RULES.items()
        if f"{path}:" in output and words in output
    }


@pytest.mark.parametrize("entry", documents(), ids=lambda e: e["id"])
def test_operator_document(tmp_path: Path, entry: dict[str, Any]) -> None:
    result = run(tmp_path, entry, "validate")
    assert "Traceback" not in result.output
    if entry["expect"] == "invalid":
        assert result.exit_code == 2, result.output
        assert f"{entry['path']}" in result.output
        return
    expected = REFUSED_ON_PURPOSE.get(entry["id"], set())
    if not expected:
        assert result.exit_code == 0, result.output
        synthesized = run(tmp_path, entry, "synth")
        assert synthesized.exit_code == 0, synthesized.output
        assert list((tmp_path / "out").glob("*/kustomize/kustomization.yaml"))
        return
    assert result.exit_code == 2, result.output
    assert "not built by paperclip-gitops yet" not in result.output
    assert broken_rules(result.output) == expected, result.output


def test_the_index_covers_every_file() -> None:
    files = {p.name for p in PEER.glob("*.yaml")} - {"index.yaml"}
    assert {e["file"] for e in documents()} == files
    assert len(documents()) >= 57
