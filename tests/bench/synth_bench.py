"""Synth benchmark: wall time and peak memory for 1, 10 and 100 instances with every built
feature on (tests/bench/full_features.yaml).

Each size runs in a fresh process (imports, cdk8s/jsii start-up, load, rules, synthesis,
strict schema validation and the atomic write all included), so the figures are what a user
sees. The floor is `yaml.safe_dump` of the same objects. Run: `make bench`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SIZES = (1, 10, 100)
# (writers, sizes): the Kustomize tree alone (the pipeline issue 7's target is about), then
# every writer including the Helm chart, whose parameter probes re-render each instance.
RUNS: tuple[tuple[str, tuple[int, ...]], ...] = (("kustomize", SIZES), ("all", SIZES))
TARGET_SECONDS_AT_100 = 5.0
TARGET_RATIO_TO_FLOOR = 2.0


def _node_peak_kib() -> int:
    """VmHWM of the jsii Node child of this process (0 when not found)."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    peak = 0
    for pid in children.read_text().split() if children.exists() else []:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak


def worker(count: int, writers: str = "all") -> dict[str, Any]:
    start = time.perf_counter()
    import yaml

    from constructs_lib.render.atomic import write_trees
    from constructs_lib.render.pipeline import synthesize
    from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION

    imported = time.perf_counter()
    source = yaml.safe_load((REPO / "tests" / "bench" / "full_features.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / f"bench{count}.yaml"
        documents = []
        for index in range(count):
            source["metadata"]["name"] = f"paperclip-{index:03d}"
            documents.append(yaml.safe_dump(source, sort_keys=False))
        app.write_text("---\n".join(documents))
        from constructs_lib.render.writers import WRITERS

        chosen = [w for w in WRITERS if writers == "all" or w.name in ("kustomize", "agents")]
        begin = time.perf_counter()  # the bench's own app file generation is not counted
        result = synthesize([app], DEFAULT_KUBERNETES_VERSION, writers=chosen)
        synthesized = time.perf_counter()
        write_trees(Path(tmp) / "out", result.trees)
        written = time.perf_counter()
        objects = [o for r in result.rendered for o in r.objects]
        total = (imported - start) + (written - begin)
        floor_start = time.perf_counter()
        for obj in objects:
            yaml.safe_dump(obj)
        floor = time.perf_counter() - floor_start
    return {
        "instances": count,
        "objects": len(objects),
        "import_s": imported - start,
        "synth_s": synthesized - begin,
        "write_s": written - synthesized,
        "floor_s": floor,
        "total_s": total,
        "python_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "node_peak_mib": _node_peak_kib() / 1024,
    }


def main() -> int:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    rows = []
    for writers, count in [(w, c) for w, sizes in RUNS for c in sizes]:
        begin = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(count), writers],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["process_s"] = time.perf_counter() - begin
        row["writers"] = writers
        rows.append(row)
    header = (
        f"{'writers':>9} {'instances':>9} {'objects':>7} {'wall s':>7} {'ms/object':>9} "
        f"{'process s':>9} "
        f"{'import s':>8} "
        f"{'synth s':>7} "
        f"{'write s':>7} {'dump floor s':>12} {'synth/floor':>11} {'py MiB':>7} "
        f"{'node MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ratio = (r["synth_s"] + r["write_s"]) / r["floor_s"] if r["floor_s"] else float("inf")
        print(
            f"{r['writers']:>9} {r['instances']:>9} {r['objects']:>7} {r['total_s']:>7.2f} "
            f"{1000 * r['total_s'] / r['objects']:>9.2f} {r['process_s']:>9.2f} "
            f"{r['import_s']:>8.2f} "
            f"{r['synth_s']:>7.2f} {r['write_s']:>7.2f} {r['floor_s']:>12.3f} {ratio:>10.1f}x "
            f"{r['python_peak_mib']:>7.0f} {r['node_peak_mib']:>8.0f}"
        )
    for largest in (r for r in rows if r["instances"] == max(SIZES)):
        label = f"{largest['instances']} instances, writers {largest['writers']}"
        verdict = "meets" if largest["total_s"] < TARGET_SECONDS_AT_100 else "MISSES"
        print(
            f"\n{label}: {largest['total_s']:.2f} s wall ({verdict} the "
            f"{TARGET_SECONDS_AT_100:.0f} s target; imports, validation and writing included)"
        )
        whole = largest["total_s"] / largest["floor_s"] if largest["floor_s"] else float("inf")
        verdict = "meets" if whole <= TARGET_RATIO_TO_FLOOR else "MISSES"
        print(
            f"{label}: wall time / dump floor {whole:.2f}x "
            f"({verdict} the {TARGET_RATIO_TO_FLOOR:.0f}x target)"
        )
    print(
        "wall s: imports + load + rules + cdk8s synthesis + strict validation + write.\n"
        "process s: the whole process as the shell sees it, including interpreter start-up, "
        "the floor measurement and jsii shutdown.\n"
        "dump floor s: yaml.safe_dump of the same objects; synth/floor: (synth + write) / floor."
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]), sys.argv[3])))
    else:
        sys.exit(main())
