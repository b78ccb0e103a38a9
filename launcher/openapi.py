"""The OpenAPI 3.1 document of the launcher's HTTP API (served at ``GET /openapi.json``).

The request schema comes from :class:`launcher.jobs.RunRequest`, so the document and the
validation cannot drift apart; the tests check every answer against it.
"""

from __future__ import annotations

import functools
from typing import Any

from launcher.jobs import RunRequest

VERSION = "0.1.0"
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


def _schemas() -> dict[str, Any]:
    request = RunRequest.model_json_schema(by_alias=True, mode="validation")
    request.pop("title", None)
    return {
        "RunRequest": request,
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "a short machine-readable code"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the bad field, when one is"},
                "kubernetesStatus": {"type": "integer"},
                "ok": {"type": "boolean"},
            },
        },
        "Started": {
            "type": "object",
            "required": ["runId", "job", "reattached"],
            "additionalProperties": False,
            "properties": {
                "runId": {"type": "string"},
                "job": {"type": "string"},
                "reattached": {"type": "boolean"},
            },
        },
        "Status": {
            "type": "object",
            "required": ["runId", "job", "state"],
            "additionalProperties": False,
            "properties": {
                "runId": {"type": "string"},
                "job": {"type": "string"},
                "state": {"enum": ["pending", "running", "finished"]},
                "condition": {"enum": ["Complete", "Failed"]},
                "reason": {"type": "string"},
                "exitCode": {"type": "integer"},
            },
        },
        "Cancelled": {
            "type": "object",
            "required": ["runId", "job", "cancelled"],
            "additionalProperties": False,
            "properties": {
                "runId": {"type": "string"},
                "job": {"type": "string"},
                "cancelled": {"type": "boolean"},
            },
        },
        "LineRecord": {
            "type": "object",
            "required": ["type", "cursor", "text"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "line"},
                "cursor": {"type": "string", "pattern": CURSOR_PATTERN},
                "text": {"type": "string"},
            },
        },
        "ResultRecord": {
            "type": "object",
            "required": ["type", "exitCode"],
            "properties": {
                "type": {"const": "result"},
                "runId": {"type": ["string", "null"]},
                "job": {"type": "string"},
                "exitCode": {"type": "integer"},
                "timedOut": {"type": "boolean"},
                "cancelled": {"type": "boolean"},
                "errorCode": {"type": ["string", "null"]},
                "errorMessage": {"type": "string"},
                "sessionId": {"type": ["string", "null"]},
                "usage": {"type": "object"},
                "costUsd": {"type": "number"},
                "summary": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "string"}},
                "clearSession": {"type": "boolean"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["ok"],
            "properties": {"ok": {"type": "boolean"}},
        },
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
                        "400": _json("Error", "a bad field (named in 'field')"),
                        "404": _json("Error", "no such template"),
                        "409": _json("Error", "the agent is busy, or the Job name clashes"),
                        "413": _json("Error", "the body is larger than 64 KiB"),
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
