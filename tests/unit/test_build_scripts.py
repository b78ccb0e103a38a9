"""The build scripts' idempotent "cached" path: it must pass every time, however the binaries
write their `--version` output and however loaded the machine is. The old check piped
`--version` into `grep -q` under `set -o pipefail`; grep exits at the first match, a binary
still writing dies of SIGPIPE, and pipefail turned the match into a failure."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOBUILD = REPO / "tests" / "gobuild" / "build.sh"
SKIP_DIRS = {".venv", ".git", "node_modules", "dist"}
PINS = {
    "K8S_VERSION": "9.9.9",
    "ETCD_VERSION": "8.8.8",
    "KWOK_VERSION": "7.7.7",
    "FLUX_VERSION": "v6.6.6",
    "FLUX_SOURCE_VERSION": "v1.1.1",
    "FLUX_KUSTOMIZE_VERSION": "v1.2.2",
    "FLUX_HELM_VERSION": "v1.3.3",
}
FLUX = {
    "source-controller": "v1.1.1",
    "kustomize-controller": "v1.2.2",
    "helm-controller": "v1.3.3",
}
CHATTY = 4 * 1024 * 1024  # bytes written after the version line: far more than a pipe holds


def fake_binary(path: Path, version_line: str) -> None:
    """Prints its version line first, then megabytes more, as a binary with a long --version
    (or help) text would: a reader that stops early makes it die of SIGPIPE."""
    path.write_text(
        f"#!/bin/sh\necho '{version_line}'\nhead -c {CHATTY} /dev/zero | tr '\\0' 'x'\necho\n"
    )
    path.chmod(0o755)


def fake_cache(root: Path) -> Path:
    recipe = re.search(r"^RECIPE=(\d+)", GOBUILD.read_text(), re.MULTILINE)
    assert recipe
    key = "k8s-9.9.9-etcd-8.8.8-kwok-7.7.7-flux-v6.6.6-r" + recipe.group(1)
    out = root / key
    (out / "bin").mkdir(parents=True)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        fake_binary(out / "bin" / name, "Kubernetes v9.9.9")
    fake_binary(out / "bin" / "etcd", "etcd Version: 8.8.8")
    fake_binary(out / "bin" / "kwok", "kwok version v7.7.7")
    for name, version in FLUX.items():
        fake_binary(out / "bin" / name, name)
        (out / "bin" / f"{name}.version").write_text(version + "\n")
        (out / "crds" / name).mkdir(parents=True)
        (out / "crds" / name / "crd.yaml").write_text("kind: CustomResourceDefinition\n")
    (out / "manifest").write_text(
        "k8s=9.9.9 etcd=8.8.8 kwok=7.7.7 flux=v6.6.6 source=v1.1.1 kustomize=v1.2.2 helm=v1.3.3\n"
    )
    return out


def run_build(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **PINS, "PAPERCLIP_GOBUILD_CACHE": str(cache)}
    return subprocess.run(
        ["bash", str(GOBUILD)], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_fakes_break_an_early_exit_reader(tmp_path: Path) -> None:
    """The fakes do reproduce the race: `| grep -q` under pipefail fails on them."""
    out = fake_cache(tmp_path)
    binary = out / "bin" / "etcd"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{binary}' --version | grep -q -- 8.8.8"],
        capture_output=True,
    )
    assert result.returncode != 0


def test_the_cached_path_passes_many_times_in_a_row(tmp_path: Path) -> None:
    out = fake_cache(tmp_path)
    for attempt in range(25):
        result = run_build(tmp_path)
        assert result.returncode == 0, f"run {attempt}: {result.stderr[-2000:]}"
        assert result.stdout.strip().splitlines()[-1] == str(out)
        assert "[gobuild] cached:" in result.stderr


def test_a_binary_of_another_version_is_not_taken_for_cached(tmp_path: Path) -> None:
    """The cached path still checks: a wrong version means a rebuild (here: the build starts,
    and fails fast because the fake versions do not exist on the Go proxy)."""
    out = fake_cache(tmp_path)
    fake_binary(out / "bin" / "etcd", "etcd Version: 8.8.7")
    env = {**os.environ, **PINS, "PAPERCLIP_GOBUILD_CACHE": str(tmp_path), "GOPROXY": "off"}
    result = subprocess.run(
        ["bash", str(GOBUILD)], env=env, capture_output=True, text=True, timeout=120
    )
    assert "[gobuild] cached:" not in result.stderr
    assert "resolving modules" in result.stderr
    assert result.returncode != 0


def shell_sources() -> list[tuple[Path, str]]:
    found = [p for p in REPO.rglob("*.sh") if not SKIP_DIRS.intersection(p.relative_to(REPO).parts)]
    ci = REPO / ".ci" / "run"
    return [(p, p.read_text()) for p in sorted([*found, ci])]


EARLY_EXIT_READER = re.compile(r"\|\s*(grep\s+(-\w*[qm]\w*|--quiet|--max-count)|head\b)")


def test_no_script_with_pipefail_pipes_into_an_early_exit_reader() -> None:
    sources = shell_sources()
    assert any(p == GOBUILD for p, _ in sources)
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path, text in sources
        if "pipefail" in text
        for number, line in enumerate(text.splitlines(), 1)
        if not line.lstrip().startswith("#") and EARLY_EXIT_READER.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_scan_finds_the_old_pattern() -> None:
    assert EARLY_EXIT_READER.search('"$b" --version 2>/dev/null | grep -q -- "$2"')
    assert EARLY_EXIT_READER.search("cmd | head -n 1")
    assert not EARLY_EXIT_READER.search("cmd | tail -n 1")


@pytest.mark.k8s
def test_the_real_cached_path_passes_many_times_in_a_row() -> None:
    """With the real built binaries (the suite's own cache), 20 runs in a row."""
    outputs = set()
    for attempt in range(20):
        result = subprocess.run(["bash", str(GOBUILD)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"run {attempt}: {result.stderr[-2000:]}"
        assert "[gobuild] cached:" in result.stderr
        outputs.add(result.stdout.strip().splitlines()[-1])
    assert len(outputs) == 1
