"""Synthesis of what a real monorepo holds: DISTINCT full-featured instances (each its own name,
namespace, host, bucket, sizes and replica bounds), side by side with the code at a base
revision, in one run.

    .venv/bin/python tests/bench/distinct_bench.py [--base REV] [--sizes 1,100,1000]
                                                   [--check-apps 1000]

Rows: N distinct instances (app files of up to 100), with every writer and with the Kustomize
tree only (`--only kustomize,agents`), wall time, CPU time (user + system) and peak RSS of the
command (the largest of its processes); then `check` of a repository of N one-instance apps
after one of them changed. Every figure is the real command as a new process. A synth cell is
the median of 5 runs up to 10 instances, of 3 up to 100, one run above, each writing a new
output tree; the runs of one size go round the trees and the two rows in turn (base all outputs,
base Kustomize only, this tree all outputs, ...), so a drift of the machine hits every cell
alike. `check` is one run. The base revision runs from a git worktree (`PYTHONPATH` pointing at
it) with this virtualenv; omit --base to measure this tree alone. The machine's CPU and disk
speed drift: each row prints a CPU check (a fixed Python loop) and a disk check (1,000 small
files written and removed) taken before its runs."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "tests" / "bench" / "full_features.yaml"
ALL, KUSTOMIZE = "all", "kustomize,agents"
THIS = "this tree"


def distinct(index: int) -> dict[str, Any]:
    """The full-features instance, made distinct: every value a team would set differently."""
    doc: dict[str, Any] = yaml.safe_load(SOURCE.read_text())
    name, namespace = f"team-{index:04d}", f"team-{index:04d}-ns"
    host = f"{name}.paperclip.example.com"
    doc["metadata"].update(name=name, namespace=namespace)
    doc["metadata"]["labels"]["team"] = f"t{index % 97}"
    spec = doc["spec"]
    spec["deployment"]["publicURL"] = f"https://{host}"
    spec["networking"]["ingress"]["hosts"] = [host]
    spec["networking"]["ingress"]["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
    spec["database"]["managed"]["storageSize"] = f"{20 + index % 80}Gi"
    spec["backup"]["s3"]["bucket"] = f"backups-{name}"
    spec["backup"]["retentionDays"] = 7 + index % 60
    spec["objectStorage"]["bucket"] = f"files-{name}"
    spec["secrets"]["aws"]["deploymentID"] = name
    scaling = spec["availability"]["autoScaling"]
    scaling["minReplicas"] = 2 + index % 3
    scaling["maxReplicas"] = 6 + index % 5
    spread = spec["availability"]["topologySpreadConstraints"][0]["labelSelector"]
    spread["matchLabels"]["app.kubernetes.io/instance"] = name
    spec["resources"]["requests"]["cpu"] = f"{250 + index % 500}m"
    role = f"arn:aws:iam::123456789012:role/{name}"
    spec["security"]["rbac"]["serviceAccountAnnotations"]["eks.amazonaws.com/role-arn"] = role
    spec["agents"]["workspace"]["size"] = f"{10 + index % 40}Gi"
    spec["tailscale"]["hostname"] = name
    spec["env"].append({"name": "TEAM_INDEX", "value": str(index)})
    return doc


def write_app(path: Path, indexes: range) -> Path:
    text = "---\n".join(yaml.safe_dump(distinct(i), sort_keys=False) for i in indexes)
    path.write_text(text)
    return path


def cpu_check() -> float:
    begin = time.perf_counter()
    total = 0
    for step in range(10_000_000):
        total += step
    return time.perf_counter() - begin


def disk_check(work: Path) -> float:
    """Seconds to write 1,000 files of 1 KiB into a new directory and remove them (a synth
    of 100 instances writes about 4,400 files, Kustomize only, or 8,600, every output)."""
    folder = work / "disk-check"
    begin = time.perf_counter()
    folder.mkdir()
    for index in range(1000):
        (folder / f"{index}.yaml").write_bytes(b"x" * 1024)
    shutil.rmtree(folder)
    return time.perf_counter() - begin


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-base-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), rev],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False
            )


Figures = tuple[float, float, float]
"""Wall seconds, CPU seconds (user + system) and peak RSS (MiB, the largest process)."""


def run(tree: Path, args: list[str], cwd: Path) -> Figures:
    """The :data:`Figures` of `python -m constructs_lib ARGS` run from ``tree``'s code."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    command = [
        "/usr/bin/time",
        "-f",
        "%e %U %S %M",
        sys.executable,
        "-m",
        "constructs_lib",
        *args,
    ]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # check exits 1 on a stale tree, which is expected here
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    wall, user, system, peak_kib = done.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(peak_kib) / 1024


def compiled(tree: Path) -> None:
    """Byte-compile a tree's packages first, as an installed package is: otherwise the first
    row of a fresh worktree (or of modules changed since their last run) pays for compiling."""
    packages = [str(tree / name) for name in ("constructs_lib", "launcher")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)


APP_SIZE = 100
"""Instances per app file (an app file is limited to 4 MiB: 1,000 instances take 10 files)."""


def runs_of(count: int) -> int:
    """How many runs a row's cell is the median of (and the largest peak of): one run of a
    short synth is what the machine's drift swings most."""
    return 5 if count <= 10 else 3 if count <= 100 else 1


def synth_rows(trees: dict[str, Path], work: Path, count: int) -> dict[str, dict[str, Figures]]:
    """Synths of ``count`` distinct instances (app files of up to :data:`APP_SIZE`) by each
    tree, every output and the Kustomize tree only; the runs go round the trees and the two
    writers in turn, so a drift of the machine hits every cell alike."""
    apps = []
    for first in range(0, count, APP_SIZE):
        app = work / f"distinct{count}-{first // APP_SIZE:02d}.yaml"
        if not app.exists():
            write_app(app, range(first, min(first + APP_SIZE, count)))
        apps.append(str(app))
    runs: dict[str, dict[str, list[Figures]]] = {n: {ALL: [], KUSTOMIZE: []} for n in trees}
    for _ in range(runs_of(count)):
        for name, tree in trees.items():
            for writers, figures in runs[name].items():
                out = work / f"out-{tree.name}-{count}-{writers.replace(',', '-')}"
                only = [] if writers == ALL else ["--only", writers]
                # every run writes a new tree, as the first synth does
                shutil.rmtree(out, ignore_errors=True)
                figures.append(run(tree, ["synth", *apps, "--out", str(out), *only], work))
    return {
        name: {
            writers: (
                statistics.median(f[0] for f in figures),
                statistics.median(f[1] for f in figures),
                max(f[2] for f in figures),
            )
            for writers, figures in by_writers.items()
        }
        for name, by_writers in runs.items()
    }


def check_row(tree: Path, work: Path, apps: int) -> Figures:
    """`check` of ``apps`` one-instance apps after one of them changed."""
    root = work / f"repo-{tree.name}-{apps}"
    apps_dir = root / "apps"
    if not apps_dir.exists():
        apps_dir.mkdir(parents=True)
        for index in range(apps):
            write_app(apps_dir / f"team-{index:04d}.yaml", range(index, index + 1))
    run(tree, ["synth", "--apps-dir", str(apps_dir), "--out", str(root / "dist")], root)
    changed = distinct(0)
    changed["spec"]["resources"]["requests"]["cpu"] = "999m"
    (apps_dir / "team-0000.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
    return run(tree, ["check", "--apps-dir", str(apps_dir), "--dist", str(root / "dist")], root)


def targets(mine: dict[str, Figures]) -> list[str]:
    """Issue 25's targets, each with this tree's figure (rows that were not run are skipped)."""

    def row(count: int, kind: str) -> Figures | None:
        return mine.get(f"synth {count} distinct, {kind}")

    out = ["Targets (this tree):"]
    one = row(1, "all outputs")
    if one:
        out.append(f"  one app of one instance under 0.5 s: {one[0]:.2f} s")
    full, kustomize = row(100, "all outputs"), row(100, "kustomize only")
    if full and kustomize:
        out.append(
            f"  100 distinct, all outputs, within 2x Kustomize only ({2 * kustomize[0]:.2f} s) "
            f"and under 300 MB: {full[0]:.2f} s, {full[2]:.0f} MiB "
            f"({full[0] / kustomize[0]:.2f}x the wall time, {full[1] / kustomize[1]:.2f}x the "
            "CPU time)"
        )
    thousand = row(1000, "all outputs")
    if thousand:
        out.append(f"  1,000 distinct under 2 GB: {thousand[2]:.0f} MiB ({thousand[0]:.1f} s)")
    checked = next((v for k, v in mine.items() if k.startswith("check 1000 ")), None)
    if checked:
        out.append(f"  check of 1,000 apps, one changed, under 3 s: {checked[0]:.2f} s")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the revision to compare with (a git worktree)")
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--check-apps", type=int, default=1000)
    parser.add_argument(
        "--base-max",
        type=int,
        default=100,
        help="measure the base only up to this many instances or apps (the base took 13 GB "
        "and 11 minutes for 1,000 distinct instances)",
    )
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",") if s]
    trees: dict[str, Path] = {THIS: REPO}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        if options.base:
            trees = {f"base {options.base}": stack.enter_context(worktree(options.base)), **trees}
        for tree in trees.values():
            compiled(tree)
        work = Path(tmp)
        rows: list[tuple[str, dict[str, Figures], tuple[float, float]]] = []
        for count in sizes:
            check = cpu_check(), disk_check(work)
            measured = synth_rows(
                {n: t for n, t in trees.items() if n == THIS or count <= options.base_max},
                work,
                count,
            )
            for writers, kind in ((ALL, "all outputs"), (KUSTOMIZE, "kustomize only")):
                label = f"synth {count} distinct, {kind}"
                rows.append((label, {n: m[writers] for n, m in measured.items()}, check))
            print(f"[bench] synth {count} distinct: done", file=sys.stderr, flush=True)
        if options.check_apps:
            label = f"check {options.check_apps} one-instance apps, one changed"
            check = cpu_check(), disk_check(work)
            figures = {
                name: check_row(tree, work, options.check_apps)
                for name, tree in trees.items()
                if name == THIS or options.check_apps <= options.base_max
            }
            rows.append((label, figures, check))
    names = list(trees)
    header = (
        f"{'':<44}"
        + "".join(f"{n[:30]:>32}" for n in names)
        + f"{'CPU check s':>13}{'disk check s':>14}"
    )
    print(header)
    print(f"{'':<44}" + "".join(f"{'wall s / CPU s / peak MiB':>32}" for _ in names))
    print("-" * len(header))
    for label, figures, (cpu, disk) in rows:
        cells = "".join(
            f"{figures[n][0]:>14.2f} / {figures[n][1]:>6.2f} / {figures[n][2]:>6.0f}"
            if n in figures
            else f"{'-':>32}"
            for n in names
        )
        print(f"{label:<44}{cells}{cpu:>13.2f}{disk:>14.2f}")
    print()
    for line in targets({label: figures[THIS] for label, figures, _ in rows}):
        print(line)
    print(
        "\nEach cell: the real command (`python -m constructs_lib ...`, a new process); a synth "
        "cell is the median of 5 runs up to 10 instances, of 3 up to 100, one run above, each "
        "writing a new output tree, the runs of one size going round the trees and rows, and "
        "check is one run; CPU s is user + system time; peak MiB is the largest process's "
        "RSS. The CPU and disk checks are taken before each size's runs. CPU check: a fixed "
        "10-million-step loop (0.3-0.5 s on a quiet machine). Disk check: 1,000 files of "
        "1 KiB written and removed. "
        "Child max RSS: "
        f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024} MiB."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
