"""Child processes that end with the process that started them (no dependencies: the spec
loader's app process uses it)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, code: int = 1) -> None:
    """In a child of ``parent`` (call it first thing): end when ``parent`` ends, however it
    ends — SIGKILL too — so nothing the child runs (an app that loops forever) can
    outlive it. Linux: the kernel sends SIGKILL at the death of the parent's forking thread
    (``PR_SET_PDEATHSIG``; fork from the main thread); elsewhere a daemon thread watches the
    parent id. If ``parent`` died before this ran, exit with ``code`` at once."""
    armed = False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if os.getppid() != parent:
        os._exit(code)
    if not armed:
        threading.Thread(target=_watch, args=(parent, code), daemon=True).start()


def _watch(parent: int, code: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(code)
