"""The bundled Kubernetes schemas are read without importing kubernetes-validate, and the
synthesis loads jsonschema only to explain an invalid object."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kubernetes_validate import utils as kv

from constructs_lib.spec import bundled_schemas
from constructs_lib.spec.kubeschema import definition_validator, object_validator, schema_errors
from tests.conftest import REPO


def test_versions_and_files_are_the_packages_own() -> None:
    assert list(bundled_schemas.all_versions()) == list(dict.fromkeys(kv.all_versions()))
    for version in ("1.33.0", "1.35.1-rc.0", "v1.30", "latest"):
        assert bundled_schemas.major_minor(version) == kv.major_minor(version)
    relative = "kubernetes-json-schema/v1.33.0-local-strict/configmap-v1.json"
    assert bundled_schemas.schema_contents(relative) == kv.schema_contents(relative, "1.33")


def test_a_missing_schema_file_is_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        bundled_schemas.schema_contents("kubernetes-json-schema/v1.33.0-local-strict/nope.json")


def test_an_invalid_object_is_still_explained() -> None:
    validator = object_validator("1.33", "v1", "ConfigMap")
    found = schema_errors(validator, {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}})
    assert found and found[0][0] == "data.a"
    assert "is not of type 'string'" in found[0][1]
    container = definition_validator("1.33", "io.k8s.api.core.v1.Container")
    assert [path for path, _ in schema_errors(container, {"name": "x", "iamge": "y"})] == [""]


LOADED = """
import json, sys
from pathlib import Path
import constructs_lib.cli
from constructs_lib.render.inputs import check_version, load_apps
import constructs_lib.render.validate, constructs_lib.render.helm.templates
from constructs_lib.render.validate import check_and_dump
check_version("1.33")
[app] = load_apps([Path(sys.argv[1])])
problems, _ = check_and_dump(
    [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}],
    "1.33", "f", "i",
)
heavy = [m for m in ("jsonschema", "kubernetes_validate", "urllib.request") if m in sys.modules]
report = {"heavy": heavy, "problems": len(problems), "n": len(app.instances)}
print(json.dumps(report))
"""


def test_the_synthesis_path_does_not_load_jsonschema_for_valid_objects() -> None:
    """Loading an app and checking valid objects (what every synth does) needs neither
    jsonschema nor kubernetes-validate's module (a tenth of a second each process)."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, str(REPO / "apps" / "production.yaml")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"heavy": [], "problems": 0, "n": report["n"]}
    assert report["n"] >= 1
