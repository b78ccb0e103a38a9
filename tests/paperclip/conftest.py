"""Fixtures for the tests that run the real Paperclip server. If it cannot be installed or
started they fail with its log; they are never skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paperclip.server import (
    QUIET_ENV,
    LocalPostgres,
    PaperclipError,
    PaperclipServer,
    Runner,
    install_dir,
)


@pytest.fixture(scope="session")
def paperclip_runner() -> Iterator[Runner]:
    """The installed server (installed now if `make test` did not) and how to run it."""
    failure = ""
    try:
        runner = Runner.create(install_dir())
    except PaperclipError as exc:
        failure = str(exc)
    if failure:
        pytest.fail(f"the Paperclip server is unavailable: {failure}", pytrace=False)
    yield runner
    runner.cleanup()


def local_trusted_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """The smallest environment of a loopback local_trusted test server."""
    return {
        "PAPERCLIP_HOME": str(home),
        "PAPERCLIP_INSTANCE_ID": "test",
        "PAPERCLIP_CONFIG": str(home / "instances/test/config.json"),
        "PAPERCLIP_DEPLOYMENT_MODE": "local_trusted",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SERVE_UI": "false",
        "PAPERCLIP_AGENT_JWT_SECRET": "test-agent-jwt-secret-not-a-real-one",
        **QUIET_ENV,
        **extra,
    }


def start_server(
    runner: Runner, name: str, env: dict[str, str], port: int, **kwargs: Any
) -> PaperclipServer:
    """A healthy server, or the test fails with the server's log."""
    server = PaperclipServer(runner, runner.workdir(name), env, port, **kwargs)
    failure = ""
    try:
        server.start()
    except PaperclipError as exc:
        failure = str(exc)
    if failure:
        pytest.fail(failure, pytrace=False)
    return server


@pytest.fixture
def local_postgres(paperclip_runner: Runner) -> Iterator[LocalPostgres]:
    database = LocalPostgres(paperclip_runner, paperclip_runner.workdir("postgres"))
    failure = ""
    try:
        database.start()
    except PaperclipError as exc:
        failure = str(exc)
    if failure:
        database.stop()
        pytest.fail(failure, pytrace=False)
    yield database
    database.stop()


StartServer = Callable[..., PaperclipServer]
