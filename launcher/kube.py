"""A small async Kubernetes API client (aiohttp): JSON calls, and line streams for logs.

In a pod it uses the mounted ServiceAccount token and CA; from a workstation, a kubeconfig
whose user has a ``token`` or a ``tokenFile``. A token read from a file is re-read as the
official clients do: at most a minute after it was last read, and at once when the API
server answers 401 (projected ServiceAccount tokens are rotated about hourly).

:class:`KubeApi` is the small interface the launcher uses; :class:`Kube` is the real one and
:mod:`launcher.fakekube` an in-memory one for unit tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml

MAX_BATCH = 200
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0
REQUEST_TIMEOUT = 30.0


class ApiError(Exception):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, body: Any) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        self.message = str(message or reason)
        super().__init__(f"{status} {reason}: {self.message}")


class KubeConfigError(Exception):
    """The kubeconfig (or in-cluster files) cannot be used; the message says why."""


class KubeApi(Protocol):
    """What the launcher needs from the API server."""

    async def get(self, path: str, **params: str) -> Any: ...

    async def create(self, path: str, body: dict[str, Any]) -> Any: ...

    async def replace(self, path: str, body: dict[str, Any]) -> Any: ...

    async def patch(self, path: str, body: dict[str, Any]) -> Any: ...

    async def delete(
        self, path: str, propagation: str | None = None, uid: str | None = None
    ) -> Any: ...

    async def text(self, path: str, params: dict[str, str]) -> str: ...

    def lines(
        self, path: str, params: dict[str, str], *, idle: float
    ) -> AsyncGenerator[list[str] | None, None]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Connection:
    server: str
    token: str = ""
    token_file: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    namespace: str = "default"

    @classmethod
    def in_cluster(cls, sa_dir: Path = SA_DIR) -> Connection:
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        namespace_file = sa_dir / "namespace"
        return cls(
            server=f"https://{host}:{port}",
            token_file=str(sa_dir / "token"),
            ca_file=str(sa_dir / "ca.crt"),
            namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
        )

    @classmethod
    def from_kubeconfig(cls, path: str | None = None) -> Connection:
        path = path or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        try:
            config = yaml.safe_load(Path(path).read_text())
            current = config.get("current-context")
            context = next(c["context"] for c in config["contexts"] if c["name"] == current)
            cluster = next(
                c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"]
            )
            user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        except (OSError, yaml.YAMLError, AttributeError, KeyError, StopIteration, TypeError):
            raise KubeConfigError(
                f"{path}: not a usable kubeconfig (needs current-context, and the context's "
                "cluster and user); fix the file or pass --kubeconfig"
            ) from None
        if "token" not in user and "tokenFile" not in user:
            raise KubeConfigError(
                f"{path}: the user of context {current!r} has no token or tokenFile; "
                "the launcher authenticates with a bearer token only"
            )
        return cls(
            server=cluster["server"],
            token=user.get("token", ""),
            token_file=user.get("tokenFile"),
            ca_file=cluster.get("certificate-authority"),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            namespace=context.get("namespace", "default"),
        )

    @classmethod
    def auto(cls, kubeconfig: str | None = None) -> Connection:
        if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
            return cls.in_cluster()
        return cls.from_kubeconfig(kubeconfig)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class TokenSource:
    """The bearer token: fixed, or read from a file that may be replaced at any time."""

    def __init__(self, connection: Connection, reread_seconds: float = TOKEN_REREAD_SECONDS):
        self._file = Path(connection.token_file) if connection.token_file else None
        self._token = connection.token
        self._read_at = -float("inf")
        self._reread = reread_seconds

    @property
    def rereadable(self) -> bool:
        return self._file is not None

    def get(self, *, fresh: bool = False) -> str:
        if self._file is not None and (
            fresh or time.monotonic() - self._read_at >= self._reread or not self._token
        ):
            try:
                self._token = self._file.read_text().strip()
            except OSError as exc:
                if not self._token:
                    raise KubeConfigError(
                        f"cannot read the token file {self._file}: {exc.strerror}"
                    ) from None
            self._read_at = time.monotonic()
        return self._token


# asyncio gives every TLS connection a 256 KiB read buffer up front; a launcher following
# hundreds of logs holds as many connections. TLS records are at most 16 KiB, so 64 KiB
# reads lose nothing and keep a follow stream's memory small.
TLS_READ_BUFFER = 32 * 1024
STREAM_READ_BUFFER = 16 * 1024
"""aiohttp buffers up to twice this per log stream before it stops reading the socket."""
JSON_CONNECTIONS = 32


def _small_tls_buffers() -> None:
    from asyncio import sslproto

    sslproto.SSLProtocol.max_size = min(sslproto.SSLProtocol.max_size, TLS_READ_BUFFER)


class Kube:
    """JSON requests and streams against one API server; share one per process.

    Short JSON calls share a small connection pool; each log stream has its own connection
    (a pool shared with them would be exhausted by the streams it holds)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.tokens = TokenSource(connection)
        self._session: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None
        _small_tls_buffers()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _new_session(self, limit: int, read_bufsize: int = 2**16) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=self.connection.server,
            connector=aiohttp.TCPConnector(ssl=self.connection.ssl_context(), limit=limit),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            read_bufsize=read_bufsize,
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """Short JSON calls (a bounded pool)."""
        if self._session is None or self._session.closed:
            self._session = self._new_session(JSON_CONNECTIONS)
        return self._session

    @property
    def streams(self) -> aiohttp.ClientSession:
        """Log streams (one connection each, unbounded)."""
        if self._streams is None or self._streams.closed:
            self._streams = self._new_session(0, STREAM_READ_BUFFER)
        return self._streams

    def _auth(self, fresh: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.get(fresh=fresh)}"}

    async def close(self) -> None:
        for session in (self._session, self._streams):
            if session is not None:
                await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        for attempt in (0, 1):
            headers = self._auth(fresh=attempt == 1)
            if body is not None:
                headers["Content-Type"] = content_type
            try:
                async with self.session.request(
                    method,
                    path,
                    json=body,
                    params=params,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                ) as response:
                    # Never strict: a proxy's error page may be labelled JSON, or not be
                    # UTF-8; such an answer is an ApiError like any other, not a crash.
                    text = await response.text(errors="replace")
                    data: Any = text
                    if response.content_type == "application/json":
                        try:
                            data = json.loads(text) if text.strip() else None
                        except ValueError:
                            if response.status < 400:
                                # what it held (a Secret, say) is not repeated
                                raise ApiError(
                                    response.status,
                                    response.reason or "",
                                    f"the answer is not valid JSON ({len(text)} characters)",
                                ) from None
                    if response.status == 401 and attempt == 0 and self.tokens.rereadable:
                        continue  # the token may have been rotated: read it again, once
                    if response.status >= 400:
                        raise ApiError(response.status, response.reason or "", data)
                    return data
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                raise ApiError(0, "Unreachable", f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, path: str, **params: str) -> Any:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request(
            "PATCH", path, body=body, content_type="application/merge-patch+json"
        )

    async def delete(
        self, path: str, propagation: str | None = None, uid: str | None = None
    ) -> Any:
        """Delete the object; with ``uid``, only that very object (409 when the name now
        belongs to another)."""
        body: dict[str, Any] = {}
        if propagation:
            body["propagationPolicy"] = propagation
        if uid:
            body["preconditions"] = {"uid": uid}
        return await self.request("DELETE", path, body=body or None)

    async def text(self, path: str, params: dict[str, str]) -> str:
        return str(await self.request("GET", path, params=params))

    async def lines(
        self, path: str, params: dict[str, str], *, idle: float
    ) -> AsyncGenerator[list[str] | None, None]:
        """Lines of a streaming response as they arrive, in batches (the complete lines of
        one network read; a last line without its newline is left out); ``None`` after
        every ``idle`` seconds without data (also while waiting for the response to begin:
        a log follow of a silent container may send no headers at all), so the caller can
        check on the producer. Ends at the end of the response; close it with
        ``aclosing``. Raises :class:`ApiError` (status 0 when the connection failed or
        broke)."""
        response: aiohttp.ClientResponse | None = None
        pending: asyncio.Future[aiohttp.ClientResponse] | None = None
        try:
            for attempt in (0, 1):
                pending = asyncio.ensure_future(
                    self.streams.get(path, params=params, headers=self._auth(fresh=attempt == 1))
                )
                while not pending.done():
                    await asyncio.wait({pending}, timeout=idle)
                    if not pending.done():
                        yield None
                response = pending.result()
                if response.status == 401 and attempt == 0 and self.tokens.rereadable:
                    response.close()
                    response = None
                    continue
                break
            assert response is not None
            if response.status >= 400:
                body = await response.text(errors="replace")  # never strict (see request)
                raise ApiError(response.status, response.reason or "", _maybe_json(body))
            buffer = b""
            while True:
                try:
                    chunk = await asyncio.wait_for(response.content.readany(), idle)
                except TimeoutError:
                    yield None
                    continue
                if not chunk:
                    break
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                # Small batches keep memory flat when a large backlog arrives at once.
                for start in range(0, len(complete), MAX_BATCH):
                    yield [
                        line.decode("utf-8", errors="replace")
                        for line in complete[start : start + MAX_BATCH]
                    ]
            # A line without its newline is not delivered: the stream may have ended while
            # the line was being written (the API server ends a follow cleanly when its
            # connection to the kubelet breaks). Given a cursor now, the whole line would
            # be skipped after the reconnect; the caller reads it whole then, or with the
            # rest of the log once the container has ended.
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise ApiError(0, "Unreachable", f"{type(exc).__name__}: {exc}") from None
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
            if response is not None:
                response.close()


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def namespaced(namespace: str, resource: str, name: str = "", group: str = "") -> str:
    """API path of a namespaced resource, e.g. ``namespaced(ns, "jobs", "x", "batch/v1")``."""
    base = f"/apis/{group}" if group else "/api/v1"
    path = f"{base}/namespaces/{namespace}/{resource}"
    return f"{path}/{name}" if name else path
