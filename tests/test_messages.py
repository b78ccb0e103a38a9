"""What users read: one run reports every problem at the user's field path (the API server's
pod rules included), a document is named one way everywhere, NO_COLOR is honoured, only
commands that write say "Nothing was written.", and the editor schema accepts what the
commands accept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from click.testing import CliRunner, Result

from constructs_lib.cli import main
from constructs_lib.spec import Instance
from tests.conftest import REPO

INSTANCE = {"apiVersion": "paperclip.inc/v1alpha1", "kind": "Instance"}
PINNED = {"image": {"tag": "2026.1106.0"}}


def write(path: Path, *specs: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump_all(
            [
                {**INSTANCE, "metadata": {"name": f"team-{i}"}, "spec": {**PINNED, **spec}}
                for i, spec in enumerate(specs, start=1)
            ]
        )
    )
    return path


def problems(result: Result) -> list[str]:
    return [line[4:] for line in result.output.splitlines() if line.startswith("  - ")]


def test_pod_rules_at_the_users_fields_in_one_run_with_the_others(tmp_path: Path) -> None:
    app = write(
        tmp_path / "app.yaml",
        {
            "availabilty": {},  # a field error
            "availability": {"replicas": 2},  # a rule error (shared file storage) ...
            "extraVolumes": [{"name": "models", "emptyDir": {}}],
            "extraVolumeMounts": [
                {"name": "data", "mountPath": "/d"},
                {"name": "model", "mountPath": "/m"},
            ],
            "initContainers": [{"name": "paperclip", "image": "busybox:1.36"}],
            "sidecars": [
                {
                    "name": "proxy",
                    "image": "busybox:1.36",
                    "volumeMounts": [{"name": "cache", "mountPath": "/c"}],
                }
            ],
        },
    )
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 2, result.output
    found = {line.split(": ", 2)[1]: line for line in problems(result)}
    assert "spec.availabilty" in found and "spec.objectStorage" in found
    data = found["spec.extraVolumeMounts[0].name"]
    assert "'data' is not a volume of the pod" in data and "use name: paperclip-data" in data
    assert "did you mean 'models'?" in found["spec.extraVolumeMounts[1].name"]
    assert "(paperclip-data, models)" in found["spec.sidecars[0].volumeMounts[0].name"]
    assert "duplicate container name 'paperclip'" in found["spec.initContainers[0].name"]
    assert not [line for line in problems(result) if "spec.template" in line]


def test_a_document_is_named_one_way_everywhere(tmp_path: Path) -> None:
    field_error = write(tmp_path / "a.yaml", {}, {"suspendd": True})
    rule_error = write(tmp_path / "b.yaml", {}, {"availability": {"replicas": 2}})
    for app in (field_error, rule_error):
        result = CliRunner().invoke(main, ["validate", str(app)])
        assert result.exit_code == 2, result.output
        assert all(f"{app}, document 2 (team-2): spec." in line for line in problems(result))
    assert "instance team-2" not in result.output


def test_no_color_and_nothing_written_only_where_something_would_be(tmp_path: Path) -> None:
    app = write(tmp_path / "app.yaml", {"suspendd": True})
    coloured = CliRunner().invoke(main, ["validate", str(app)], color=True)
    assert "\x1b[" in coloured.output
    plain = CliRunner().invoke(main, ["validate", str(app)], color=True, env={"NO_COLOR": "1"})
    assert plain.exit_code == 2 and "\x1b[" not in plain.output
    assert "Nothing was written." not in plain.output
    synth = CliRunner().invoke(main, ["synth", str(app), "--out", str(tmp_path / "out")])
    assert synth.exit_code == 2 and "Nothing was written." in synth.output


def test_an_ingress_without_a_class_is_worded_as_such(tmp_path: Path) -> None:
    app = write(
        tmp_path / "app.yaml",
        {"networking": {"ingress": {"enabled": True, "hosts": ["paperclip.example.com"]}}},
    )
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 2
    assert "the Ingress sets no ingressClassName" in result.output
    assert "None" not in result.output


def test_the_editor_schema_accepts_what_the_commands_accept() -> None:
    result = CliRunner().invoke(main, ["schema"])
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:paperclip-gitops:")
    adapters = schema["$defs"]["AdaptersSpec"]["properties"]
    assert "e2b" in adapters and "e2B" not in adapters
    validator = jsonschema.Draft202012Validator(schema)
    exported = yaml.safe_load((REPO / "tests" / "operator_export" / "instances.yaml").read_text())
    peer = [
        d
        for path in sorted((REPO / "tests" / "peer").glob("*.yaml"))
        if path.name != "index.yaml"
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]
    accepted = 0
    for document in [*exported["items"], *peer]:
        try:
            Instance.model_validate(document)
        except ValueError:
            continue
        accepted += 1
        errors = [e.message for e in validator.iter_errors(document)]
        assert not errors, (document["metadata"]["name"], errors)
    assert accepted >= 50
    assert "status" in exported["items"][0]
    typo = {**INSTANCE, "metadata": {"name": "x"}, "spec": {"availabilty": {}}}
    assert list(validator.iter_errors(typo))
