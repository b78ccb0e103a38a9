"""The k8s_launcher adapter's own unit tests (tests/adapter/*.test.mjs, Node's test runner)
run in `make test`; and the adapter's package version is the project's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_adapter_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node, "node (20+) is required by the adapter tests"
    tests = sorted(str(p) for p in (REPO / "tests" / "adapter").glob("*.test.mjs"))
    assert len(tests) >= 2
    result = subprocess.run(
        [node, "--test", *tests], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", result.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 20, result.stdout[-2000:]
    assert failed and failed.group(1) == "0"


def test_the_adapter_version_is_the_project_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    package = json.loads((REPO / "launcher" / "adapter" / "package.json").read_text())
    assert package["version"] == project
