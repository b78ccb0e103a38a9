"""The Kubernetes JSON schemas bundled in PyPI ``kubernetes-validate``, read straight from the
package's data without importing it: its module loads jsonschema (a tenth of a second), which
only an invalid object needs, for its messages. Each file is parsed once per process."""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "kubernetes_validate"
SCHEMAS = "kubernetes-json-schema"
_VERSION_DIR = re.compile(r"^v(\d+(?:\.\d+)*)")
_MAJOR_MINOR = re.compile(r"^(\d+\.\d+).*")
_GROUP_VERSION = re.compile(r"^([^./]*)(?:\.[^/]*)?/")


@cache
def package_dir() -> Path:
    """The installed package's directory (found, not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModuleNotFoundError(f"the Python package {PACKAGE} is not installed", name=PACKAGE)
    return Path(locations[0])


@cache
def all_versions() -> tuple[str, ...]:
    """Every bundled Kubernetes version (``1.33.0``), oldest first."""
    found = {
        match.group(1)
        for entry in (package_dir() / SCHEMAS).iterdir()
        if (match := _VERSION_DIR.match(entry.name))
    }
    return tuple(sorted(found, key=lambda v: tuple(int(part) for part in v.split("."))))


def major_minor(version: str) -> str:
    """``1.33`` of ``1.33.0`` (other text is returned as it is)."""
    return _MAJOR_MINOR.sub(r"\1", version)


@cache
def schema_contents(relative: str) -> Any:
    """The parsed JSON file at ``relative`` (under the package directory; cached: do not
    change it). Raises FileNotFoundError when the package has no such file."""
    return json.loads((package_dir() / relative).read_bytes())


@cache
def strict_dir(version: str) -> str | None:
    """The directory of the strict schemas of Kubernetes ``version`` (``1.33``, ``v1.33.2``:
    the newest bundled patch of that minor), or None when no such version is bundled."""
    wanted = major_minor(version.removeprefix("v"))
    candidates = [v for v in all_versions() if major_minor(v) == wanted]
    return f"{SCHEMAS}/v{candidates[-1]}-local-strict" if candidates else None


def kind_schema(schema_dir: str, api_version: str, kind: str) -> Any:
    """The schema of a top-level kind in ``schema_dir`` (cached: do not change it). Raises
    FileNotFoundError when the Kubernetes API has no such kind."""
    group_version = _GROUP_VERSION.sub(r"\1-", api_version)
    return schema_contents(f"{schema_dir}/{kind.lower()}-{group_version}.json")


def definitions(schema_dir: str) -> Any:
    """The ``_definitions.json`` document of ``schema_dir`` (cached: do not change it)."""
    return schema_contents(f"{schema_dir}/_definitions.json")
