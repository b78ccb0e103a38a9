"""Python apps: ``instances()`` runs in a forked child process with a time limit. The app can
neither exit the generator nor patch it: any exit, exception or output of the app is an error
naming the app, and the instances come back as plain data that the parent validates again (so
a model changed with ``model_copy(update=...)`` or built with ``model_construct`` is checked
too)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from constructs_lib.errors import Problem, UserError
from constructs_lib.lifetime import die_with_parent
from constructs_lib.spec.instance import Instance
from constructs_lib.spec.instance_errors import Check, parse_all, problems_from, short_text
from constructs_lib.spec.yaml_safety import exception_text

APP_TIMEOUT_ENV = "PAPERCLIP_GITOPS_APP_TIMEOUT"
DEFAULT_APP_TIMEOUT = 30.0
"""Seconds a Python app may take to import and return its instances."""
_MAX_RESULT_BYTES = 64 * 1024 * 1024


# --- Python apps ------------------------------------------------------------------------


def app_timeout() -> float:
    """Seconds a Python app may run: $PAPERCLIP_GITOPS_APP_TIMEOUT, default 30."""
    raw = os.environ.get(APP_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_APP_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise UserError.single(
            f"{raw!r} is not a number of seconds between 0 and 3600.",
            path=APP_TIMEOUT_ENV,
            fix=f"set it to e.g. {DEFAULT_APP_TIMEOUT:g}, or unset it.",
        )
    return value


def load_python(path: Path, timeout: float, checks: Sequence[Check] = ()) -> list[Instance]:
    """Run the app in a child process; validate what it returns in this one."""
    result = _run_app_child(path, timeout)
    file = str(path)
    if "problems" in result:
        fields = ("message", "path", "fix", "file")
        raise UserError(
            Problem(*(str(p.get(f, "")) for f in fields)).located(file=file)
            for p in result["problems"]
        )
    documents = result.get("instances")
    if not isinstance(documents, list):
        raise UserError.single("returned no result.", file=file)
    return parse_all(documents, file, checks)


def _run_app_child(path: Path, timeout: float) -> dict[str, Any]:
    """Fork, run the app in the child, and read its JSON answer within ``timeout`` seconds."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child never returns from here
        os.close(read_end)
        die_with_parent(parent, code=70)  # an app that loops forever dies with the synth
        _child_main(path, write_end)
    os.close(write_end)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whichever runs first
    received = bytearray()
    deadline = time.monotonic() + timeout
    finished = False
    try:  # read until end of file, the deadline or too much data
        while len(received) <= _MAX_RESULT_BYTES and (remaining := deadline - time.monotonic()) > 0:
            if not select.select([read_end], [], [], remaining)[0]:
                break
            if not (data := os.read(read_end, 1 << 16)):
                finished = _exited(pid, deadline)  # end of file, and the child has exited
                break
            received += data
    finally:
        os.close(read_end)
        status = _kill_and_reap(pid)
    file = str(path)
    if len(received) > _MAX_RESULT_BYTES:
        raise UserError.single(
            f"returned more than {_MAX_RESULT_BYTES} bytes of instances.", file=file
        )
    if not finished:
        raise UserError.single(
            f"did not finish within {timeout:g} seconds and was stopped (it hangs, or waits "
            "for input).",
            file=file,
            fix="make instances() return quickly and not wait for input, network or locks; "
            f"raise the limit with {APP_TIMEOUT_ENV}=SECONDS if it is just slow.",
        )
    try:
        answer = json.loads(received)
    except ValueError:  # nothing, or not JSON
        answer = None
    if not isinstance(answer, dict):
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        raise UserError.single(
            f"{how} before returning its instances (os._exit, a crash, or a signal).",
            file=file,
            fix="let the module import and instances() return normally; an app must not exit.",
        )
    return answer


def _exited(pid: int, deadline: float) -> bool:
    """Whether the child has exited by the deadline (it is not reaped here)."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    while True:
        try:
            if os.waitid(os.P_PID, pid, flags) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


def _kill_and_reap(pid: int) -> int:
    """Kill the child's process group (anything the app started) while the child's pid is
    still reserved (not reaped), then reap it: its exit status, negative for a signal."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(status)


def _child_main(path: Path, write_end: int) -> NoReturn:
    """In the forked child: run the app with every output captured, answer in JSON, exit."""
    code = 0
    try:
        os.setpgid(0, 0)
        # Drop inherited descriptors (the parent's pipes, sockets, ...).
        os.closerange(3, write_end)
        os.closerange(write_end + 1, 1 << 16)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        captured = tempfile.TemporaryFile()  # noqa: SIM115 - lives until os._exit
        os.dup2(captured.fileno(), 1)
        os.dup2(captured.fileno(), 2)
        answer = _run_app(path, captured)
        with open(write_end, "wb") as pipe:  # writes it all, however much the pipe takes
            pipe.write(json.dumps(answer, allow_nan=True).encode())
    except BaseException:
        code = 70
    os._exit(code)


def _run_app(path: Path, captured: Any) -> dict[str, Any]:
    """Run the app; its answer, with an extra problem when it wrote any output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr, sys.stdin = stdout, stderr, io.StringIO()
    answer = _app_answer(path)
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    captured.seek(0)
    output = stdout.getvalue() + stderr.getvalue()
    output += captured.read(4096).decode("utf-8", errors="replace")
    if not output:
        return answer
    printed = Problem(
        f"wrote to stdout or stderr while it ran: {short_text(output)}; an app must not print "
        "(its output would mix with the generator's).",
        fix="remove the print/log calls (or raise an exception to report a problem).",
        file=str(path),
    )
    return {"problems": [*answer.get("problems", []), asdict(printed)]}


def _app_answer(path: Path) -> dict[str, Any]:
    """The child's answer: the app's instances, or its problems (plain data: the parent reads
    it as JSON)."""
    file = str(path)
    try:
        return {"instances": _call_app(path)}
    except SystemExit as exc:
        problems = [
            Problem(
                f"called sys.exit({short_text(exc.code)}){_user_line(exc, path)}; an app must not "
                "exit (it would end synth, check or validate without doing their work).",
                fix="return the instances from instances() and raise no SystemExit.",
                file=file,
            )
        ]
    except UserError as exc:
        problems = exc.problems
    except ValidationError as exc:
        where = f"{file}{_user_line(exc, path)}"
        problems = [p.located(file=where) for p in problems_from(exc, _model_named(exc.title))]
    except BaseException as exc:  # anything the app raises is its error
        problems = [
            Problem(
                f"raised {type(exc).__name__}{_user_line(exc, path)}: {exception_text(exc)}",
                fix="correct the app module.",
                file=file,
            )
        ]
    return {"problems": [asdict(p) for p in problems]}


def _call_app(path: Path) -> list[dict[str, Any]]:
    module_name = f"paperclip_app_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError.single("cannot be loaded as a Python module.", file=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    factory = getattr(module, "instances", None)
    if not callable(factory):
        raise UserError.single(
            "defines no instances() function.",
            file=str(path),
            fix="add 'def instances() -> list[Instance]:' returning the app's instances.",
        )
    result = _returned_list(factory(), str(path))
    if bad := sorted({type(item).__name__ for item in result if not isinstance(item, Instance)}):
        raise UserError.single(
            f"instances() returned {', '.join(bad)} objects.",
            file=str(path),
            fix="return constructs_lib.spec.Instance objects.",
        )
    if not result:
        raise UserError.single("instances() returned no instances.", file=str(path))
    documents = []
    for index, item in enumerate(result):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = item.model_dump(by_alias=True, mode="json", exclude_none=True)
            json.dumps(data)
        except Exception as exc:
            raise UserError.single(
                f"instances()[{index}] cannot be read back as data: {exception_text(exc)}",
                file=str(path),
                fix="build instances with the spec classes' constructors, not model_construct.",
            ) from None
        documents.append(data)
    return documents


def _returned_list(returned: Any, file: str) -> list[Any]:
    """What instances() returned as a list; refused when it is not a list (or another
    iterable) of items: an Instance alone (a model iterates as its fields), a mapping or a
    string (iterated as keys or characters), None or a number."""
    if isinstance(returned, Instance):
        raise UserError.single(
            "instances() returned an Instance, not a list of them.",
            file=file,
            fix="return a list: [instance].",
        )
    if isinstance(returned, str | bytes | Mapping | BaseModel) or not isinstance(
        returned, Iterable
    ):
        name = type(returned).__name__
        what = "None" if returned is None else f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"
        raise UserError.single(
            f"instances() returned {what}, not a list of Instance objects.",
            file=file,
            fix="return a list of constructs_lib.spec.Instance objects.",
        )
    return list(returned)


def _user_line(exc: BaseException, path: Path) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return f" (line {lines[-1]})" if lines else ""


def _model_named(title: str) -> type[BaseModel]:
    from constructs_lib.spec import data, instance, platform, server

    for module in (instance, platform, server, data):
        found = getattr(module, title, None)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return Instance
