"""`make test`'s runner (tests/run_suite.py): its test phases together run every test once,
steps wait for what they need, and the report says what each step did."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from tests import run_suite
from tests.run_suite import CLUSTER_GROUPS, GROUP_SETUP, UNIT_MARKERS, Step, Suite

MARKERS = ("k8s", "flux", "paperclip", "argocd")


@pytest.mark.parametrize(
    "marked",
    [set(c) for n in range(len(MARKERS) + 1) for c in itertools.combinations(MARKERS, n)],
)
def test_every_test_is_in_exactly_one_phase(marked: set[str]) -> None:
    def has(name: str, /, **kwargs: str | int | bool | None) -> bool:
        return name in marked

    phases = [UNIT_MARKERS, *(markers for _, markers in CLUSTER_GROUPS)]
    chosen = [p for p in phases if Expression.compile(p).evaluate(has)]
    assert len(chosen) == 1, (marked, chosen)


def test_the_phases_are_the_steps_the_suite_runs() -> None:
    steps = {s.name: s for s in run_suite.steps("2", [])}
    pytest_steps = [s for s in steps.values() if s.pytest]
    assert len(pytest_steps) == 1 + len(CLUSTER_GROUPS)
    for step in pytest_steps:
        assert "setup venv" in step.needs
    cluster = [s for s in pytest_steps if s.name.startswith("cluster tests")]
    for step in cluster:
        assert {"setup go-binaries", "setup paperclip-server"} <= set(step.needs)
    # Argo CD's build is needed by its own group only: the others do not wait for it
    [argocd] = [s for s in cluster if s.name == "cluster tests (Argo CD)"]
    assert "setup argocd" in argocd.needs
    assert argocd.env_from_stamps["PAPERCLIP_ARGOCD_DIR"] == ".argocd-dir"
    assert [s.name for s in cluster if "setup argocd" in s.needs] == [argocd.name]
    assert set(GROUP_SETUP) <= {label for label, _ in CLUSTER_GROUPS}
    for step in steps.values():
        assert set(step.needs) <= set(steps), step.name


def test_a_failed_step_skips_what_needs_it_and_fails_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run_suite, "LOGS", tmp_path)
    monkeypatch.setattr(run_suite, "REPO", Path("/"))
    suite = Suite(
        [
            Step("setup a", ["sh", "-c", "echo '[x] cached: a'"]),
            Step("setup b", ["sh", "-c", "echo broken; exit 3"]),
            Step("after a", ["true"], needs=("setup a",)),
            Step("after b", ["true"], needs=("setup b",)),
        ]
    )
    assert suite.run() is False
    suite.report(False)
    out = capsys.readouterr().out
    steps = suite.steps
    assert steps["setup a"].what() == "cached"
    assert steps["after a"].ok
    assert steps["setup b"].returncode == 3
    assert steps["after b"].started is None
    assert steps["after b"].skipped == "not run: setup b failed"
    assert "broken" in out  # the failed step's log is shown
    assert "FAILED" in out.splitlines()[-1]


def test_a_pytest_step_reports_its_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_suite, "LOGS", tmp_path)
    step = Step("tests", ["true"], pytest=True)
    step.log.write_text(
        "tests/a.py ....                                   [ 50%]\n"
        "tests/b.py ....                                   [100%]\n"
        "========== 8 passed, 2 deselected in 1.50s ==========\n"
    )
    assert step.what() == "8 passed, 2 deselected in 1.50s"
    assert step.progress() == " 100%"


def test_a_build_step_reports_what_it_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_suite, "LOGS", tmp_path)
    step = Step("setup argocd", ["true"])
    step.log.write_text(
        "[argocd] modules resolved in 5s\n[argocd] compiled in 319s\n"
        "[argocd] kustomize compiled in 11s\n/cache/argocd\n"
    )
    assert step.what() == (
        "built: modules resolved in 5s, compiled in 319s, kustomize compiled in 11s"
    )
    step.log.write_text("[argocd] cached: argocd=v3.6.2\n/cache/argocd\n")
    assert step.what() == "cached"
