"""Self-check of the operator-shipped Instance corpus in tests/peer/ (issue 11).

Checks, without importing paperclip-gitops:

- every ``*.yaml`` file here except ``index.yaml`` starts with an origin comment and holds only
  ``apiVersion: paperclip.inc/v1alpha1`` / ``kind: Instance`` documents with a metadata.name;
- ``index.yaml`` lists exactly the (file, document) pairs present, each once, with an origin,
  ``expect: valid | invalid``, and a ``path`` and ``rule`` for (and only for) invalid ones.

Run: ``python tests/peer/check_corpus.py`` (exit 0 when consistent, 1 with a list of problems).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
INDEX = HERE / "index.yaml"
API_VERSION = "paperclip.inc/v1alpha1"
KIND = "Instance"
SOURCES = {"config", "conformance", "e2e", "envtest", "docs", "readme"}
ENTRY_KEYS = {"file", "document", "source", "origin", "expect", "path", "rule", "note"}


def corpus_files() -> list[Path]:
    """Every corpus file (all YAML here but the index), sorted by name."""
    return sorted(p for p in HERE.glob("*.yaml") if p.name != INDEX.name)


def load_documents(path: Path) -> list[Any]:
    """The non-empty YAML documents of ``path``, in order."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def check_file(path: Path) -> Iterator[str]:
    """Problems with one corpus file."""
    if not path.read_text(encoding="utf-8").startswith("# Origin:"):
        yield f"{path.name}: does not start with an '# Origin:' comment"
    docs = load_documents(path)
    if not docs:
        yield f"{path.name}: holds no document"
    for i, doc in enumerate(docs):
        where = f"{path.name}[{i}]"
        if not isinstance(doc, dict):
            yield f"{where}: not a mapping"
            continue
        if doc.get("apiVersion") != API_VERSION:
            yield f"{where}: apiVersion is {doc.get('apiVersion')!r}, not {API_VERSION!r}"
        if doc.get("kind") != KIND:
            yield f"{where}: kind is {doc.get('kind')!r}, not {KIND!r}"
        metadata = doc.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            yield f"{where}: metadata.name is missing"
        if not isinstance(doc.get("spec"), dict):
            yield f"{where}: spec is missing"


def check_entry(n: int, entry: Any) -> Iterator[str]:
    """Problems with index entry number ``n``."""
    where = f"index.yaml documents[{n}]"
    if not isinstance(entry, dict):
        yield f"{where}: not a mapping"
        return
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        yield f"{where}: unknown keys {sorted(unknown)}"
    if not isinstance(entry.get("file"), str):
        yield f"{where}: 'file' must be a string"
    if not isinstance(entry.get("document"), int) or isinstance(entry.get("document"), bool):
        yield f"{where}: 'document' must be an integer"
    if entry.get("source") not in SOURCES:
        yield f"{where}: 'source' must be one of {sorted(SOURCES)}"
    if not isinstance(entry.get("origin"), str) or not entry["origin"]:
        yield f"{where}: 'origin' is missing"
    expect = entry.get("expect")
    if expect not in ("valid", "invalid"):
        yield f"{where}: 'expect' must be valid or invalid, not {expect!r}"
    has_reason = "path" in entry or "rule" in entry
    if expect == "invalid":
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("spec."):
            yield f"{where}: an invalid document needs 'path' (a spec.* field path)"
        if not isinstance(entry.get("rule"), str) or not entry["rule"]:
            yield f"{where}: an invalid document needs 'rule'"
    elif has_reason:
        yield f"{where}: 'path'/'rule' are only for invalid documents"


def check() -> list[str]:
    """Every problem found in the corpus and its index."""
    problems: list[str] = []
    present: set[tuple[str, int]] = set()
    for path in corpus_files():
        problems.extend(check_file(path))
        present.update((path.name, i) for i in range(len(load_documents(path))))

    index = yaml.safe_load(INDEX.read_text(encoding="utf-8"))
    entries = index.get("documents") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        return [*problems, "index.yaml: no 'documents' list"]
    listed: set[tuple[str, int]] = set()
    for n, entry in enumerate(entries):
        problems.extend(check_entry(n, entry))
        if isinstance(entry, dict):
            key = (str(entry.get("file")), entry.get("document"))
            if key in listed:
                problems.append(f"index.yaml: {key[0]}[{key[1]}] is listed twice")
            listed.add(key)  # type: ignore[arg-type]
    for name, i in sorted(present - listed):
        problems.append(f"index.yaml: {name}[{i}] is present but not listed")
    for name, i in sorted(listed - present, key=str):
        problems.append(f"index.yaml: {name}[{i}] is listed but not present")
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    entries = yaml.safe_load(INDEX.read_text(encoding="utf-8"))["documents"]
    invalid = sum(1 for e in entries if e["expect"] == "invalid")
    print(
        f"ok: {len(entries)} Instance documents in {len(corpus_files())} files "
        f"({len(entries) - invalid} valid, {invalid} invalid upstream)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
