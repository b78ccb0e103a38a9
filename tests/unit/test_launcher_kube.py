"""The real Kubernetes client (:class:`launcher.kube.Kube`) against a small local HTTP server
that answers as a misbehaving API server (or a proxy in front of one) could: what comes back
is an :class:`ApiError` the launcher knows how to report, and no log line is cut short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from launcher.kube import ApiError, Connection, Kube
from launcher.relay import Cursor, follow

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


@asynccontextmanager
async def api_server(handler: Handler) -> AsyncIterator[Kube]:
    """A Kube talking to ``handler`` (every path) on a loopback port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kube = Kube(Connection(server=f"http://127.0.0.1:{port}", token="t"))
    try:
        yield kube
    finally:
        await kube.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, b'{"kind": "Pod", "metadata": {"na', "application/json"),  # cut short
        (200, b"<html>gateway says hi</html>", "application/json"),  # a proxy's page
        (503, b"<html>upstream down</html>", "application/json"),
        (500, b"\xff\xfe not utf-8 at all", "text/plain"),
    ],
)
def test_an_answer_that_cannot_be_read_is_an_api_error(
    status: int, body: bytes, content_type: str
) -> None:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type)

    async def test() -> None:
        async with api_server(handler) as kube:
            with pytest.raises(ApiError) as caught:
                await kube.get("/api/v1/namespaces/ns/pods/p")
            assert caught.value.status == status
            if status < 400:
                # what a malformed success answer held (a Secret, say) is never repeated
                assert "Pod" not in str(caught.value) and "gateway" not in str(caught.value)

    run(test)


def test_a_log_stream_refused_with_a_body_that_is_not_utf_8_is_an_api_error() -> None:
    """The follow of a log read its error answer strictly: a proxy's page that is not UTF-8
    was a UnicodeDecodeError, which nothing caught."""

    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(status=502, body=b"\xff\xfe bad gateway", content_type="text/plain")

    async def test() -> None:
        async with api_server(handler) as kube:
            with pytest.raises(ApiError) as caught:
                async for _ in kube.lines("/api/v1/namespaces/ns/pods/p/log", {}, idle=1.0):
                    pass
            assert caught.value.status == 502

    run(test)


def test_a_log_stream_that_ends_mid_line_never_cuts_the_line() -> None:
    """The API server ends a follow cleanly when its connection to the kubelet breaks; the
    line being written at that moment must arrive whole after the reconnect."""
    first = "2026-01-01T00:00:00.000000001Z first line\n"
    second = "2026-01-01T00:00:00.000000002Z a long second line\n"
    follows: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        if request.query.get("follow") == "true":
            follows.append(request.query.get("sinceTime", ""))
            if len(follows) == 1:
                await response.write((first + second[:40]).encode())  # ends mid-line
            else:
                await response.write((first + second).encode())
        else:
            await response.write((first + second).encode())
        await response.write_eof()
        return response

    async def test() -> None:
        async def is_terminated() -> bool:
            return len(follows) >= 2

        async with api_server(handler) as kube:
            texts = []
            async for batch in follow(
                kube,
                "ns",
                "p",
                after=Cursor(),
                is_terminated=is_terminated,
                idle=5,
                first_backoff=0.001,
            ):
                texts += [line.text for line in batch]
        assert texts == ["first line", "a long second line"]
        assert len(follows) == 2

    run(test)
