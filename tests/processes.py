"""Child processes of the test harnesses (control plane, Flux, Paperclip): where their built
tools are, children that die with the test process, and stopping process groups."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

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


def tool_path(env_var: str, script: Path) -> str:
    """A tool's path: ``$env_var`` (set by `make test`), else what its install script (run
    now; idempotent, cached) prints last."""
    configured = os.environ.get(env_var)
    if configured:
        return configured
    out = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


class Supervised:
    """Long-running children of one harness (the control plane, Flux, Argo CD): each logs to
    ``root/<name>.log``, runs in its own process group that dies with the test process, and is
    waited for until a readiness check passes — failing early, with its log, when any of them
    exits. Subclasses are dataclasses with these three fields and set ``error``."""

    root: Path
    processes: dict[str, subprocess.Popen[bytes]]
    timings: dict[str, float]
    error: type[Exception] = RuntimeError

    def spawn(
        self, name: str, command: list[str], cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            command,
            preexec_fn=die_with_parent(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
            env=env,
        )
        log.close()

    def log(self, name: str, lines: int = 60) -> str:
        """The last ``lines`` lines of one child's log."""
        path = self.root / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, name: str, timeout: float, ready: Callable[[], bool]) -> None:
        """Until ``ready()`` is true (an exception counts as not yet); records the time it
        took in ``timings['<name>_ready_s']``."""
        begin = time.monotonic()
        while time.monotonic() < begin + timeout:
            for proc_name, process in self.processes.items():
                if process.poll() is not None:
                    raise self.error(
                        f"{proc_name} exited with status {process.returncode} while waiting "
                        f"for {name}; last log lines:\n{self.log(proc_name)}"
                    )
            with contextlib.suppress(Exception):
                if ready():
                    self.timings[f"{name}_ready_s"] = time.monotonic() - begin
                    return
            time.sleep(0.2)
        raise self.error(f"{name} was not ready within {timeout:.0f}s; log:\n{self.log(name)}")

    def start(self, timeout: float = 120.0) -> Self:
        """Start every child and wait until each is ready (:meth:`_launch`); on any failure
        stop what was started. Records ``timings['start_s']``."""
        begin = time.monotonic()
        try:
            self._launch(timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["start_s"] = time.monotonic() - begin
        return self

    def _launch(self, timeout: float) -> None:
        raise NotImplementedError

    def stop(self) -> list[int]:
        """Stop every child (reverse order); returns the pids that were stopped."""
        return stop_process_groups(self.processes)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 (a readiness check for :meth:`Supervised.wait_ready`)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as response:
        return int(response.status) == 200
