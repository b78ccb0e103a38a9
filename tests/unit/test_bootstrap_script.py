"""The secrets bootstrap script (constructs_lib/scripts/ensure-secrets.mjs) as a program: what
it takes and refuses before it talks to any API server. (Against the real API server, with the
Node of the Paperclip server image: tests/k8s/test_secrets_bootstrap.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "constructs_lib" / "scripts" / "ensure-secrets.mjs"


def run(args: list[str], tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is required by the bootstrap script tests"
    return subprocess.run(
        [node, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def parses(args: list[str]) -> bool:
    """Whether the script takes ``args`` (the Job's): it then goes on to read its credentials,
    which here do not exist, and says so; refused arguments end it first with usage."""
    result = run([*args, "--token-file", "/nonexistent/token", "--server", "https://127.0.0.1:9"])
    assert result.returncode == 2, result.stderr
    return "cannot read the credentials" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["a/b=hex32"], "--namespace is required"),
        (["--namespace", "ns"], "at least one"),
        (["--namespace", "ns", "a/b=password123"], "NAME/KEY=FORM"),
        (["--namespace", "ns", "--bogus", "a/b=hex32"], "unknown option --bogus"),
    ],
)
def test_bad_arguments_end_with_usage_and_status_2(args: list[str], message: str) -> None:
    result = run(args)
    assert result.returncode == 2
    assert message in result.stderr and "usage:" in result.stderr


def test_an_unreachable_api_server_is_an_error_without_a_stack_trace(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    ca = tmp_path / "ca.crt"
    ca.write_text("")
    result = run(
        [
            "--namespace",
            "ns",
            "a/b=hex32",
            "--server",
            "https://127.0.0.1:9",
            "--token-file",
            str(token),
            "--ca-file",
            str(ca),
        ]
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "    at " not in result.stderr
