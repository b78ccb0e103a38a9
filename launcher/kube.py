"""A small async Kubernetes API client (aiohttp): JSON calls, and line streams for logs.

In a pod it uses the mounted ServiceAccount token and CA; from a workstation, a kubeconfig
whose user has a token.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

MAX_BATCH = 200
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, body: Any) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{status} {reason}: {message}")


@dataclass(frozen=True)
class Connection:
    server: str
    token: str
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
            token=(sa_dir / "token").read_text().strip(),
            ca_file=str(sa_dir / "ca.crt"),
            namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
        )

    @classmethod
    def from_kubeconfig(cls, path: str | None = None) -> Connection:
        path = path or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        config = yaml.safe_load(Path(path).read_text())
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        if "token" not in user:
            raise ValueError(f"{path}: the user of context {current!r} has no token")
        return cls(
            server=cluster["server"],
            token=user["token"],
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


class Kube:
    """JSON requests and streams against one API server; share one per process."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=self.connection.server,
                headers={"Authorization": f"Bearer {self.connection.token}"},
                connector=aiohttp.TCPConnector(ssl=self.connection.ssl_context(), limit=200),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self.session.request(
            method,
            path,
            json=body,
            params=params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            data: Any
            if response.content_type == "application/json":
                data = await response.json()
            else:
                data = await response.text()
            if response.status >= 400:
                raise ApiError(response.status, response.reason or "", data)
            return data

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

    async def delete(self, path: str, propagation: str | None = None) -> Any:
        body = {"propagationPolicy": propagation} if propagation else None
        return await self.request("DELETE", path, body=body)

    async def lines(
        self, path: str, params: dict[str, str], *, idle: float
    ) -> AsyncGenerator[list[str] | None, None]:
        """Lines of a streaming response as they arrive, in batches (the complete lines of
        one network read); ``None`` after every ``idle``
        seconds without data (also while waiting for the response to begin: a log follow
        of a silent container may send no headers at all), so the caller can check on the
        producer. Ends at the end of the response; close it with ``aclosing``."""
        pending = asyncio.ensure_future(self.session.get(path, params=params))
        response: aiohttp.ClientResponse | None = None
        try:
            while not pending.done():
                await asyncio.wait({pending}, timeout=idle)
                if not pending.done():
                    yield None
            response = pending.result()
            if response.status >= 400:
                raise ApiError(response.status, response.reason or "", await response.text())
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
            if buffer:
                yield [buffer.decode("utf-8", errors="replace")]
        finally:
            if not pending.done():
                pending.cancel()
            if response is not None:
                response.close()


def namespaced(namespace: str, resource: str, name: str = "", group: str = "") -> str:
    """API path of a namespaced resource, e.g. ``namespaced(ns, "jobs", "x", "batch/v1")``."""
    base = f"/apis/{group}" if group else "/api/v1"
    path = f"{base}/namespaces/{namespace}/{resource}"
    return f"{path}/{name}" if name else path
