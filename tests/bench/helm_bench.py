"""Chart generation cost: for each app, the time of the plain render (rules, the build,
validation) and of the chart on top (probe renders, diffing, template text), and how many
probe builds it needed.

    .venv/bin/python tests/bench/helm_bench.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from constructs_lib.render.helm import chart as chart_module
from constructs_lib.render.helm import probe
from constructs_lib.render.synth import render_app
from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION
from constructs_lib.spec.loader import load_app

REPO = Path(__file__).resolve().parents[2]
APPS = [REPO / "apps" / "quickstart.py", REPO / "apps" / "production.yaml"]


def main() -> None:
    renders: list[int] = []
    original = vars(probe)["manifests"]

    def counting(*args: object) -> object:
        renders.append(1)
        return original(*args)

    vars(probe)["manifests"] = counting
    render_app(load_app(APPS[0]), DEFAULT_KUBERNETES_VERSION)  # warm up imports
    print(f"{'app':<12} {'render s':>9} {'chart s':>8} {'probe builds':>14} {'values':>7}")
    for path in APPS:
        app = load_app(path)
        start = time.perf_counter()
        rendered = render_app(app, DEFAULT_KUBERNETES_VERSION)
        middle = time.perf_counter()
        renders.clear()
        built = chart_module.build_chart(rendered, str(path))
        end = time.perf_counter()
        builds = len(renders)
        keys = sum(len(a.params) for a in built.analyses)
        print(f"{app.name:<12} {middle - start:9.3f} {end - middle:8.3f} {builds:14d} {keys:7d}")


if __name__ == "__main__":
    main()
