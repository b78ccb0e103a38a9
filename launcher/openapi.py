"""The OpenAPI 3.1 document of the launcher's HTTP API (served at ``GET /openapi.json``).

The request schema comes from :class:`launcher.jobs.RunRequest`, so the document and the
validation cannot drift apart; the tests check every answer against it.
"""

from __future__ import annotations

import functools
from typing import Any

from launcher import __version__
from launcher.jobs import RunRequest
from launcher.schema_docs import json_schema

VERSION = __version__
CURSOR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z\|[1-9]\d{0,8}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {
    "401": _json("Error", "missing or wrong bearer token"),
    "502": _json("Error", "the Kubernetes API refused the call (e.g. lost RBAC)"),
    "503": _json("Error", "the Kubernetes API is unreachable"),
}
RUN_PARAMETER = {
    "name": "run",
    "in": "path",
    "required": True,
    "description": "the run id given at start",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _object(required: list[str], properties: dict[str, Any], closed: bool = True) -> dict[str, Any]:
    """A JSON object schema; ``closed`` refuses keys not listed."""
    schema: dict[str, Any] = {"type": "object", "required": required}
    if closed:
        schema["additionalProperties"] = False
    schema["properties"] = properties
    return schema


_STRING: dict[str, Any] = {"type": "string"}
_INTEGER: dict[str, Any] = {"type": "integer"}
_BOOLEAN: dict[str, Any] = {"type": "boolean"}
_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}


def _schemas() -> dict[str, Any]:
    request = json_schema(RunRequest)
    request.pop("title", None)
    run = {"runId": _STRING, "job": _STRING}
    return {
        "RunRequest": request,
        "Error": _object(
            ["error", "message"],
            {
                "error": {"type": "string", "description": "a short machine-readable code"},
                "message": _STRING,
                "field": {"type": "string", "description": "the bad field, when one is"},
                "kubernetesStatus": _INTEGER,
                "ok": _BOOLEAN,
            },
            closed=False,
        ),
        "Started": _object(["runId", "job", "reattached"], {**run, "reattached": _BOOLEAN}),
        "Status": _object(
            ["runId", "job", "state"],
            {
                **run,
                "state": {"enum": ["pending", "running", "finished"]},
                "condition": {"enum": ["Complete", "Failed"]},
                "reason": _STRING,
                "exitCode": _INTEGER,
            },
        ),
        "Cancelled": _object(["runId", "job", "cancelled"], {**run, "cancelled": _BOOLEAN}),
        "LineRecord": _object(
            ["type", "cursor", "text"],
            {
                "type": {"const": "line"},
                "cursor": {"type": "string", "pattern": CURSOR_PATTERN},
                "text": _STRING,
            },
        ),
        "ResultRecord": _object(
            ["type", "exitCode"],
            {
                "type": {"const": "result"},
                "runId": _NULLABLE_STRING,
                "job": _STRING,
                "exitCode": _INTEGER,
                "timedOut": _BOOLEAN,
                "cancelled": _BOOLEAN,
                "errorCode": _NULLABLE_STRING,
                "errorMessage": _STRING,
                "sessionId": _NULLABLE_STRING,
                "usage": {"type": "object"},
                "costUsd": {"type": "number"},
                "summary": _STRING,
                "errors": {"type": "array", "items": _STRING},
                "clearSession": _BOOLEAN,
                "model": _STRING,
                "provider": _NULLABLE_STRING,
            },
            closed=False,
        ),
        "Templates": _object(
            ["templates"],
            {
                "templates": {
                    "type": "array",
                    "items": _object(
                        ["name", "output", "workspace", "timeoutSeconds", "agentOverrides"],
                        {
                            "name": _STRING,
                            "output": {"enum": ["plain", "opencode"]},
                            "workspace": {"enum": ["shared", "none"]},
                            "model": _NULLABLE_STRING,
                            "timeoutSeconds": _INTEGER,
                            "agentOverrides": {"type": "object"},
                        },
                    ),
                }
            },
        ),
        "SelfTest": _object(
            ["ok", "namespace", "instance", "templates", "access"],
            {
                "ok": _BOOLEAN,
                "namespace": _STRING,
                "instance": _STRING,
                "templates": {"type": "array", "items": _STRING},
                "template": _object(["name", "exists"], {"name": _STRING, "exists": _BOOLEAN}),
                "access": {
                    "type": "array",
                    "items": _object(
                        ["resource", "group", "verb", "allowed"],
                        {
                            "resource": _STRING,
                            "group": _STRING,
                            "verb": _STRING,
                            "allowed": _BOOLEAN,
                            "reason": _STRING,
                            "error": _STRING,
                        },
                    ),
                },
            },
        ),
        "Health": _object(["ok"], {"ok": _BOOLEAN}, closed=False),
    }


@functools.cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "paperclip-launcher",
            "version": VERSION,
            "description": "Starts agent runs as Kubernetes Jobs and relays their logs.",
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/runs": {
                "post": {
                    "operationId": "startRun",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("RunRequest")}},
                    },
                    "responses": {
                        "201": _json("Started", "the run's Job was created"),
                        "200": _json("Started", "the run already existed: reattached"),
                        "400": _json(
                            "Error",
                            "a bad field, or one the template does not let agents set "
                            "(named in 'field')",
                        ),
                        "404": _json("Error", "no such template"),
                        "409": _json(
                            "Error", "the agent is busy, or the Job name or run id is in use"
                        ),
                        "408": _json("Error", "the body did not arrive within 30 s"),
                        "413": _json("Error", "the body is larger than 1.5 MiB"),
                        **ERRORS,
                    },
                }
            },
            "/v1/runs/{run}": {
                "parameters": [RUN_PARAMETER],
                "get": {
                    "operationId": "runStatus",
                    "responses": {
                        "200": _json("Status", "the run's state"),
                        "404": _json("Error", "no such run"),
                        **ERRORS,
                    },
                },
                "delete": {
                    "operationId": "cancelRun",
                    "responses": {
                        "202": _json("Cancelled", "the run is being cancelled"),
                        "404": _json("Error", "no such run"),
                        **ERRORS,
                    },
                },
            },
            "/v1/runs/{run}/log": {
                "parameters": [
                    RUN_PARAMETER,
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "resume after this line record's cursor",
                        "schema": {"type": "string", "pattern": CURSOR_PATTERN},
                    },
                ],
                "get": {
                    "operationId": "streamRun",
                    "responses": {
                        "200": {
                            "description": "NDJSON: line records, then one result record",
                            "content": {
                                "application/x-ndjson": {
                                    "schema": {"oneOf": [_ref("LineRecord"), _ref("ResultRecord")]}
                                }
                            },
                        },
                        "400": _json("Error", "a malformed cursor"),
                        "404": _json("Error", "no such run"),
                        **ERRORS,
                    },
                },
            },
            "/v1/templates": {
                "get": {
                    "operationId": "listTemplates",
                    "responses": {
                        "200": _json("Templates", "the templates and what agents may choose"),
                        "401": ERRORS["401"],
                    },
                }
            },
            "/v1/self-test": {
                "parameters": [
                    {
                        "name": "template",
                        "in": "query",
                        "required": False,
                        "description": "also check that this template exists",
                        "schema": {"type": "string"},
                    }
                ],
                "get": {
                    "operationId": "selfTest",
                    "responses": {
                        "200": _json(
                            "SelfTest",
                            "the token was accepted; whether the launcher's credentials "
                            "allow each call it makes, and the template exists",
                        ),
                        **ERRORS,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "security": [],
                    "responses": {"200": _json("Health", "the process serves")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "ready",
                    "security": [],
                    "responses": {
                        "200": _json("Health", "the launcher may list its Jobs"),
                        "503": _json("Error", "it may not (reason in 'error')"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "this document"}},
                }
            },
        },
    }
