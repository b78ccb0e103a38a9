"""The backup and restore logic end to end with real parts, no cluster: PostgreSQL 17 and an S3
API server (moto) on loopback, and the generated containers run as local processes — the
script from the generated ConfigMap with the command and env of the generated CronJobs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_instance, synth_objects
from tests.data_tier_harness import (
    FINGERPRINT,
    SEED,
    Container,
    World,
    data_tier_world,
    pod_containers,
)

pytestmark = pytest.mark.timeout(600)

BUCKET = "paperclip-backups"
PREFIX = "backups/rt"
SPEC: dict[str, Any] = {
    "database": {"mode": "managed"},
    "backup": {
        "schedule": "0 3 * * *",
        "retentionDays": 30,
        "s3": {
            "bucket": BUCKET,
            "region": "us-east-1",
            "endpoint": "http://minio.storage:9000",
            "credentialsSecretRef": {"name": "backup-s3"},
        },
    },
}
STAMP = re.compile(r"^backups/rt/\d{8}T\d{6}Z\.dump$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with data_tier_world(SPEC, tmp_path_factory.mktemp("data-tier"), SEED) as built:
        yield built


def _clean_bucket(world: World) -> None:
    for key in world.s3.keys(BUCKET):
        world.s3.delete(BUCKET, key)


def _ok(results: list[Any]) -> None:
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_pods_run_the_shipped_script_in_the_right_images() -> None:
    objects = synth_objects(make_instance(SPEC, name="rt", namespace="data"))
    backup = objects["CronJob/rt-db-backup"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    restore = objects["CronJob/rt-db-restore"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in backup["initContainers"]] == ["dump"]
    assert [c["name"] for c in backup["containers"]] == ["upload"]
    assert [c["name"] for c in restore["initContainers"]] == ["fetch"]
    assert [c["name"] for c in restore["containers"]] == ["restore"]
    # pg_dump/pg_restore come from the database's own image (same major version)
    assert backup["initContainers"][0]["image"] == "postgres:17-alpine"
    assert restore["containers"][0]["image"] == "postgres:17-alpine"
    shipped = (Path(__file__).parent.parent / "constructs_lib/scripts/paperclip-db.sh").read_text()
    assert objects["ConfigMap/rt-db-scripts"]["data"]["paperclip-db.sh"] == shipped


def test_round_trip_backup_then_restore_into_a_fresh_database(world: World) -> None:
    _clean_bucket(world)
    original = world.postgres.psql(FINGERPRINT)
    assert original.startswith("200:100000:")
    _ok(world.run_pod(world.backup))
    keys = world.s3.keys(BUCKET)
    [dump] = [k for k in keys if k.endswith(".dump")]
    assert STAMP.match(dump), dump
    assert set(keys) == {dump, dump + ".sha256"}
    data = world.s3.get(BUCKET, dump)
    assert data.startswith(b"PGDMP")  # the custom format, verifiable with pg_restore --list
    digest, name = world.s3.get(BUCKET, dump + ".sha256").split()
    assert digest.decode() == hashlib.sha256(data).hexdigest()
    assert name.decode() == dump.rsplit("/", 1)[1]
    world.postgres.psql("CREATE DATABASE restored")
    results = world.run_pod(world.restore, PGDATABASE="restored")
    _ok(results)
    assert world.postgres.psql(FINGERPRINT, database="restored") == original
    # a second restore over the now non-empty database (--clean --if-exists) is the same
    _ok(world.run_pod(world.restore, PGDATABASE="restored"))
    assert world.postgres.psql(FINGERPRINT, database="restored") == original
    # no secret in the logs
    for result in results:
        assert world.pod.secrets[("rt-db-credentials", "password")] not in result.stderr


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"PGPASSWORD": "wrong-password"}, "password authentication failed"),
        ({"PGPORT": "1"}, "Connection refused"),
    ],
    ids=["wrong-password", "unreachable"],
)
def test_a_failed_dump_fails_the_pod_and_uploads_nothing(
    world: World, override: dict[str, str], expected: str
) -> None:
    _clean_bucket(world)
    [dump, upload] = world.backup
    failed = world.pod.run(dump, world.overrides(dump, **override))
    assert failed.returncode != 0
    assert expected in failed.stderr and "nothing is uploaded" in failed.stderr
    assert not list((world.work / "scratch").glob("*.dump*"))  # no partial dump left
    # even if the upload phase ran anyway, it refuses without a verified dump
    refused = world.pod.run(upload, world.overrides(upload))
    assert refused.returncode != 0 and "expected one dump" in refused.stderr
    assert world.s3.keys(BUCKET) == {}


def test_retention_deletes_by_last_modified_and_always_keeps_the_newest(world: World) -> None:
    _clean_bucket(world)
    ages = {  # our backups: name -> age in days
        "20260301T030000Z": 1,
        "20260101T030000Z": 45,  # old, but among the newest 3: kept
        "20251201T030000Z": 60,  # old, among the newest 3: kept
        "20251101T030000Z": 90,  # deleted
        "20251001T030000Z": 120,  # deleted
        "20990101T030000Z": 200,  # a name that sorts last but is old by LastModified: deleted
    }
    for name, days in ages.items():
        for suffix in (".dump", ".dump.sha256"):
            world.s3.put(BUCKET, f"{PREFIX}/{name}{suffix}", b"x")
            world.s3.age(BUCKET, f"{PREFIX}/{name}{suffix}", days)
    odd = ["notes.txt", "manual copy.dump", "2025.dump", "sub/20250101T030000Z.dump"]
    for name in odd:
        world.s3.put(BUCKET, f"{PREFIX}/{name}", b"x")
        world.s3.age(BUCKET, f"{PREFIX}/{name}", 400)
    world.s3.put(BUCKET, "backups/other/20240101T030000Z.dump", b"x")
    world.s3.age(BUCKET, "backups/other/20240101T030000Z.dump", 400)
    [_, upload] = world.backup
    prune = Container(upload.name, [*upload.command[:-1], "prune"], upload.env)
    result = world.pod.run(prune, world.overrides(prune))
    assert result.returncode == 0, result.stderr
    kept = {f"{PREFIX}/{n}{s}" for n in list(ages)[:3] for s in (".dump", ".dump.sha256")}
    untouched = {f"{PREFIX}/{n}" for n in odd} | {"backups/other/20240101T030000Z.dump"}
    assert set(world.s3.keys(BUCKET)) == kept | untouched
    assert "kept 3 backup(s), deleted 3" in result.stderr
    # every backup old: still the newest three are kept
    for name in list(ages)[:3]:
        world.s3.age(BUCKET, f"{PREFIX}/{name}.dump", 365)
    again = world.pod.run(prune, world.overrides(prune))
    assert again.returncode == 0 and "deleted 0" in again.stderr
    assert set(world.s3.keys(BUCKET)) == kept | untouched


def test_a_retention_error_fails_the_job(world: World) -> None:
    [_, upload] = world.backup
    prune = Container(upload.name, [*upload.command[:-1], "prune"], upload.env)
    bad_days = world.pod.run(prune, world.overrides(prune, RETENTION_DAYS="0"))
    assert bad_days.returncode != 0 and "RETENTION_DAYS" in bad_days.stderr
    no_bucket = world.pod.run(prune, world.overrides(prune, S3_BUCKET="no-such-bucket"))
    assert no_bucket.returncode != 0 and "NoSuchBucket" in no_bucket.stderr


def test_restore_refuses_a_corrupted_dump(world: World) -> None:
    _clean_bucket(world)
    _ok(world.run_pod(world.backup))
    [dump] = [k for k in world.s3.keys(BUCKET) if k.endswith(".dump")]
    data = bytearray(world.s3.get(BUCKET, dump))
    world.postgres.psql("DROP DATABASE IF EXISTS target")
    world.postgres.psql("CREATE DATABASE target")
    world.postgres.psql("CREATE TABLE keep (x int); INSERT INTO keep VALUES (42)", "target")
    # flipped bytes: the sha256 no longer matches (fetch refuses before any restore)
    data[len(data) // 2] ^= 0xFF
    world.s3.put(BUCKET, dump, bytes(data))
    [fetch] = world.run_pod(world.restore, PGDATABASE="target")  # the restore never starts
    assert fetch.returncode != 0 and "sha256 mismatch" in fetch.stderr
    # garbage with a matching sha256: pg_restore --list refuses it
    garbage = b"not a pg_dump archive\n" * 100
    name = dump.rsplit("/", 1)[1]
    world.s3.put(BUCKET, dump, garbage)
    sha_line = f"{hashlib.sha256(garbage).hexdigest()}  {name}\n".encode()
    world.s3.put(BUCKET, dump + ".sha256", sha_line)
    results = world.run_pod(world.restore, PGDATABASE="target")
    assert results[0].returncode == 0, results[0].stderr
    assert results[1].returncode != 0 and "not a readable pg_dump archive" in results[1].stderr
    assert world.postgres.psql("SELECT x FROM keep", "target") == "42"


def test_restore_of_a_named_key_and_latest_skips_unfinished_uploads(world: World) -> None:
    _clean_bucket(world)
    _ok(world.run_pod(world.backup))
    [dump] = [k for k in world.s3.keys(BUCKET) if k.endswith(".dump")]
    # a newer upload without its .sha256 (interrupted) is not "latest"
    world.s3.put(BUCKET, f"{PREFIX}/29990101T000000Z.dump", b"partial")
    world.postgres.psql("DROP DATABASE IF EXISTS named")
    world.postgres.psql("CREATE DATABASE named")
    latest = world.run_pod(world.restore, PGDATABASE="named")
    _ok(latest)
    assert f"fetched {dump}" in latest[0].stderr
    by_name = world.run_pod(world.restore, PGDATABASE="named", RESTORE_KEY=dump.rsplit("/")[-1])
    _ok(by_name)
    assert world.postgres.psql(FINGERPRINT, "named") == world.postgres.psql(FINGERPRINT)


def _restorable(world: World) -> set[str]:
    """The backups under PREFIX that a restore can use: a .dump with its .sha256."""
    keys = world.s3.keys(BUCKET, PREFIX + "/")
    return {k for k in keys if k.endswith(".dump") and k + ".sha256" in keys}


def test_keep_last_counts_only_complete_backups(world: World) -> None:
    """Interrupted uploads (a .dump without its .sha256: the pod died, a transient S3 error
    after the dump went up, each of the Job's retries) are not backups: they must not take the
    places keepLast guarantees, or retention deletes the good backups they displace."""
    _clean_bucket(world)
    complete = {"20260101T030000Z": 40, "20251201T030000Z": 50, "20251101T030000Z": 60}
    for name, days in complete.items():
        for suffix in (".dump", ".dump.sha256"):
            world.s3.put(BUCKET, f"{PREFIX}/{name}{suffix}", b"x")
            world.s3.age(BUCKET, f"{PREFIX}/{name}{suffix}", days)
    unfinished = {"20260303T030000Z": 1, "20260302T030000Z": 2, "20260301T030000Z": 3}
    unfinished["20250101T030000Z"] = 90  # old and unfinished: deleted
    for name, days in unfinished.items():
        world.s3.put(BUCKET, f"{PREFIX}/{name}.dump", b"partial")
        world.s3.age(BUCKET, f"{PREFIX}/{name}.dump", days)
    # the standalone prune: the three newest objects are unfinished uploads
    [_, upload] = world.backup
    prune = Container(upload.name, [*upload.command[:-1], "prune"], upload.env)
    result = world.pod.run(prune, world.overrides(prune))
    assert result.returncode == 0, result.stderr
    assert _restorable(world) == {f"{PREFIX}/{n}.dump" for n in complete}
    # a backup run: its new backup and the two newest complete ones stay
    _ok(world.run_pod(world.backup))
    [new] = _restorable(world) - {f"{PREFIX}/{n}.dump" for n in complete}
    assert _restorable(world) == {new} | {f"{PREFIX}/{n}.dump" for n in list(complete)[:2]}
    # the young unfinished uploads stay (one may still be going on); the old one is gone
    keys = world.s3.keys(BUCKET, PREFIX + "/")
    assert {f"{PREFIX}/{n}.dump" for n in list(unfinished)[:3]} <= set(keys)
    assert f"{PREFIX}/20250101T030000Z.dump" not in keys
    # and latest is the new backup
    world.postgres.psql("DROP DATABASE IF EXISTS kept")
    world.postgres.psql("CREATE DATABASE kept")
    restored = world.run_pod(world.restore, PGDATABASE="kept")
    _ok(restored)
    assert f"fetched {new}" in restored[0].stderr


EXTERNAL_SPEC: dict[str, Any] = {
    **SPEC,
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
}


def test_an_external_database_url_never_puts_its_password_in_the_log(world: World) -> None:
    """libpq quotes the part of a DATABASE_URL it cannot parse: a password with a bare '@'
    (which the server's WHATWG URL parser reads, the last '@' ending the user info) came out
    in pg_dump's 'could not translate host name "dor&3x@127.0.0.1"'; a bare '%' or a '/' did
    too. The '@' is read as the server reads it; the others are refused without the URL."""
    _clean_bucket(world)
    objects = synth_objects(make_instance(EXTERNAL_SPEC, name="rt", namespace="data"))
    backup = pod_containers(objects["CronJob/rt-db-backup"])
    restore = pod_containers(objects["CronJob/rt-db-restore"])
    password = "Tr0ub@dor&3x"
    world.postgres.psql("DROP ROLE IF EXISTS ext")
    world.postgres.psql(f"CREATE ROLE ext LOGIN SUPERUSER PASSWORD '{password}'")
    url = f"postgresql://ext:{password}@127.0.0.1:{world.postgres.port}/{{}}"
    world.pod.secrets[("db", "url")] = url.format("paperclip")
    dumped = world.run_pod(backup)
    for result in dumped:
        assert "dor&3x" not in result.stderr and password not in result.stderr
    _ok(dumped)
    world.postgres.psql("DROP DATABASE IF EXISTS external_copy")
    world.postgres.psql("CREATE DATABASE external_copy")
    world.pod.secrets[("db", "url")] = url.format("external_copy")
    restored = world.run_pod(restore)
    _ok(restored)
    assert world.postgres.psql(FINGERPRINT, "external_copy") == world.postgres.psql(FINGERPRINT)
    # what libpq would misread is refused, and the URL is not printed
    for bad in ("100%sure", "s3c/ret@x", "nul%00byte"):
        world.pod.secrets[("db", "url")] = f"postgresql://ext:{bad}@127.0.0.1:1/paperclip"
        [refused] = world.run_pod(backup)
        assert refused.returncode != 0
        assert "percent-encode" in refused.stderr and "not printed" in refused.stderr
        for part in re.split(r"[%/@]", bad):
            assert part not in refused.stderr, (bad, refused.stderr)
