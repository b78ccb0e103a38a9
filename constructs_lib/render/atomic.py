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

Files whose bytes are unchanged are staged as hard links to the current tree's files (see
:class:`_Current`): re-synthesizing an unchanged app creates and deletes no inodes.

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
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, cast

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
    hook = _Checkpoints()
    _refuse_foreign(out, trees)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))
    lock = os.open(staging / LOCK_FILE, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        hook("staging")
        new = os.path.join(staging, "new")
        current = {app: _Current(out / app, files) for app, files in trees.items()}
        try:
            staged: list[_Staged] = [
                (os.path.join(new, app, relative), text, current[app], relative)
                for app, files in sorted(trees.items())
                for relative, text in sorted(files.items())
            ]
            for parent in sorted({os.path.dirname(target) for target, *_ in staged}):
                os.makedirs(parent, exist_ok=True)
            if hook.target:  # the kill test steps through the files one by one
                for file in staged:
                    _stage_files([file])
                    hook(f"staged {os.path.relpath(file[0], new)}")
            else:
                _stage_files(staged)
        finally:
            for tree in current.values():
                tree.close()
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


WRITE_THREADS = 2
"""Creating a file is mostly kernel time, spent without the GIL: two threads, each writing a
contiguous share of the new files, keep both cores busy. Linking is done by one thread (it
is quicker than the thread switches two would cost)."""

_Staged = tuple[str, str, "_Current", str]
"""(staging path, text, the app's current tree, path relative to the app directory)."""


def _stage_files(files: list[_Staged]) -> None:
    """The files of the new tree: each a hard link to the current tree's file when that
    holds the same bytes, else a new file."""
    fresh = []
    for target, text, current, relative in files:
        data = text.encode("utf-8")
        if not current.link_if_same(relative, data, target):
            fresh.append((target, data))
    if len(fresh) < 256:
        _write_files(fresh)
        return
    share = -(-len(fresh) // WRITE_THREADS)
    chunks = [fresh[i : i + share] for i in range(0, len(fresh), share)]

    from concurrent.futures import ThreadPoolExecutor  # only for large trees: 7 ms to import

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        list(pool.map(_write_files, chunks))


class _Current:
    """The app directory being replaced, read only: a file of the new tree whose bytes are
    already there is staged as a hard link to it. Linking and, after the swap, unlinking
    leave the file's inode in place; creating and deleting thousands of inodes is what makes
    a rewrite of an unchanged tree slow (and its time erratic) on a journaling file system.

    Only regular files reached without following a symbolic link are linked (the link is
    checked to be the inode that was read), only when no other name links them (a hard link
    someone made elsewhere must not end up sharing the new tree's file) and when their
    permission bits are those a new file would get; anything unusual (a file system without
    hard links, a link limit) is written anew instead."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.dirs: dict[str, int] = {}
        self.mode = 0o666 & ~_umask()
        for parent in sorted({os.path.dirname(relative) for relative in files}):
            self._open_dir(root, parent)

    def _open_dir(self, root: Path, relative: str) -> int | None:
        if relative in self.dirs:
            return self.dirs[relative]
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            if not relative:
                fd = os.open(root, flags)
            else:
                parent = self._open_dir(root, os.path.dirname(relative))
                if parent is None:
                    return None
                fd = os.open(os.path.basename(relative), flags, dir_fd=parent)
        except OSError:
            return None
        self.dirs[relative] = fd
        return fd

    def link_if_same(self, relative: str, data: bytes, target: str) -> bool:
        directory = self.dirs.get(os.path.dirname(relative))
        if directory is None:
            return False
        name = os.path.basename(relative)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
        except OSError:
            return False
        try:
            found = os.fstat(fd)
            if (
                not stat.S_ISREG(found.st_mode)
                or found.st_nlink != 1
                or found.st_size != len(data)
                or stat.S_IMODE(found.st_mode) != self.mode
                or _read(fd, len(data) + 1) != data
            ):
                return False
            os.link(name, target, src_dir_fd=directory, follow_symlinks=False)
        except OSError:
            return False
        finally:
            os.close(fd)
        linked = os.lstat(target)
        if (linked.st_ino, linked.st_dev) == (found.st_ino, found.st_dev):
            return True
        os.unlink(target)  # the name was replaced since it was read: write the file instead
        return False

    def close(self) -> None:
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs.clear()


def _read(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


@cache
def _umask() -> int:
    """This process's umask: from ``/proc`` (Linux), else set and put back at once."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_files(files: list[tuple[str, bytes]]) -> None:
    """New files (target, bytes), written with plain system calls: for thousands of small
    files this is several times faster than text-mode file objects (or threads, which contend
    for the GIL)."""
    for target, content in files:
        data = memoryview(content)
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
    raw.restype = ctypes.c_long

    def syscall(*args: Any) -> int:
        typed = (kind(value) for kind, value in zip(_RENAMEAT2_ARGS, args, strict=True))
        return int(raw(ctypes.c_long(number), *typed))

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
