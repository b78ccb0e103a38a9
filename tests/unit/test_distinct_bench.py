"""The distinct-instance benchmark measures distinct instances: each valid, with its own name,
namespace, host, buckets and values (not copies that differ only by name)."""

from __future__ import annotations

import json

from constructs_lib.spec.loader import parse_instance
from tests.bench.distinct_bench import distinct, targets


def test_the_benchmark_instances_are_valid_and_distinct() -> None:
    documents = [distinct(i) for i in range(40)]
    instances = [parse_instance(d) for d in documents]
    assert len({i.name for i in instances}) == 40
    assert len({i.namespace for i in instances}) == 40
    specs = [json.dumps(d["spec"], sort_keys=True) for d in documents]
    assert len(set(specs)) == 40
    hosts = {d["spec"]["networking"]["ingress"]["hosts"][0] for d in documents}
    assert len(hosts) == 40
    first, second = documents[0]["spec"], documents[1]["spec"]
    assert first["resources"] != second["resources"]
    assert first["availability"]["autoScaling"] != second["availability"]["autoScaling"]


def test_the_targets_read_this_trees_rows() -> None:
    rows = {
        "synth 1 distinct, all outputs": (0.4, 0.38, 70.0),
        "synth 100 distinct, all outputs": (9.0, 8.8, 170.0),
        "synth 100 distinct, kustomize only": (3.0, 4.0, 120.0),
        "check 1000 one-instance apps, one changed": (2.5, 2.4, 90.0),
    }
    lines = targets(rows)
    assert lines[0] == "Targets (this tree):"
    assert "under 0.5 s: 0.40 s" in lines[1]
    assert "(6.00 s)" in lines[2] and "9.00 s, 170 MiB" in lines[2]
    assert "(3.00x the wall time, 2.20x the CPU time)" in lines[2]
    assert lines[3].endswith("under 3 s: 2.50 s")
    assert len(lines) == 4, "the 1,000-instance row was not run, so it is not shown"
