"""The loader: YAML safety checks, every problem in one run, Python apps in a child process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from constructs_lib.errors import UserError
from constructs_lib.spec.loader import decode, load_app, load_yaml, parse_instance
from constructs_lib.spec.yaml_safety import check_yaml
from tests.conftest import MINIMAL, merge

GOOD = yaml.safe_dump(MINIMAL)


def problems(text: str) -> list[str]:
    with pytest.raises(UserError) as caught:
        load_yaml(text, "f.yaml")
    return [p.render() for p in caught.value.problems]


def test_every_duplicate_key_is_reported_with_its_path_and_lines() -> None:
    text = GOOD + "kind: Instance\n" + "spec: {}\n"
    found = problems(text)
    assert len(found) == 2
    assert "kind: the key 'kind' appears twice in one mapping (lines 2 and" in found[0]
    assert found[1].startswith("f.yaml: spec: the key 'spec'")


def test_the_same_key_in_different_mappings_is_fine() -> None:
    check_yaml("a: {x: 1}\nb: {x: 2}\nc: [{x: 1}, {x: 2}]\n")


def test_merge_keys_may_be_overridden() -> None:
    check_yaml("base: &b {x: 1}\nthis:\n  <<: *b\n  x: 2\n")


def test_an_exported_instance_with_an_unquoted_timestamp_loads() -> None:
    exported = merge(MINIMAL, {"status": {"phase": "Running"}})
    text = yaml.safe_dump(exported).replace(
        "metadata:\n", "metadata:\n  creationTimestamp: 2026-01-02T03:04:05Z\n"
    )
    [instance] = load_yaml(text, "f.yaml")
    assert instance.metadata.creationTimestamp == "2026-01-02T03:04:05Z"


def test_non_utf8_is_refused_with_the_byte_offset() -> None:
    with pytest.raises(UserError, match=r"byte offset 8 \(line 2\)"):
        decode(b"a: 1\nb: \xc3\x28\n", "f.yaml")
    assert decode("\ufeffa: 1\n".encode(), "f.yaml") == "a: 1\n"


def test_field_errors_and_rule_errors_are_reported_together() -> None:
    document = merge(
        MINIMAL,
        {
            "spec": {
                "deployment": {"mode": "local_trusted", "exposure": "public"},
                "workload": "DaemonSet",
                "replica": 2,
            }
        },
    )
    with pytest.raises(UserError) as caught:
        parse_instance(document)
    paths = [p.path for p in caught.value.problems]
    assert paths == ["spec.workload", "spec.replica", "spec.deployment.exposure"]


def test_rule_errors_about_an_invalid_field_are_left_out() -> None:
    # the invalid externalURL is removed for the rule run; "external needs a URL" would be
    # a second, misleading report about the same field
    document = merge(
        MINIMAL,
        {"spec": {"database": {"mode": "external", "externalURL": "postgres://u:pw@db/x"}}},
    )
    with pytest.raises(UserError) as caught:
        parse_instance(document)
    assert [p.path for p in caught.value.problems] == ["spec.database.externalURL"]


def test_no_rule_run_when_the_pruned_copy_does_not_validate() -> None:
    document = merge(MINIMAL, {"metadata": {"name": None}})
    with pytest.raises(UserError) as caught:
        parse_instance(document)
    assert [p.path for p in caught.value.problems] == ["metadata.name"]


def _app(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "app.py"
    path.write_text(
        "from constructs_lib.spec import *\n"
        "def good(name='demo'):\n"
        "    return Instance(metadata=ObjectMetadata(name=name, namespace='team'),\n"
        "        spec=InstanceSpec(image=ImageSpec(tag='1'),\n"
        "            deployment=DeploymentSpec(mode='local_trusted'),\n"
        "            database=DatabaseSpec(mode='embedded')))\n" + body
    )
    return path


def test_a_python_app_round_trips_through_the_child(tmp_path: Path) -> None:
    path = _app(tmp_path, "def instances():\n    return [good('a'), good('b')]\n")
    app = load_app(path)
    assert [i.name for i in app.instances] == ["a", "b"]


def test_a_python_app_cannot_patch_the_generator(tmp_path: Path) -> None:
    from constructs_lib.spec import rules

    before = rules.errors
    path = _app(
        tmp_path,
        "from constructs_lib.spec import rules\nrules.errors = None\n"
        "def instances():\n    return [good()]\n",
    )
    load_app(path)
    assert rules.errors is before


def test_a_hanging_app_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    path = _app(tmp_path, "import time\ndef instances():\n    time.sleep(600)\n")
    with pytest.raises(UserError, match=r"did not finish within 0\.5 seconds"):
        load_app(path, timeout=0.5)


def test_processes_started_by_an_app_are_killed(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    path = _app(
        tmp_path,
        "import subprocess, time\n"
        f"p = subprocess.Popen(['sleep', '600'])\nopen({str(marker)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n",
    )
    with pytest.raises(UserError, match="did not finish"):
        load_app(path, timeout=1.0)
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            import os
            import time

            os.kill(pid, 0)
            time.sleep(0.05)


def test_the_timeout_setting_is_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAPERCLIP_GITOPS_APP_TIMEOUT", "soon")
    with pytest.raises(UserError, match="PAPERCLIP_GITOPS_APP_TIMEOUT"):
        load_app(_app(tmp_path, "def instances():\n    return [good()]\n"))
