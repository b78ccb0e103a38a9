"""Write output trees atomically: stage everything, then swap each app directory in.

Every app directory is replaced in one atomic step, so a reader (Argo CD, Flux, Helm, git)
or a synth killed at any moment sees either the old or the new tree of an app, never a mix
and never a missing directory:

* an existing app directory is exchanged with its staged copy by Linux
  ``renameat2(RENAME_EXCHANGE)`` (both paths stay real directories: no symlinks in ``dist/``,
  which git, Argo CD and Helm would treat differently);
* a new app directory is renamed into place;
* the directory of a deleted app (``prune``) is renamed out of the way.

Where the exchange is unavailable (not Linux, or a file system without it) the swap falls
back to two renames with the old tree parked in the staging directory; a run killed between
them leaves the app directory missing until the next run, which puts the old tree back.

Staging directories (``<out>/.synth-<pid>-*``) are locked (``flock``) while in use; the next
run removes the ones whose writer died, after restoring any app directory they parked.
A failure before the swap leaves the output directory byte-identical.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from constructs_lib.errors import UserError
from constructs_lib.render.layout import is_generated

STAGING_PREFIX = ".synth-"
LOCK_FILE = ".lock"
KILL_AT_ENV = "PAPERCLIP_GITOPS_TEST_KILL_AT"
"""Test hook: the writer exits abruptly (``os._exit``) at the N-th checkpoint, or at the first
checkpoint whose name starts with this value."""
NO_EXCHANGE_ENV = "PAPERCLIP_GITOPS_TEST_NO_EXCHANGE"
"""Test hook: behave as if ``renameat2(RENAME_EXCHANGE)`` were unavailable."""
KILLED_EXIT = 86
"""Exit status of a writer stopped by the test hook."""
_UNLOCKED_GRACE_SECONDS = 60.0

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "riscv64": 276, "ppc64le": 357, "s390x": 347}
_STAGING_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")


def write_trees(out: Path, trees: dict[str, dict[str, str]], *, prune: bool = False) -> None:
    """Replace ``out/<app>`` for every app in ``trees``; with ``prune``, also remove generated
    app directories that are not in ``trees`` (apps that no longer exist)."""
    try:
        _write_trees(out, trees, prune)
    except OSError as exc:
        raise UserError.single(
            f"cannot write the output: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
            + ". Every app directory holds either its old or its new files.",
            path=str(out),
            fix="check free space and permissions of the output directory, then run again.",
        ) from None


def _write_trees(out: Path, trees: dict[str, dict[str, str]], prune: bool) -> None:
    hook = _Checkpoints()
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))
    lock = os.open(staging / LOCK_FILE, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        hook("staging")
        staged = [
            (app, relative, staging / "new" / app / relative, text)
            for app, files in sorted(trees.items())
            for relative, text in sorted(files.items())
        ]
        for parent in sorted({target.parent for _, _, target, _ in staged}):
            parent.mkdir(parents=True, exist_ok=True)
        if hook.target:  # the kill test steps through the files one by one
            for app, relative, target, text in staged:
                _write_file(target, text)
                hook(f"staged {app}/{relative}")
        else:
            _write_files([(target, text) for _, _, target, text in staged])
        old = staging / "old"
        old.mkdir()
        for app in sorted(trees):
            hook(f"swap {app}")
            _swap_in(staging / "new" / app, out / app, old / app, hook)
            hook(f"swapped {app}")
        if prune:
            for child in sorted(out.iterdir()):
                if child.name in trees or child.name.startswith(".") or not child.is_dir():
                    continue
                if is_generated(child):
                    hook(f"prune {child.name}")
                    os.rename(child, old / child.name)
                    hook(f"pruned {child.name}")
        hook("cleanup")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)


WRITE_THREADS = 2
"""Creating a file is mostly kernel time, spent without the GIL: two threads, each writing a
contiguous share of the files, keep both cores busy."""


def _write_files(files: list[tuple[Path, str]]) -> None:
    if len(files) < 256:
        for target, text in files:
            _write_file(target, text)
        return
    share = -(-len(files) // WRITE_THREADS)
    chunks = [files[i : i + share] for i in range(0, len(files), share)]

    def write(chunk: list[tuple[Path, str]]) -> None:
        for target, text in chunk:
            _write_file(target, text)

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        list(pool.map(write, chunks))


def _write_file(target: Path, text: str) -> None:
    """One new file, written with plain system calls: for thousands of small files this is
    several times faster than text-mode file objects (or threads, which contend for the GIL)."""
    data = memoryview(text.encode("utf-8"))
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        while data:
            data = data[os.write(handle, data) :]
    finally:
        os.close(handle)


def _swap_in(new: Path, current: Path, parking: Path, hook: _Checkpoints) -> None:
    """Put ``new`` at ``current`` in one atomic step when possible."""
    if not os.path.lexists(current):
        os.rename(new, current)
        return
    if exchange(new, current):
        return
    os.rename(current, parking)
    hook(f"between renames {current.name}")
    os.rename(new, current)


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with ``renameat2(RENAME_EXCHANGE)``; False when the system
    or file system does not support it (nothing changed then)."""
    if sys.platform != "linux" or os.environ.get(NO_EXCHANGE_ENV):
        return False
    call = _renameat2()
    if call is None:
        return False
    result = call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


_Rename = Callable[[int, bytes, int, bytes, int], int]


@cache
def _renameat2() -> _Rename | None:
    """The libc ``renameat2``, or a raw syscall where libc lacks it (resolved once)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, "renameat2"):
        function = libc.renameat2
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        ]
        function.restype = ctypes.c_int

        def call(olddir: int, old: bytes, newdir: int, new: bytes, flags: int) -> int:
            return int(function(olddir, old, newdir, new, flags))

        return call
    number = _SYS_RENAMEAT2.get(platform.machine())
    if number is None:
        return None
    raw = libc.syscall
    raw.restype = ctypes.c_long

    def syscall(olddir: int, old: bytes, newdir: int, new: bytes, flags: int) -> int:
        return int(
            raw(
                ctypes.c_long(number),
                ctypes.c_int(olddir),
                ctypes.c_char_p(old),
                ctypes.c_int(newdir),
                ctypes.c_char_p(new),
                ctypes.c_uint(flags),
            )
        )

    return syscall


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove staging directories left by writers that died; an app directory one of them
    had parked (the two-rename fallback) is put back first. Returns the removed paths."""
    removed = []
    try:
        candidates = sorted(p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX))
    except OSError:
        return []
    for staging in candidates:
        if not staging.is_dir() or staging.is_symlink() or _in_use(staging):
            continue
        parked = staging / "old"
        if parked.is_dir():
            for tree in sorted(parked.iterdir()):
                if not os.path.lexists(out / tree.name):
                    with contextlib.suppress(OSError):
                        os.rename(tree, out / tree.name)
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    return removed


def _in_use(staging: Path) -> bool:
    """Whether a live writer holds the staging directory."""
    try:
        fd = os.open(staging / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        # No lock yet: a writer between mkdtemp and creating the lock, or one that died there.
        match = _STAGING_NAME.match(staging.name)
        if match and not _pid_alive(int(match.group(1))):
            return False
        try:
            age = time.time() - staging.stat().st_mtime
        except OSError:
            return True
        return age < _UNLOCKED_GRACE_SECONDS
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Checkpoints:
    """The test hook: exit abruptly at a numbered or named step (see KILL_AT_ENV)."""

    def __init__(self) -> None:
        self.target = os.environ.get(KILL_AT_ENV, "")
        self.count = 0

    def __call__(self, step: str) -> None:
        if not self.target:
            return
        self.count += 1
        if self.target == str(self.count) or (
            not self.target.isdigit() and step.startswith(self.target)
        ):
            os._exit(KILLED_EXIT)


__all__ = ["clean_stale_staging", "exchange", "is_generated", "write_trees"]
