"""Set-up of the synthesis helper process (kept free of jsii and of the spec models)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Pool initializer: the helper gets SIGKILL when ``parent`` (the synthesizing process)
    dies, even by SIGKILL, so no helper outlives an interrupted synth (Linux; elsewhere the
    pool's own shutdown still stops it)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
