"""The distinct-instance benchmark measures distinct instances: each valid, with its own name,
namespace, host, buckets and values (not copies that differ only by name)."""

from __future__ import annotations

import json

from constructs_lib.spec.loader import parse_instance
from tests.bench.distinct_bench import distinct


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
