"""Property-based fuzzing of the launcher's HTTP API (hypothesis, bounded budget): whatever a
caller sends, the answer is never a 5xx, never a traceback, always JSON outside the log
stream, and a malformed request never creates a Job. The service runs on a loopback port
over the in-memory Kube; the number of cases run is printed."""

from __future__ import annotations

import http.client
import json
import string
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_launcher_support import TOKEN, Service

FIELDS = ["agentId", "runId", "companyId", "template", "apiKey", "agentName", "sessionId"]
CASES: dict[str, int] = {}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["plain", ".", "..", "", " ", "x" * 201, "a/b", "%2e", "\u0000", "..%2f"]),
    json_values,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            **{name: field_values for name in FIELDS},
            "timeoutSeconds": st.one_of(
                st.integers(min_value=-(2**80), max_value=2**80), json_values
            ),
            "extra": json_values,
        },
    ),
    json_values,
)
raw_bodies = st.binary(max_size=300)
auth_headers = st.one_of(
    st.just(f"Bearer {TOKEN}"),
    st.just(f"bearer {TOKEN}"),
    st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=60),
)
run_ids = st.text(min_size=1, max_size=40)
cursors = st.one_of(st.text(max_size=60), st.from_regex(r"\d{4}-\d\d-\d\dT[\d:.]{8,20}Z\|\d{1,3}"))


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with Service() as running:
        yield running
    print(f"\nfuzz cases run: {CASES} (total {sum(CASES.values())})")
    logs = running.logs.text()
    assert "Traceback" not in logs
    assert TOKEN not in logs


def send(
    service: Service, method: str, path: str, body: bytes | None, auth: str | None
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=20)
    try:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        kind = response.getheader("Content-Type", "")
        # a live log stream of a started run does not end by itself: headers are enough
        data = b"" if kind.startswith("application/x-ndjson") else response.read()
        return response.status, kind, data
    finally:
        connection.close()


def check(service: Service, jobs_before: int, status: int, kind: str, data: bytes) -> None:
    assert status < 500, (status, data[:300])
    assert b"Traceback" not in data
    if not kind.startswith("application/x-ndjson"):
        assert kind.startswith("application/json"), (status, kind, data[:200])
        json.loads(data)
    if status >= 400:
        assert service.jobs() == jobs_before, "a refused request created a Job"


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@FUZZ
@given(body=bodies, auth=auth_headers)
def test_fuzz_start_bodies(service: Service, body: Any, auth: str) -> None:
    CASES["POST json"] = CASES.get("POST json", 0) + 1
    before = service.jobs()
    raw = json.dumps(body).encode()
    check(service, before, *send(service, "POST", "/v1/runs", raw, auth))


@FUZZ
@given(raw=raw_bodies)
def test_fuzz_start_raw_bytes(service: Service, raw: bytes) -> None:
    CASES["POST bytes"] = CASES.get("POST bytes", 0) + 1
    before = service.jobs()
    check(service, before, *send(service, "POST", "/v1/runs", raw, f"Bearer {TOKEN}"))


@FUZZ
@given(
    method=st.sampled_from(["GET", "DELETE", "PUT", "PATCH", "POST"]),
    run=run_ids,
    log=st.booleans(),
    after=st.none() | cursors,
    auth=st.none() | auth_headers,
)
def test_fuzz_run_paths_and_cursors(
    service: Service, method: str, run: str, log: bool, after: str | None, auth: str | None
) -> None:
    CASES["run paths"] = CASES.get("run paths", 0) + 1
    path = "/v1/runs/" + urllib.parse.quote(run, safe="")
    if log:
        path += "/log"
    if after is not None:
        path += "?after=" + urllib.parse.quote(after, safe="")
    before = service.jobs()
    check(service, before, *send(service, method, path, None, auth))
