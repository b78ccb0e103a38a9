"""Strict validation throughput: jsonschema alone vs the compiled fast path.

    .venv/bin/python tests/bench/validate_bench.py [--copies 100]

The corpus is dist-like: every object in dist/ plus one sample of every pinned CRD kind,
repeated ``--copies`` times with distinct names (100 copies ~ the 100-instance benchmark
app). Prints objects/s for both, the speed-up, the time `validate_objects` (what synth calls)
needs for the whole corpus, and the one-off cost of loading and compiling the schemas.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def corpus(copies: int) -> list[dict[str, Any]]:
    import yaml

    from tests.unit.test_schemas_samples import SAMPLES

    base: list[dict[str, Any]] = []
    for path in sorted(REPO.glob("dist/*/kustomize/*.yaml")):
        if path.name != "kustomization.yaml":
            base += [d for d in yaml.safe_load_all(path.read_text()) if d]
    base += SAMPLES
    out = []
    for index in range(copies):
        for obj in base:
            clone = copy.deepcopy(obj)
            clone["metadata"]["name"] = f"{obj['metadata']['name']}-{index}"
            out.append(clone)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=100)
    args = parser.parse_args()

    started = time.perf_counter()
    from constructs_lib.render.validate import validate_objects
    from constructs_lib.spec.kubeschema import DEFAULT_KUBERNETES_VERSION, object_validator

    imported = time.perf_counter() - started
    objects = corpus(args.copies)
    version = DEFAULT_KUBERNETES_VERSION
    kinds = sorted({(o["apiVersion"], o["kind"]) for o in objects})

    started = time.perf_counter()
    validators = {k: object_validator(version, *k) for k in kinds}
    compiled = time.perf_counter() - started
    pairs = [(validators[(o["apiVersion"], o["kind"])], o) for o in objects]

    started = time.perf_counter()
    first_pass = sum(not v.is_valid(o) for v, o in pairs)
    first = time.perf_counter() - started

    started = time.perf_counter()
    slow_invalid = sum(not v.jsonschema.is_valid(o) for v, o in pairs)
    slow = time.perf_counter() - started

    started = time.perf_counter()
    fast_invalid = sum(bool(v.errors(o)) for v, o in pairs)
    fast = time.perf_counter() - started

    started = time.perf_counter()
    problems = validate_objects(objects, version, file="bench", instance="bench")
    whole = time.perf_counter() - started

    invalid = (first_pass, slow_invalid, fast_invalid, len(problems))
    assert invalid == (0, 0, 0, 0), "the corpus must be valid"
    count = len(objects)
    print(f"corpus: {count} objects of {len(kinds)} kinds ({args.copies} copies)")
    print(f"import kubeschema: {imported:.2f} s")
    print(
        f"load + compile {len(kinds)} schemas (incl. pinned CRDs from cache; a property's "
        f"subschema compiles when first met, in the passes below): {compiled:.2f} s"
    )
    print(f"fast path, first pass (compiling what it meets): {first:.3f} s")
    print(f"jsonschema only:   {count / slow:9.0f} objects/s  ({slow * 1e3 / count:.3f} ms/object)")
    print(f"fast path:         {count / fast:9.0f} objects/s  ({fast * 1e3 / count:.4f} ms/object)")
    print(f"speed-up:          {slow / fast:9.1f}x")
    print(f"validate_objects over the corpus (schemas + semantic checks): {whole:.3f} s")


if __name__ == "__main__":
    main()
