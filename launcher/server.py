"""The launcher's HTTP service (aiohttp): start, stream, status and cancel agent runs.

POST   /v1/runs                      start (201), reattach (200), agent busy (409),
                                     body not sent within BODY_SECONDS (408)
GET    /v1/runs/{run}/log?after=C    NDJSON: {"type":"line",...} ... {"type":"result",...}
GET    /v1/runs/{run}                status
DELETE /v1/runs/{run}                cancel
GET    /healthz, /readyz             liveness; readiness (the launcher may list its Jobs)
GET    /openapi.json                 the OpenAPI document of this API

Callers authenticate with ``Authorization: Bearer <token>`` (the launcher token Secret).
Every error is JSON: ``{"error": code, "message": text}`` (and ``"field"`` for a request
that names a bad field). A run whose log nobody has streamed for
``disconnect_cancel_seconds`` is cancelled by whichever replica's sweep notices first (the
heartbeat is an annotation on the Job, see :mod:`launcher.runs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web, web_protocol
from pydantic import ValidationError

from launcher.access import self_test
from launcher.guard import AgentBusy
from launcher.jobs import RunRefused, RunRequest
from launcher.kube import ApiError, KubeConfigError
from launcher.openapi import document
from launcher.relay import Cursor
from launcher.runs import JobClash, Launcher, RunNotFound, UnknownTemplate

log = logging.getLogger("paperclip_launcher.server")
LAUNCHER_KEY: web.AppKey[Launcher] = web.AppKey("launcher", Launcher)
DISCONNECT_CANCEL_SECONDS = 60.0
READY_CACHE_SECONDS = 2.0
MAX_BODY = 1536 * 1024  # a run carries its prompt and context (at most 900 KiB of them)
BODY_SECONDS = 30.0
"""How long a start may take to send its body: a client that stops sending (or trickles)
would otherwise hold its request, and the connection, open forever."""
PUBLIC = frozenset({"/healthz", "/readyz", "/openapi.json"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def api_error_response(exc: ApiError) -> web.Response:
    """A Kubernetes API failure, as JSON: 503 when unreachable, else 502 with its status."""
    if exc.status == 0:
        return _error(503, "kubernetes_unreachable", f"the API server is unreachable: {exc}")
    reason = "forbidden" if exc.status in (401, 403) else "kubernetes_error"
    return _error(
        502,
        reason,
        f"the Kubernetes API answered {exc.status} {exc.reason}: {exc.message[:300]}",
        kubernetesStatus=exc.status,
    )


class _Redact(logging.Filter):
    """aiohttp logs a malformed request with the offending header line (a bearer token,
    say) in the exception: keep only the exception's type."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        kind = type(exc).__name__ if exc is not None else "error"
        record.msg = f"aiohttp: request handling failed ({kind}; request details withheld)"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def redact_aiohttp_logs() -> None:
    """No request header value reaches the logs, nor the answer to a malformed request
    (aiohttp would echo the offending header line, bearer token included)."""
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.internal"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Redact) for f in logger.filters):
            logger.addFilter(_Redact())
    handler_class = web_protocol.RequestHandler
    if getattr(handler_class.handle_error, "_launcher_quiet", False):
        return
    original = handler_class.handle_error

    def handle_error(
        self: web_protocol.RequestHandler,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        quiet = f"{status} malformed HTTP request (details withheld)" if status != 500 else None
        return original(self, request, status, exc, quiet)

    handle_error._launcher_quiet = True  # type: ignore[attr-defined]
    handler_class.handle_error = handle_error  # type: ignore[method-assign]


def encode(batch: list[dict[str, Any]]) -> bytes:
    """NDJSON of a batch of records; line records (the bulk) without a generic encoder."""
    out = []
    for record in batch:
        if record.get("type") == "line" and len(record) == 3:
            out.append(
                f'{{"type":"line","cursor":{json.dumps(record["cursor"])},'
                f'"text":{json.dumps(record["text"])}}}\n'
            )
        else:
            out.append(json.dumps(record, separators=(",", ":")) + "\n")
    return "".join(out).encode()


def template_summaries(launcher: Launcher) -> list[dict[str, Any]]:
    """What an agent's settings may choose, per template (for Paperclip's config form)."""
    out = []
    for name, template in sorted(launcher.config.templates.items()):
        allowed = template.agent_overrides
        out.append(
            {
                "name": name,
                "output": template.output.value,
                "workspace": template.workspace.value,
                "model": template.opencode.model if template.opencode else None,
                "timeoutSeconds": template.timeout_seconds,
                "agentOverrides": allowed.model_dump(by_alias=True, mode="json"),
            }
        )
    return out


def bad_request(exc: ValidationError) -> web.Response:
    """A 400 naming the first bad field (camelCase, as the client sent it)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"])
        problems.append((field, error["msg"]))
    field, message = problems[0] if problems else ("", "invalid request")
    text = f"{field}: {message}" if field else f"body: {message}"
    return _error(400, "bad_request", text, field=field or "body")


@dataclass
class _Readiness:
    checked_at: float = -1e9
    problem: web.Response | None = None


def make_app(
    launcher: Launcher,
    token: str,
    *,
    reap_interval: float = 10.0,
    disconnect_cancel_seconds: float = DISCONNECT_CANCEL_SECONDS,
) -> web.Application:
    if not token.strip():
        raise ValueError("the launcher token is empty: it would accept a request without one")
    expected = token.encode()
    readiness = _Readiness()
    redact_aiohttp_logs()

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Everything comes back as JSON; nothing a caller sends causes a traceback."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        except ApiError as exc:
            log.warning(
                "kubernetes api error",
                extra={"path": request.path, "status": exc.status, "reason": exc.reason},
            )
            return api_error_response(exc)
        except KubeConfigError as exc:
            return _error(503, "kubernetes_credentials", str(exc))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            log.error("unexpected error", extra={"path": request.path, "error": type(exc).__name__})
            return _error(500, "internal", f"unexpected {type(exc).__name__}")

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC:
            return await handler(request)
        # Header values may hold any byte; compare bytes, never decode them strictly.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        scheme, _, credentials = given.strip().partition(b" ")
        valid = scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), expected)
        if not valid:
            return _error(
                401,
                "unauthorized",
                "missing or wrong bearer token (Authorization: Bearer <token>)",
            )
        return await handler(request)

    async def start(request: web.Request) -> web.StreamResponse:
        try:
            async with asyncio.timeout(BODY_SECONDS):
                raw = await request.read()
        except TimeoutError:
            slow = _error(408, "request_timeout", f"body: not received within {BODY_SECONDS:g} s")
            slow.force_close()  # never reuse a connection left mid-body
            return slow
        try:
            run = RunRequest.model_validate_json(raw)
        except ValidationError as exc:
            return bad_request(exc)
        try:
            started = await launcher.start(run)
        except UnknownTemplate:
            return _error(
                404,
                "unknown_template",
                f"template: no template {run.template!r}; known: "
                f"{', '.join(sorted(launcher.config.templates))}",
                field="template",
            )
        except RunRefused as refused:
            return _error(400, "not_allowed", str(refused), field=refused.field)
        except AgentBusy as busy:
            return _error(409, "agent_busy", str(busy))
        except JobClash as clash:
            return _error(409, "job_name_conflict", str(clash), field="runId")
        body = {"runId": started.run_id, "job": started.job, "reattached": started.reattached}
        return web.json_response(body, status=200 if started.reattached else 201)

    async def stream(request: web.Request) -> web.StreamResponse:
        run_id = request.match_info["run"]
        after = request.query.get("after")
        try:
            Cursor.decode(after)
        except ValueError as exc:
            return _error(400, "bad_cursor", f"after: {exc}", field="after")
        if await launcher.find_job(run_id) is None:
            return _error(404, "unknown_run", f"no run {run_id!r}")
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)  # headers now: the client knows it is attached
        records = launcher.stream(run_id, after)
        try:
            async with contextlib.aclosing(records):
                async for batch in records:
                    if not batch:
                        if request.transport is None or request.transport.is_closing():
                            raise ConnectionResetError("client went away")
                        continue
                    await response.write(encode(batch))
            await response.write_eof()
        except RunNotFound:
            await response.write(
                json.dumps(
                    {
                        "type": "result",
                        "runId": run_id,
                        "exitCode": 1,
                        "errorCode": "job_deleted",
                        "errorMessage": "the run's Job is gone",
                    }
                ).encode()
                + b"\n"
            )
        except ConnectionResetError:
            log.info("stream client went away", extra={"run": run_id})
        except asyncio.CancelledError:
            log.info("stream client went away", extra={"run": run_id})
            raise
        except Exception as exc:
            # headers are out: end the stream with a result record that says why
            if isinstance(exc, ApiError):
                code, message = "api_error", f"the Kubernetes API failed: {exc.message[:300]}"
            else:
                log.error("stream failed", extra={"run": run_id, "error": type(exc).__name__})
                code, message = "internal", f"the launcher failed: {type(exc).__name__}"
            record = {
                "type": "result",
                "runId": run_id,
                "exitCode": 1,
                "errorCode": code,
                "errorMessage": message,
            }
            with contextlib.suppress(ConnectionResetError):
                await response.write(json.dumps(record).encode() + b"\n")
        return response

    async def status(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response(await launcher.status(request.match_info["run"]))
        except RunNotFound:
            return _error(404, "unknown_run", "no such run")

    async def cancel(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response(await launcher.cancel(request.match_info["run"]), status=202)
        except RunNotFound:
            return _error(404, "unknown_run", "no such run")

    async def templates(_: web.Request) -> web.StreamResponse:
        return web.json_response({"templates": template_summaries(launcher)})

    async def selftest(request: web.Request) -> web.StreamResponse:
        """What Paperclip's environment test shows: the token was accepted (this answer),
        the templates, and whether the launcher's credentials allow each call it makes."""
        checks = await self_test(launcher.kube, launcher.namespace)
        wanted = request.query.get("template")
        body: dict[str, Any] = {
            "ok": all(c["allowed"] for c in checks)
            and (wanted is None or wanted in launcher.config.templates),
            "namespace": launcher.namespace,
            "instance": launcher.config.instance,
            "templates": sorted(launcher.config.templates),
            "access": checks,
        }
        if wanted is not None:
            body["template"] = {"name": wanted, "exists": wanted in launcher.config.templates}
        return web.json_response(body)

    async def healthz(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.StreamResponse:
        if time.monotonic() - readiness.checked_at > READY_CACHE_SECONDS:
            try:
                await launcher.check_access()
                readiness.problem = None
            except ApiError as exc:
                readiness.problem = api_error_response(exc)
            except KubeConfigError as exc:
                readiness.problem = _error(503, "kubernetes_credentials", str(exc))
            readiness.checked_at = time.monotonic()
        if readiness.problem is not None:
            body = json.loads(readiness.problem.text or "{}")
            return web.json_response({"ok": False, **body}, status=503)
        return web.json_response({"ok": True})

    async def openapi(_: web.Request) -> web.StreamResponse:
        return web.json_response(document())

    async def sweeper(app: web.Application) -> AsyncIterator[None]:
        unwatched = disconnect_cancel_seconds if disconnect_cancel_seconds > 0 else None

        async def loop() -> None:
            while True:
                try:
                    await launcher.sweep(unwatched)
                except Exception as exc:
                    log.warning("sweep failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(reap_interval)

        task = asyncio.ensure_future(loop())
        yield
        task.cancel()
        await launcher.kube.close()

    @web.middleware
    async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        begin = time.monotonic()
        response = await handler(request)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "ms": round((time.monotonic() - begin) * 1000, 1),
            },
        )
        return response

    app = web.Application(middlewares=[access_log, errors, authenticate], client_max_size=MAX_BODY)
    app[LAUNCHER_KEY] = launcher
    app.router.add_post("/v1/runs", start)
    app.router.add_get("/v1/runs/{run}/log", stream)
    app.router.add_get("/v1/runs/{run}", status)
    app.router.add_delete("/v1/runs/{run}", cancel)
    app.router.add_get("/v1/templates", templates)
    app.router.add_get("/v1/self-test", selftest)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.cleanup_ctx.append(sweeper)
    return app
