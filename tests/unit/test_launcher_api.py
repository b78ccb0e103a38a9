"""The launcher's HTTP API over the in-memory Kube: the security probe's findings (auth,
malformed input, cursors, readiness, token in logs), and every answer checked against the
OpenAPI document the server serves."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from launcher.openapi import document
from tests.unit.test_launcher_support import NS, TOKEN, Service

RUN = {"agentId": "agent-1", "runId": "run-1", "companyId": "co", "template": "plain"}


@pytest.fixture
def service() -> Iterator[Service]:
    with Service() as running:
        yield running


def conforms(method: str, path: str, status: int, body: Any) -> None:
    """``body`` is what the OpenAPI document promises for this answer."""
    doc = document()
    route = path.split("?")[0]
    if route.startswith("/v1/runs/"):
        route = "/v1/runs/{run}/log" if route.endswith("/log") else "/v1/runs/{run}"
    operation = doc["paths"][route][method.lower()]
    answer = operation["responses"].get(str(status))
    assert answer is not None, f"{method} {route} may not answer {status}: {body}"
    content = answer.get("content")
    if content is None:
        return
    schema = next(iter(content.values()))["schema"]
    jsonschema.validate(
        body, {**schema, "components": doc["components"]}, jsonschema.Draft202012Validator
    )


def call(service: Service, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    status, answer = service.json(method, path, body, **kw)
    conforms(method, path, status, answer)
    return status, answer


def test_the_openapi_document_is_served_and_valid(service: Service) -> None:
    status, doc = service.json("GET", "/openapi.json", auth=False)
    assert status == 200 and doc == json.loads(json.dumps(document()))
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["RunRequest"])
    assert set(doc["paths"]) == {
        "/v1/runs",
        "/v1/runs/{run}",
        "/v1/runs/{run}/log",
        "/v1/templates",
        "/v1/self-test",
        "/healthz",
        "/readyz",
        "/openapi.json",
    }


def test_a_whole_run_through_the_api_conforms(service: Service) -> None:
    status, started = call(service, "POST", "/v1/runs", RUN)
    assert status == 201 and started["reattached"] is False
    assert call(service, "POST", "/v1/runs", RUN)[0] == 200
    busy = call(service, "POST", "/v1/runs", {**RUN, "runId": "run-2"})
    assert busy[0] == 409 and busy[1]["error"] == "agent_busy"
    status, state = call(service, "GET", "/v1/runs/run-1")
    assert status == 200 and state["state"] == "running"
    pod = service.inspect(lambda kube: kube.job_pod(started["job"]))
    assert pod is not None
    service.inspect(lambda kube: kube.append_log(NS, pod["metadata"]["name"], "hello"))
    service.inspect(lambda kube: kube.end_pod(NS, pod["metadata"]["name"], 0))
    status, kind, raw = service.request("GET", "/v1/runs/run-1/log")
    assert status == 200 and kind == "application/x-ndjson"
    records = [json.loads(line) for line in raw.splitlines()]
    for record in records:
        conforms("GET", "/v1/runs/run-1/log", 200, record)
    assert [r.get("text") for r in records] == ["hello", None]
    assert records[-1]["exitCode"] == 0
    after = records[0]["cursor"]
    status, _, raw = service.request("GET", f"/v1/runs/run-1/log?after={after}")
    assert [json.loads(line)["type"] for line in raw.splitlines()] == ["result"]
    assert call(service, "DELETE", "/v1/runs/run-1")[0] == 202
    assert call(service, "GET", "/v1/runs/run-1")[0] == 404
    assert call(service, "DELETE", "/v1/runs/nope")[0] == 404
    assert call(service, "GET", "/v1/runs/nope/log")[0] == 404
    assert call(service, "GET", "/healthz", auth=False) == (200, {"ok": True})
    assert call(service, "GET", "/readyz", auth=False) == (200, {"ok": True})


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong", "Basic " + TOKEN, f"Bearer {TOKEN}x", f"Token {TOKEN}"],
)
def test_wrong_credentials_get_a_json_401(service: Service, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    status, body = call(service, "POST", "/v1/runs", RUN, headers=headers, auth=False)
    assert status == 401 and body["error"] == "unauthorized"
    assert service.jobs() == 0


def test_the_bearer_scheme_is_case_insensitive(service: Service) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        status, _ = call(
            service, "GET", "/v1/runs/x", headers={"Authorization": f"{scheme} {TOKEN}"}
        )
        assert status == 404  # authenticated: the run is unknown


def test_non_utf8_authorization_bytes_get_a_401_not_a_500(service: Service) -> None:
    answer = service.raw(
        b"POST /v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\xc3(\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"unauthorized"' in answer


def test_a_malformed_header_line_never_logs_the_token(service: Service) -> None:
    answer = service.raw(
        b"GET /v1/runs/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\x01\x02junk\r\n\r\n"
    )
    assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer[:200]
    assert TOKEN.encode() not in answer  # not even echoed to the sender
    time.sleep(0.1)
    logs = service.logs.text()
    assert "request details withheld" in logs  # aiohttp did log the bad request ...
    assert TOKEN not in logs  # ... without the header
    assert "Traceback" not in logs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RUN, "timeoutSeconds": 2**63}, "timeoutSeconds"),
        ({**RUN, "timeoutSeconds": -1}, "timeoutSeconds"),
        ({**RUN, "timeoutSeconds": "ten"}, "timeoutSeconds"),
        ({**RUN, "runId": "."}, "runId"),
        ({**RUN, "runId": ".."}, "runId"),
        ({**RUN, "runId": ""}, "runId"),
        ({k: v for k, v in RUN.items() if k != "agentId"}, "agentId"),
        ({**RUN, "unknown": 1}, "unknown"),
        ({**RUN, "agentId": "x" * 201}, "agentId"),
        ([RUN], "body"),
        ("text", "body"),
    ],
)
def test_malformed_starts_are_a_400_naming_the_field(
    service: Service, body: Any, field: str
) -> None:
    status, answer = call(service, "POST", "/v1/runs", body)
    assert status == 400, answer
    assert answer["field"] == field and answer["message"].startswith(f"{field}:")
    assert service.jobs() == 0


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"agentId": "a", ' * 50_000, b"\xff\xfe", b"", b"nul\x00l"],
)
def test_bodies_no_parser_should_choke_on_are_a_400(service: Service, raw: bytes) -> None:
    status, kind, data = service.request("POST", "/v1/runs", raw)
    assert status in (400, 413), data[:200]
    assert kind.startswith("application/json")
    assert b"Traceback" not in data
    assert service.jobs() == 0


def test_an_unknown_template_names_the_field(service: Service) -> None:
    status, answer = call(service, "POST", "/v1/runs", {**RUN, "template": "nope"})
    assert status == 404 and answer["field"] == "template"


@pytest.mark.parametrize(
    "after", ["abc", "12", "2026-01-01T00:00:00Z|1", "2026-13-01|x", "|", "%FF", "2026" * 50]
)
def test_a_malformed_cursor_is_a_400(service: Service, after: str) -> None:
    call(service, "POST", "/v1/runs", RUN)
    status, answer = call(service, "GET", f"/v1/runs/run-1/log?after={after}")
    assert status == 400 and answer["field"] == "after"


@pytest.mark.parametrize(
    "after", ["0001-01-01T00:00:30.000000000Z|1", "0999-01-01T00:00:00.000000000Z|1"]
)
def test_a_cursor_from_long_ago_resumes_from_the_start(service: Service, after: str) -> None:
    """A well-formed cursor whose rewound second is before year 1, or before year 1000,
    still streams the run (it was an OverflowError: the run reported failed while its Job
    went on; or a sinceTime of a three-digit year, which the API server refuses)."""
    _, started = call(service, "POST", "/v1/runs", RUN)
    pod = service.inspect(lambda kube: kube.job_pod(started["job"]))
    assert pod is not None
    service.inspect(lambda kube: kube.append_log(NS, pod["metadata"]["name"], "hello"))
    service.inspect(lambda kube: kube.end_pod(NS, pod["metadata"]["name"], 0))
    status, _, raw = service.request("GET", f"/v1/runs/run-1/log?after={after}")
    records = [json.loads(line) for line in raw.splitlines()]
    assert status == 200 and [r["text"] for r in records if r["type"] == "line"] == ["hello"]
    assert records[-1]["type"] == "result" and records[-1]["exitCode"] == 0, records[-1]


def test_lost_rbac_shows_in_readiness_and_as_json_errors(service: Service) -> None:
    service.inspect(lambda kube: kube.fail("GET", "/jobs", 403))
    time.sleep(2.1)  # readiness is cached briefly
    status, body = call(service, "GET", "/readyz", auth=False)
    assert status == 503 and body["error"] == "forbidden" and body["kubernetesStatus"] == 403
    status, body = call(service, "GET", "/v1/runs/run-1")
    assert status == 502 and body["error"] == "forbidden"
    assert "403" in body["message"]


def test_unknown_routes_and_methods_answer_json(service: Service) -> None:
    status, body = service.json("GET", "/v2/nothing")
    assert status == 404 and body["error"] == "not_found"
    status, body = service.json("PUT", "/v1/runs")
    assert status == 405 and "error" in body


def test_a_start_whose_body_stalls_is_a_408_not_a_request_held_forever(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends its headers and part of its body, then nothing, got no answer
    ever: the handler waited for the body with no limit (and held the connection)."""
    import http.client
    import socket

    import launcher.server

    monkeypatch.setattr(launcher.server, "BODY_SECONDS", 0.3)
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"agentId"'
        )
        began = time.monotonic()
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
    assert time.monotonic() - began < 4
    assert response.status == 408 and body["error"] == "request_timeout", body
    assert response.getheader("Connection", "").lower() == "close"
    conforms("POST", "/v1/runs", 408, body)
    assert service.jobs() == 0
