"""Figures for the real Paperclip server the e2e tests run: install time and size (recorded
by install.sh), cold start (fresh data directory: embedded PostgreSQL initdb and every
migration) and warm restart to a healthy /api/health, memory of the server with its
PostgreSQL, and SIGTERM-to-exit time.

    .venv/bin/python -m tests.paperclip.bench
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.controlplane.cluster import free_port
from tests.paperclip.conftest import local_trusted_env
from tests.paperclip.server import PaperclipServer, Runner, install_dir, install_info, stop_group


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the process group, in MB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def main() -> None:
    runner = Runner.create(install_dir())
    try:
        info = install_info(runner.install)
        print(
            f"install: @paperclipai/server {info.get('server', '?')} on Node "
            f"{info.get('node', '?')}: {info.get('seconds', '?')} s, "
            f"{info.get('megabytes', '?')} MB ({runner.install})"
        )
        workdir = runner.workdir("bench")
        home = runner.own(workdir / "home")
        port = free_port()
        server = PaperclipServer(runner, workdir, local_trusted_env(home, port), port)
        server.start()
        print(f"cold start (initdb + migrations) to healthy: {server.started_seconds:.1f} s")
        assert server.process is not None
        print(f"RSS, server and its PostgreSQL: {group_rss_mb(server.process.pid):.0f} MB")
        began = time.monotonic()
        stop_group(server.process)
        print(f"SIGTERM to exit (server and PostgreSQL): {time.monotonic() - began:.1f} s")
        server.start()
        print(f"warm restart to healthy: {server.started_seconds:.1f} s")
        server.stop()
    finally:
        runner.cleanup()


if __name__ == "__main__":
    main()
