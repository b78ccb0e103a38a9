"""Support for the launcher API tests (no tests here): the HTTP service on a loopback port, in
a thread, over the in-memory Kube."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from launcher.fakekube import FakeKube
from launcher.runs import Launcher, Timing
from launcher.server import make_app
from launcher.templates import LauncherConfig

T = TypeVar("T")
TOKEN = "s3cret-launcher-token-value"
NS = "ns"
CONFIG_DOC: dict[str, Any] = {
    "namespace": NS,
    "instance": "pc",
    "serviceAccount": "pc-agent",
    "apiUrl": "http://pc:3100",
    "pendingTimeoutSeconds": 5,
    "templates": {"plain": {"image": "busybox:1.36", "command": ["true"]}},
}
"""The launcher config of the unit tests (tests that need more templates extend it)."""
CONFIG = LauncherConfig.model_validate(CONFIG_DOC)


class Captured(logging.Handler):
    """Every log record of the process, formatted as the launcher formats them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        from launcher.cli import JsonFormatter

        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


class Service:
    def __init__(self, timing: Timing | None = None, disconnect: float = -1) -> None:
        self.kube = FakeKube()
        self.launcher = Launcher(
            self.kube, CONFIG, timing or Timing(idle=0.02, poll=0.005, heartbeat=0.05)
        )
        self.disconnect = disconnect
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.logs = Captured()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> Service:
        root = logging.getLogger()
        root.addHandler(self.logs)
        self._level = root.level
        root.setLevel(logging.DEBUG)
        threading.Thread(target=self._serve, daemon=True).start()
        assert self._ready.wait(10), "the launcher service did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            self.call_soon(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        logging.getLogger().removeHandler(self.logs)
        logging.getLogger().setLevel(self._level)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            app = make_app(
                self.launcher, TOKEN, reap_interval=0.02, disconnect_cancel_seconds=self.disconnect
            )
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert isinstance(server, asyncio.base_events.Server)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def call_soon(self, coroutine: Awaitable[T], timeout: float = 10) -> T:
        async def wrap() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def inspect(self, read: Callable[[FakeKube], T]) -> T:
        async def wrap() -> T:
            return read(self.kube)

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(10)

    def jobs(self) -> int:
        return self.inspect(lambda kube: len(kube.of_kind("jobs")))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of one request."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            if auth:
                all_headers.setdefault("Authorization", f"Bearer {TOKEN}")
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        raw = None if body is None else json.dumps(body).encode()
        status, _, data = self.request(method, path, raw, **kw)
        return status, json.loads(data) if data else None

    def raw(self, data: bytes) -> bytes:
        """Send raw bytes (headers no client library would send); the raw answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
