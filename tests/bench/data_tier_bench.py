"""Round-trip figures of the data tier: seed PostgreSQL 17, run the generated backup pod
(dump, then upload with retention) and restore pod (fetch, then restore into a fresh database)
as local processes against moto's S3 server, and print the time of each phase and the sizes.

    .venv/bin/python tests/bench/data_tier_bench.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from tests.data_tier_harness import (  # noqa: E402
    FINGERPRINT,
    SEED_TEMPLATE,
    data_tier_world,
)

SPEC: dict[str, Any] = {
    "database": {"mode": "managed"},
    "backup": {
        "schedule": "0 3 * * *",
        "s3": {
            "bucket": "paperclip-backups",
            "endpoint": "http://minio.storage:9000",
            "credentialsSecretRef": {"name": "backup-s3"},
        },
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100000, help="issues rows (default 100000)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="data-tier-bench-"))
    seed = SEED_TEMPLATE.format(rows=args.rows)
    with data_tier_world(SPEC, work, seed) as world:
        size = int(world.postgres.psql("SELECT pg_database_size(current_database())"))
        original = world.postgres.psql(FINGERPRINT)
        print(f"seeded: 200 companies, {args.rows} issues; database size {size / 2**20:.1f} MiB")
        for container in world.backup:
            started = time.perf_counter()
            [result] = world.run_pod([container])
            assert result.returncode == 0, result.stderr
            print(f"backup  {container.name:<8} {time.perf_counter() - started:6.2f} s")
        keys = world.s3.keys("paperclip-backups")
        for key, length in sorted(keys.items()):
            print(f"object  {key}: {length} bytes ({length / 2**20:.2f} MiB)")
        world.postgres.psql("CREATE DATABASE restored")
        for container in world.restore:
            started = time.perf_counter()
            extra = {"PGDATABASE": "restored"} if container.name == "restore" else {}
            [result] = world.run_pod([container], **extra)
            assert result.returncode == 0, result.stderr
            print(f"restore {container.name:<8} {time.perf_counter() - started:6.2f} s")
        same = world.postgres.psql(FINGERPRINT, database="restored") == original
        print(f"restored rows and content identical: {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
