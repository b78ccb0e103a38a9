"""The atomic writer: killed at any step, every app directory holds its old or its new tree;
the next run cleans up (and restores what the two-rename fallback had parked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from constructs_lib.render.atomic import (
    KILL_AT_ENV,
    KILLED_EXIT,
    NO_EXCHANGE_ENV,
    STAGING_PREFIX,
    clean_stale_staging,
    exchange,
    write_trees,
)
from constructs_lib.render.layout import MARKER_FILE, marker_text
from tests.conftest import REPO, tree_bytes

GENERATED = marker_text("apps/x.yaml")
OLD: dict[str, dict[str, str]] = {
    "a": {MARKER_FILE: GENERATED, "kustomize/one.yaml": "old one\n", "kustomize/gone.yaml": "x\n"},
    "b": {MARKER_FILE: GENERATED, "kustomize/two.yaml": "old two\n"},
    "gone": {MARKER_FILE: GENERATED, "kustomize/g.yaml": "deleted app\n"},
    "keep": {"notes.txt": "not generated: never touched\n"},
}
NEW: dict[str, dict[str, str]] = {
    "a": {MARKER_FILE: GENERATED, "kustomize/one.yaml": "new one\n", "kustomize/add.yaml": "+\n"},
    "b": {MARKER_FILE: GENERATED, "kustomize/two.yaml": "new two\n"},
    "c": {MARKER_FILE: GENERATED, "kustomize/three.yaml": "a new app\n"},
}
WRITER = (
    "import json, sys\nfrom pathlib import Path\n"
    "from constructs_lib.render.atomic import write_trees\n"
    "write_trees(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), prune=True)\n"
)


def lay_out(root: Path, trees: dict[str, dict[str, str]]) -> None:
    for app, files in trees.items():
        for relative, text in files.items():
            target = root / app / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def app_tree(root: Path, app: str) -> dict[str, str] | None:
    if not (root / app).exists():
        return None
    return {k: v.decode() for k, v in tree_bytes(root / app).items()}


def assert_old_or_new(out: Path) -> None:
    for app in ("a", "b"):
        assert app_tree(out, app) in (OLD[app], NEW[app]), app
    assert app_tree(out, "c") in (None, NEW["c"])
    assert app_tree(out, "gone") in (None, OLD["gone"])
    assert app_tree(out, "keep") == OLD["keep"]


def assert_new(out: Path) -> None:
    for app in ("a", "b", "c"):
        assert app_tree(out, app) == NEW[app]
    assert app_tree(out, "gone") is None
    assert app_tree(out, "keep") == OLD["keep"]
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


def run_writer(out: Path, trees_file: Path, **env: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(out), str(trees_file)],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, KILLED_EXIT), result.stderr
    return result.returncode


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_killed_at_every_step_leaves_old_or_new_trees(tmp_path: Path, fallback: bool) -> None:
    trees_file = tmp_path / "trees.json"
    trees_file.write_text(json.dumps(NEW))
    extra = {NO_EXCHANGE_ENV: "1"} if fallback else {}
    steps = 0
    for step in range(1, 100):
        out = tmp_path / f"out-{step}"
        lay_out(out, OLD)
        code = run_writer(out, trees_file, **{KILL_AT_ENV: str(step)}, **extra)
        if code == 0:  # every checkpoint passed: the writer finished
            assert_new(out)
            break
        steps += 1
        if fallback:
            # between its two renames the fallback leaves the app missing: the next run's
            # first act restores the parked old tree
            clean_stale_staging(out)
        assert_old_or_new(out)
        assert run_writer(out, trees_file, **extra) == 0  # the next run
        assert_new(out)
    assert steps >= 12  # staging, each file, each swap, the prune and the clean-up


def test_the_exchange_is_really_used_on_linux(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("x")
    (tmp_path / "y").mkdir()
    assert exchange(tmp_path / "x", tmp_path / "y") is (sys.platform == "linux")
    if sys.platform == "linux":
        assert (tmp_path / "y" / "f").read_text() == "x"
        assert not (tmp_path / "x" / "f").exists()


def test_stale_staging_is_removed_but_a_live_one_is_not(tmp_path: Path) -> None:
    out = tmp_path / "out"
    lay_out(out, OLD)
    dead = out / f"{STAGING_PREFIX}999999999-abc"  # no such pid, no lock
    (dead / "new" / "a").mkdir(parents=True)
    legacy = out / f"{STAGING_PREFIX}legacy"
    legacy.mkdir()
    os.utime(legacy, (0, 0))  # an old unlocked directory from an earlier version
    fresh = out / f"{STAGING_PREFIX}{os.getpid()}-live"
    fresh.mkdir()  # this process is alive: it may be about to lock it
    removed = clean_stale_staging(out)
    assert sorted(p.name for p in removed) == sorted([dead.name, legacy.name])
    assert fresh.is_dir()
    assert_old_or_new(out)


def test_a_parked_tree_is_restored_before_the_stale_staging_goes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    lay_out(out, OLD)
    staging = out / f"{STAGING_PREFIX}999999999-abc"
    (staging / "old").mkdir(parents=True)
    os.rename(out / "a", staging / "old" / "a")  # killed between the two renames
    clean_stale_staging(out)
    assert app_tree(out, "a") == OLD["a"]
    assert not staging.exists()


def test_write_errors_are_user_errors(tmp_path: Path) -> None:
    from constructs_lib.errors import UserError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError) as caught:
        write_trees(blocker / "out", NEW)
    assert "cannot write the output" in str(caught.value)


def _synth(out: Path, app: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "paperclip-gitops"),
            "synth",
            str(app),
            "--out",
            str(out),
        ],
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(600)
def test_a_real_synth_killed_mid_swap_leaves_the_old_or_the_new_tree(tmp_path: Path) -> None:
    app = REPO / "apps" / "quickstart.py"
    reference = tmp_path / "reference"
    assert _synth(reference, app).returncode == 0
    new = tree_bytes(reference / "quickstart")
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    first = next(p for p in sorted((out / "quickstart").rglob("*.yaml")))
    first.write_text("# an older version\n")
    (out / "quickstart" / "kustomize" / "stale.yaml").write_text("stale\n")
    old = tree_bytes(out / "quickstart")
    saved = tmp_path / "saved"
    shutil.copytree(out / "quickstart", saved)
    for kill_at, extra in (
        ("swap quickstart", {}),
        ("swapped quickstart", {}),
        ("between renames quickstart", {NO_EXCHANGE_ENV: "1"}),
    ):
        shutil.rmtree(out / "quickstart")
        shutil.copytree(saved, out / "quickstart")
        result = _synth(out, app, **{KILL_AT_ENV: kill_at}, **extra)
        assert result.returncode == KILLED_EXIT, result.stderr
        clean_stale_staging(out)  # what the next run does first
        assert tree_bytes(out / "quickstart") in (old, new), kill_at
    assert _synth(out, app).returncode == 0
    assert tree_bytes(out / "quickstart") == new
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
