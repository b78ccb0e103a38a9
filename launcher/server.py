"""The launcher's HTTP service (aiohttp): start, stream, status and cancel agent runs.

POST   /v1/runs                      start (201), reattach (200), agent busy (409)
GET    /v1/runs/{run}/log?after=C    NDJSON: {"type":"line",...} ... {"type":"result",...}
GET    /v1/runs/{run}                status
DELETE /v1/runs/{run}                cancel
GET    /healthz, /readyz             liveness, readiness (the API server answers)

Callers authenticate with ``Authorization: Bearer <token>`` (the launcher token Secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from launcher.guard import AgentBusy
from launcher.jobs import RunRequest
from launcher.kube import ApiError
from launcher.runs import Launcher, RunNotFound, UnknownTemplate

log = logging.getLogger("paperclip_launcher.server")
LAUNCHER_KEY: web.AppKey[Launcher] = web.AppKey("launcher", Launcher)
DISCONNECT_CANCEL_SECONDS = 60.0


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def make_app(
    launcher: Launcher,
    token: str,
    *,
    reap_interval: float = 10.0,
    disconnect_cancel_seconds: float = DISCONNECT_CANCEL_SECONDS,
) -> web.Application:
    watchers: dict[str, int] = {}
    pending_cancels: dict[str, asyncio.Task[None]] = {}

    @web.middleware
    async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in ("/healthz", "/readyz"):
            return await handler(request)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "unauthorized", "missing or wrong bearer token")
        return await handler(request)

    async def start(request: web.Request) -> web.StreamResponse:
        try:
            run = RunRequest.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return _error(400, "bad_request", str(exc).splitlines()[0][:300])
        try:
            started = await launcher.start(run)
        except UnknownTemplate:
            return _error(
                404,
                "unknown_template",
                f"no template {run.template!r}; known: "
                f"{', '.join(sorted(launcher.config.templates))}",
            )
        except AgentBusy as busy:
            return _error(409, "agent_busy", str(busy))
        body = {"runId": started.run_id, "job": started.job, "reattached": started.reattached}
        return web.json_response(body, status=200 if started.reattached else 201)

    async def cancel_later(run_id: str) -> None:
        await asyncio.sleep(disconnect_cancel_seconds)
        if not watchers.get(run_id):
            log.info("client gone; cancelling", extra={"run": run_id})
            with contextlib.suppress(RunNotFound, ApiError):
                await launcher.cancel(run_id)

    async def stream(request: web.Request) -> web.StreamResponse:
        run_id = request.match_info["run"]
        if (task := pending_cancels.pop(run_id, None)) is not None:
            task.cancel()
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"}
        )
        watchers[run_id] = watchers.get(run_id, 0) + 1
        finished = False
        try:
            if await launcher.find_job(run_id) is None:
                raise RunNotFound(run_id)
            await response.prepare(request)  # headers now: the client knows it is attached
            records = launcher.stream(run_id, request.query.get("after"))
            async for batch in records:
                if not batch:
                    if request.transport is None or request.transport.is_closing():
                        raise ConnectionResetError("client went away")
                    continue
                await response.write(
                    b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in batch)
                )
                finished = batch[-1]["type"] == "result"
            if not response.prepared:
                await response.prepare(request)
            await response.write_eof()
        except RunNotFound:
            finished = True
            return _error(404, "unknown_run", f"no run {run_id!r}")
        except ConnectionResetError:
            log.info("stream client went away", extra={"run": run_id})
        except asyncio.CancelledError:
            log.info("stream client went away", extra={"run": run_id})
            raise
        finally:
            watchers[run_id] -= 1
            if not finished and not watchers[run_id] and disconnect_cancel_seconds >= 0:
                pending_cancels[run_id] = asyncio.ensure_future(cancel_later(run_id))
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

    async def healthz(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.StreamResponse:
        try:
            await launcher.kube.get("/version")
        except Exception as exc:
            return _error(503, "api_unreachable", str(exc)[:200])
        return web.json_response({"ok": True})

    async def reaper(app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                with contextlib.suppress(Exception):
                    await launcher.release_finished()
                await asyncio.sleep(reap_interval)

        task = asyncio.ensure_future(loop())
        yield
        task.cancel()
        for pending in pending_cancels.values():
            pending.cancel()
        await launcher.kube.close()

    @web.middleware
    async def access_log(request: web.Request, handler: Any) -> web.StreamResponse:
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

    app = web.Application(middlewares=[access_log, authenticate])
    app[LAUNCHER_KEY] = launcher
    app.router.add_post("/v1/runs", start)
    app.router.add_get("/v1/runs/{run}/log", stream)
    app.router.add_get("/v1/runs/{run}", status)
    app.router.add_delete("/v1/runs/{run}", cancel)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.cleanup_ctx.append(reaper)
    return app
