"""Child processes of the test harnesses (control plane, Flux, Paperclip): where their built
tools are, children that die with the test process, and stopping process groups."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def built_dir(env_var: str, script: Path, what: str, error: type[Exception]) -> Path:
    """``$env_var`` (set by `make test`), else the directory ``script`` prints last (the
    scripts build or install idempotently into a cache); ``error`` with the script's stderr
    when it fails."""
    configured = os.environ.get(env_var)
    if configured:
        return Path(configured)
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise error(
            f"{what} failed ({script.parent.name}/{script.name} exited {result.returncode}):\n"
            + result.stderr[-4000:]
        )
    return Path(result.stdout.strip().splitlines()[-1])


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``signum`` when the test process dies, even if it is
    killed before it can clean up (Linux PR_SET_PDEATHSIG), so no child outlives its session."""

    def arm() -> None:  # pragma: no cover - runs in the child
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)

    return arm


def stop_process_groups(processes: dict[str, subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM (then SIGKILL after 15 s) each process group, last started first; empties
    ``processes`` and returns the pids that were stopped."""
    pids = []
    for name in reversed(list(processes)):
        process = processes[name]
        pids.append(process.pid)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
    processes.clear()
    return pids
