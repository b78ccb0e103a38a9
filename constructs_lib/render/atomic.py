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
import itertools
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import cache, partial
from pathlib import Path
from typing import cast

from constructs_lib.errors import Problem, UserError
from constructs_lib.render.layout import MARKER_FILE, is_generated, stale_app_dirs

STAGING_PREFIX = ".synth-"
LOCK_FILE = ".lock"
KILL_AT_ENV = "PAPERCLIP_GITOPS_TEST_KILL_AT"
"""Test hook: the writer exits abruptly (``os._exit``) at the N-th checkpoint, or at the first
checkpoint whose name starts with this value."""
NO_EXCHANGE_ENV = "PAPERCLIP_GITOPS_TEST_NO_EXCHANGE"
"""Test hook: behave as if ``renameat2(RENAME_EXCHANGE)`` were unavailable."""
INTERRUPT_AT_ENV = "PAPERCLIP_GITOPS_TEST_INTERRUPT_AT"
"""Test hook of the command line: ``exit`` sends the process a SIGINT just before its exit
handlers run (after the output was written)."""
KILLED_EXIT = 86
"""Exit status of a writer stopped by the test hook."""
_UNLOCKED_GRACE_SECONDS = 60.0

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "riscv64": 276, "ppc64le": 357, "s390x": 347}
_STAGING_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")


_WRITTEN: list[Path] = []
"""The output roots this process has written completely (see :func:`output_written`)."""


def output_written() -> bool:
    """Whether this process has written an output tree completely (an interrupt after that
    changes nothing: the command line then ignores it)."""
    return bool(_WRITTEN)


def write_trees(out: Path, trees: dict[str, dict[str, str]], *, prune: bool = False) -> None:
    """Replace ``out/<app>`` for every app in ``trees``; with ``prune``, also remove generated
    app directories that are not in ``trees`` (apps that no longer exist)."""
    try:
        _write_trees(out, trees, prune)
        _WRITTEN.append(out)
    except OSError as exc:
        raise UserError.single(
            f"cannot write the output: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
            + ". Every app directory holds either its old or its new files.",
            path=str(out),
            fix="check free space and permissions of the output directory, then run again.",
        ) from None


def _write_trees(out: Path, trees: dict[str, dict[str, str]], prune: bool) -> None:
    hook = _checkpoints()
    _refuse_foreign(out, trees)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))
    lock = os.open(staging / LOCK_FILE, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        hook("staging")
        new = os.path.join(staging, "new")
        staged = {
            os.path.join(app, relative): text
            for app, files in sorted(trees.items())
            for relative, text in sorted(files.items())
        }
        for parent in sorted({os.path.dirname(name) for name in staged}):
            os.makedirs(os.path.join(new, parent), exist_ok=True)
        for name, text in staged.items():
            _write_file(os.path.join(new, name), text.encode("utf-8"))
            hook(f"staged {name}")
        old = staging / "old"
        old.mkdir()
        for app in sorted(trees):
            hook(f"swap {app}")
            _refuse_foreign(out, [app])  # again, just before: it may have appeared since
            _swap_in(staging / "new" / app, out / app, old / app, hook)
            hook(f"swapped {app}")
        if prune:
            for child in stale_app_dirs(out, set(trees)):
                if not child.name.startswith("."):
                    hook(f"prune {child.name}")
                    os.rename(child, old / child.name)
                    hook(f"pruned {child.name}")
        hook("cleanup")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)


def foreign_reason(app_dir: Path) -> str | None:
    """Why ``app_dir`` must not be replaced by a generated tree (it holds something this tool
    did not write), or None: it does not exist, is empty, or was generated."""
    if not os.path.lexists(app_dir):
        return None
    if os.path.islink(app_dir):
        return "a symbolic link"
    if not os.path.isdir(app_dir):
        return "a file"
    if is_generated(app_dir):
        return None
    try:
        with os.scandir(app_dir) as entries:
            if next(entries, None) is None:
                return None
    except OSError as exc:
        return f"a directory that cannot be read ({exc.strerror})"
    return "a directory without the generated-tree marker"


def _refuse_foreign(out: Path, apps: Iterable[str]) -> None:
    """Refuse (before anything is written) to replace an app directory this tool did not
    write: the swap would move its files away for good."""
    found = [(out / app, why) for app in sorted(apps) if (why := foreign_reason(out / app))]
    if found:
        raise UserError(
            Problem(
                f"{path} exists and was not written by paperclip-gitops ({why}, no "
                f"{MARKER_FILE} file in it); synth replaces only the directories it generated.",
                fix="choose another --out, rename the app file, or move that path away.",
            )
            for path, why in found
        )


def _write_file(target: str, content: bytes) -> None:
    """A new file, written with plain system calls: for thousands of small files this is
    several times faster than text-mode file objects."""
    data = memoryview(content)
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        while data:
            data = data[os.write(handle, data) :]
    finally:
        os.close(handle)


def _swap_in(new: Path, current: Path, parking: Path, hook: Callable[[str], None]) -> None:
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
_RENAMEAT2_ARGS = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
"""The C types of renameat2's arguments (olddirfd, oldpath, newdirfd, newpath, flags)."""


@cache
def _renameat2() -> _Rename | None:
    """The libc ``renameat2``, or a raw syscall where libc lacks it (resolved once)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, "renameat2"):
        function = libc.renameat2
        function.argtypes = _RENAMEAT2_ARGS
        function.restype = ctypes.c_int
        return cast(_Rename, function)
    number = _SYS_RENAMEAT2.get(platform.machine())
    if number is None:
        return None
    raw = libc.syscall
    raw.argtypes = (ctypes.c_long, *_RENAMEAT2_ARGS)
    raw.restype = ctypes.c_long
    return cast(_Rename, partial(raw, number))


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
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
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
    except OSError:  # the lock is held, or cannot be read
        return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _checkpoints() -> Callable[[str], None]:
    """The test hook: a function of each step that exits abruptly at a numbered or named one
    (see KILL_AT_ENV)."""
    target = os.environ.get(KILL_AT_ENV, "")
    steps = itertools.count(1)

    def checkpoint(step: str) -> None:
        named = not target.isdigit() and step.startswith(target)
        if target and (target == str(next(steps)) or named):
            os._exit(KILLED_EXIT)

    return checkpoint


__all__ = ["clean_stale_staging", "exchange", "is_generated", "write_trees"]
