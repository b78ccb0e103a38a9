"""`check` takes an app whose record shows it unchanged as it is: the record synth keeps in
each app directory's marker (constructs_lib/render/record.py), and every way an app can
change — its file, a file a Python app reads, the generator, -k, --only, a hand edit of
dist/ — synthesizes it again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from constructs_lib.cli import main
from constructs_lib.render import pipeline, record
from constructs_lib.render.layout import MARKER_FILE, marker_text
from constructs_lib.render.record import AppSummary, parse_record, strip_record
from constructs_lib.render.synth import render_app
from tests.conftest import MINIMAL, doc_yaml, merge, tree_bytes

GITOPS = "repoURL: https://git.corp.test/team/deploy.git\n"
PYTHON_APP = """\
from pathlib import Path

from constructs_lib.spec import Instance


def instances() -> list[Instance]:
    namespace = Path(__file__).with_name("_namespace.txt").read_text().strip()
    return [
        Instance.model_validate(
            {
                "apiVersion": "paperclip.inc/v1alpha1",
                "kind": "Instance",
                "metadata": {"name": "py", "namespace": namespace},
                "spec": {
                    "image": {"tag": "2026.1106.0"},
                    "deployment": {"mode": "authenticated"},
                    "database": {"mode": "embedded"},
                },
            }
        )
    ]
"""


def app_yaml(name: str, namespace: str, spec: dict[str, Any] | None = None) -> str:
    document = merge(MINIMAL, {"metadata": {"name": name, "namespace": namespace}})
    return yaml.safe_dump(merge(document, {"spec": spec or {}}))


def write_apps(apps: Path) -> None:
    apps.mkdir(parents=True)
    for name in ("alpha", "beta", "gamma"):
        (apps / f"{name}.yaml").write_text(app_yaml(name, f"team-{name}"))
    (apps / "_gitops.yaml").write_text(GITOPS)


def run(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    (root / ".git").mkdir()  # the sources are named from here: a copy writes the same files
    write_apps(root / "apps")
    result = run("synth", "--apps-dir", str(root / "apps"), "--out", str(root / "dist"))
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def repo(synthesized: Path, tmp_path: Path) -> Path:
    """A private copy of the apps and of their fresh output."""
    root = tmp_path / "repo"
    shutil.copytree(synthesized, root)
    return root


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the apps synthesized (in this process) from here on."""
    names: list[str] = []

    def counting(app: Any, *arguments: Any) -> Any:
        names.append(app.name)
        return render_app(app, *arguments)

    monkeypatch.setattr(pipeline, "render_app", counting)
    return names


def check(root: Path, *extra: str) -> Result:
    return run("check", "--dist", str(root / "dist"), "--apps-dir", str(root / "apps"), *extra)


def test_a_fresh_output_passes_without_synthesizing_any_app(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*arguments: Any) -> Any:
        raise AssertionError("an unchanged app was synthesized")

    monkeypatch.setattr(pipeline, "render_app", refuse)
    result = check(repo)
    assert result.exit_code == 0, result.output
    assert "(3 app(s): 3 unchanged since their record, 0 synthesized)" in result.output


def test_check_compares_with_the_output_synth_writes_by_default(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PAPERCLIP_GITOPS_OUT names synth's output root; check compares with the same one (it
    compared with ./dist whatever the variable said)."""
    monkeypatch.setenv("PAPERCLIP_GITOPS_OUT", str(repo / "dist"))
    monkeypatch.chdir(repo.parent)  # no ./dist here
    result = run("check", "--apps-dir", str(repo / "apps"))
    assert result.exit_code == 0, result.output
    assert "3 unchanged since their record" in result.output


def test_a_changed_app_file_is_the_only_app_synthesized(repo: Path, rendered: list[str]) -> None:
    port = {"networking": {"service": {"port": 3200}}}
    (repo / "apps/beta.yaml").write_text(app_yaml("beta", "team-beta", port))
    result = check(repo)
    assert result.exit_code == 1, result.output
    assert rendered == ["beta"]
    assert "-    port: 3100" in result.output and "+    port: 3200" in result.output
    assert "dist/beta/kustomize/service-beta.yaml (committed)" in result.output
    assert "2 unchanged since their record, 1 synthesized" in result.output


def test_a_hand_edited_file_of_an_unchanged_app_is_reported(
    repo: Path, rendered: list[str]
) -> None:
    service = repo / "dist/alpha/kustomize/service-alpha.yaml"
    service.write_text(service.read_text().replace("3100", "3300"))
    result = check(repo)
    assert result.exit_code == 1, result.output
    assert rendered == ["alpha"]
    assert "-    port: 3300" in result.output and "+    port: 3100" in result.output


def test_an_unreadable_committed_file_is_reported_not_a_traceback(
    repo: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = repo / "dist/alpha/kustomize/service-alpha.yaml"
    read_bytes = Path.read_bytes

    def refusing(path: Path) -> bytes:  # what chmod 000 does to a user other than root
        if path.name == service.name:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refusing)
    result = check(repo, "--full")  # the app's own record is not read through read_bytes
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "--- dist/alpha/kustomize/service-alpha.yaml (committed)" in result.output
    assert "unreadable: Permission denied" in result.output


def test_a_deleted_or_added_file_is_reported(repo: Path, rendered: list[str]) -> None:
    (repo / "dist/alpha/kustomize/service-alpha.yaml").unlink()
    (repo / "dist/beta/helm/extra.yaml").write_text("kind: Extra\n")
    result = check(repo)
    assert result.exit_code == 1, result.output
    assert sorted(rendered) == ["alpha", "beta"]
    assert "+++ dist/alpha/kustomize/service-alpha.yaml (synthesized)" in result.output
    assert "--- dist/beta/helm/extra.yaml (committed)" in result.output


def _make_executable(repo: Path) -> str:
    path = repo / "dist/alpha/kustomize/service-alpha.yaml"
    path.chmod(0o755)
    return "dist/alpha/kustomize/service-alpha.yaml: mode 100755 (committed)"


def _link(relative: str) -> Callable[[Path], str]:
    """Replace ``relative`` (a file or an app directory) by a symbolic link to its moved copy."""

    def change(repo: Path) -> str:
        path = repo / relative.rstrip("/")
        target = repo / ("elsewhere" if relative.endswith("/") else "elsewhere.yaml")
        path.rename(target)
        path.symlink_to(target)
        return f"{relative}: a symbolic link (committed)"

    return change


_link_file = _link("dist/alpha/kustomize/service-alpha.yaml")
_link_directory = _link("dist/alpha/")


@pytest.mark.parametrize("change", [_make_executable, _link_file, _link_directory])
@pytest.mark.parametrize("full", [False, True])
def test_what_git_records_besides_the_text_is_checked(
    repo: Path, rendered: list[str], change: Callable[[Path], str], full: bool
) -> None:
    """Synth writes regular files without an execute bit in real directories (it refuses to
    replace a symbolic link): an executable file or a symbolic link with the same text is
    another commit, and check fails, also with --full (it compared the text only)."""
    expected = change(repo)
    result = check(repo, *(["--full"] if full else []))
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "alpha" in rendered
    written = run("synth", "--apps-dir", str(repo / "apps"), "--out", str(repo / "dist"))
    if change is _link_directory:  # synth refuses it: the user moves it away
        assert written.exit_code == 2, written.output
        (repo / "dist/alpha").unlink()
        written = run("synth", "--apps-dir", str(repo / "apps"), "--out", str(repo / "dist"))
    assert written.exit_code == 0, written.output
    assert check(repo).exit_code == 0


def test_a_hand_edited_record_is_never_trusted(repo: Path, rendered: list[str]) -> None:
    """The outputs digest covers the marker too: a record claiming another namespace (which
    would change dist/gitops/) makes the app synthesized, and the output is still right."""
    marker = repo / "dist/alpha" / MARKER_FILE
    marker.write_text(marker.read_text().replace('"team-alpha"', '"team-other"'))
    result = check(repo)
    assert result.exit_code == 0, result.output
    assert rendered == ["alpha"]
    assert "1 app(s) have no current record" in result.output


def test_a_changed_generator_synthesizes_every_app(
    repo: Path, rendered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "generator_digest", lambda: "sha256:another-generator")
    result = check(repo)
    assert result.exit_code == 0, result.output  # the record is a cache: no diff
    assert sorted(rendered) == ["alpha", "beta", "gamma"]
    assert "0 unchanged since their record, 3 synthesized" in result.output
    assert "3 app(s) have no current record" in result.output


def test_full_synthesizes_every_app(repo: Path, rendered: list[str]) -> None:
    result = check(repo, "--full")
    assert result.exit_code == 0, result.output
    assert sorted(rendered) == ["alpha", "beta", "gamma"]
    assert "0 unchanged since their record, 3 synthesized" in result.output
    assert "no current record" not in result.output


def test_another_kubernetes_version_synthesizes_every_app(repo: Path, rendered: list[str]) -> None:
    result = check(repo, "-k", "1.32")
    assert result.exit_code == 0, result.output
    assert sorted(rendered) == ["alpha", "beta", "gamma"]


def test_a_python_app_depends_on_every_file_of_its_directory(
    tmp_path: Path, rendered: list[str]
) -> None:
    """It may import or read any of them (here a data file): a change of any synthesizes it
    again; a YAML app depends on its own file only."""
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "py.py").write_text(PYTHON_APP)
    (apps / "_namespace.txt").write_text("team-py\n")
    (apps / "plain.yaml").write_text(app_yaml("plain", "team-plain"))
    out = tmp_path / "dist"
    assert run("synth", "--apps-dir", str(apps), "--out", str(out)).exit_code == 0
    arguments = ["check", "--dist", str(out), "--apps-dir", str(apps)]
    rendered.clear()
    (apps / "_namespace.txt").write_text("team-moved\n")
    result = run(*arguments)
    assert result.exit_code == 1, result.output
    assert rendered == ["py"]
    assert "-  namespace: team-py" in result.output
    assert "+  namespace: team-moved" in result.output
    (apps / "_namespace.txt").write_text("team-py\n")
    (apps / "plain.yaml").write_text(app_yaml("plain", "team-plain") + "# a comment\n")
    rendered.clear()
    result = run(*arguments)
    assert result.exit_code == 0, result.output
    assert rendered == ["plain", "py"]


NAMESPACE_PACKAGE_APP = """\
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from shared.names import NAMESPACE  # a namespace package: shared/ has no __init__.py

from constructs_lib.spec import Instance


def instances() -> list[Instance]:
    name = (Path(__file__).parent / "data" / "name.txt").read_text().strip()
    return [
        Instance.model_validate(
            {
                "apiVersion": "paperclip.inc/v1alpha1",
                "kind": "Instance",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "image": {"tag": "2026.1106.0"},
                    "deployment": {"mode": "authenticated"},
                    "database": {"mode": "embedded"},
                },
            }
        )
    ]
"""


@pytest.mark.parametrize(
    ("changed", "text", "shown"),
    [
        ("shared/names.py", 'NAMESPACE = "team-moved"\n', "+  namespace: team-moved"),
        ("data/name.txt", "renamed\n", "+  name: renamed"),
    ],
)
def test_a_python_app_depends_on_the_directories_below_its_own(
    tmp_path: Path, rendered: list[str], changed: str, text: str, shown: str
) -> None:
    """A module of a namespace package (a directory without __init__.py) or a data file in a
    subdirectory is read like a sibling file: a change synthesizes the app again. Output
    written below the apps directory is no input: it leaves the record current."""
    apps = tmp_path / "apps"
    (apps / "shared").mkdir(parents=True)
    (apps / "data").mkdir()
    (apps / "py.py").write_text(NAMESPACE_PACKAGE_APP)
    (apps / "shared/names.py").write_text('NAMESPACE = "team-py"\n')
    (apps / "data/name.txt").write_text("py\n")
    for out in (apps / "out", tmp_path / "dist"):
        written = run("synth", "--apps-dir", str(apps), "--out", str(out))
        assert written.exit_code == 0, written.output
        rendered.clear()
        result = run("check", "--dist", str(out), "--apps-dir", str(apps))
        assert result.exit_code == 0, result.output
        assert rendered == []
    (apps / changed).write_text(text)
    result = run("check", "--dist", str(tmp_path / "dist"), "--apps-dir", str(apps))
    assert result.exit_code == 1, result.output
    assert rendered == ["py"]
    assert shown in result.output


def test_the_gitops_tree_is_checked_from_the_records(repo: Path, rendered: list[str]) -> None:
    (repo / "apps/beta.yaml").write_text(app_yaml("beta", "team-moved"))
    result = check(repo)
    assert result.exit_code == 1, result.output
    assert rendered == ["beta"]
    # the other apps' namespaces came from their records: only beta's moved
    assert "+++ dist/gitops/flux/namespaces/namespace-team-moved.yaml" in result.output
    assert "--- dist/gitops/flux/namespaces/namespace-team-beta.yaml" in result.output
    assert "dist/gitops/flux/namespaces/namespace-team-alpha.yaml" not in result.output
    project = "dist/gitops/argocd/appproject-paperclip.yaml (committed)"
    assert project in result.output
    assert "-    namespace: team-beta" in result.output
    assert "+    namespace: team-moved" in result.output


def test_the_gitops_tree_from_records_is_the_synthesized_one(repo: Path) -> None:
    """Byte for byte: dist/gitops/ from the summaries read back equals the one synth wrote."""
    from constructs_lib.render.gitops import gitops_tree
    from constructs_lib.spec.gitops import load_config

    config = load_config(repo / "apps")
    assert config is not None
    names = ["alpha", "beta", "gamma"]
    summaries = []
    for name in names:
        found = parse_record((repo / "dist" / name / MARKER_FILE).read_bytes())
        assert found is not None
        summaries.append(found.summary)
    entry = gitops_tree(config, repo / "apps", summaries, "1.33", "dist")
    on_disk = tree_bytes(repo / "dist/gitops")
    assert {k: v.encode() for k, v in entry.files.items()} == on_disk


def test_a_deleted_app_is_reported(repo: Path, rendered: list[str]) -> None:
    (repo / "apps/beta.yaml").unlink()
    result = check(repo)
    assert result.exit_code == 1, result.output
    assert rendered == []
    assert "dist/beta/: generated directory of an app that no longer exists" in result.output
    assert "namespace-team-beta.yaml" in result.output


def test_strict_synthesizes_the_apps_that_had_warnings(tmp_path: Path, rendered: list[str]) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "mutable.yaml").write_text(doc_yaml({"image": {"tag": "latest"}}))
    (apps / "pinned.yaml").write_text(app_yaml("pinned", "team-pinned"))
    out = tmp_path / "dist"
    written = run("synth", "--apps-dir", str(apps), "--out", str(out))
    assert written.exit_code == 0, written.output
    assert "tag latest is mutable" in written.output
    found = parse_record((out / "mutable" / MARKER_FILE).read_bytes())
    assert found is not None and found.warnings == 1
    rendered.clear()
    arguments = ["check", "--dist", str(out), "--apps-dir", str(apps)]
    relaxed = run(*arguments)
    assert relaxed.exit_code == 0, relaxed.output
    assert rendered == []
    assert "1 app(s) taken from their record had warnings" in relaxed.output
    strict = run(*arguments, "--strict")
    assert strict.exit_code == 2, strict.output
    assert rendered == ["mutable"]
    assert "tag latest is mutable" in strict.output
    assert "an error with --strict" in strict.output


def test_only_some_outputs_are_not_taken_for_all(tmp_path: Path, rendered: list[str]) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "alpha.yaml").write_text(app_yaml("alpha", "team-alpha"))
    out = tmp_path / "dist"
    written = run("synth", "--apps-dir", str(apps), "--out", str(out), "--only", "kustomize")
    assert written.exit_code == 0, written.output
    rendered.clear()
    result = run("check", "--dist", str(out), "--apps-dir", str(apps))
    assert result.exit_code == 1, result.output
    assert rendered == ["alpha"]
    assert "dist/alpha/helm/Chart.yaml (synthesized)" in result.output


def test_two_synths_write_identical_records(synthesized: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    apps = synthesized / "apps"
    result = run("synth", "--apps-dir", str(apps), "--out", str(again))
    assert result.exit_code == 0, result.output
    assert tree_bytes(again) == tree_bytes(synthesized / "dist")
    for name in ("alpha", "beta", "gamma"):
        assert parse_record((again / name / MARKER_FILE).read_bytes()) is not None


# --- the record itself ---------------------------------------------------------------------


def test_the_marker_keeps_its_first_line_and_holds_the_record(synthesized: Path) -> None:
    marker = (synthesized / "dist/beta" / MARKER_FILE).read_text()
    first, *rest = marker.splitlines(keepends=True)
    assert first == marker_text(first.split(" from ", 1)[1].split(". Do not edit")[0])
    assert strip_record(marker) == first
    assert [line.split(":", 1)[0] for line in rest[1:]] == [
        "# inputs",
        "# outputs",
        "# warnings",
        "# summary",
    ]
    found = parse_record(marker.encode())
    assert found is not None
    assert found.inputs.startswith("sha256:") and found.outputs.startswith("sha256:")
    assert found.warnings == 0
    assert found.summary.name == "beta"
    assert found.summary.namespaces == ("team-beta",)
    assert ("apps", "StatefulSet", True) in found.summary.kinds


@pytest.mark.parametrize(
    "damage",
    [
        lambda m: m.replace("# summary: {", "# summary: ["),
        lambda m: m.replace("# warnings: 0", "# warnings: none"),
        lambda m: "\n".join(line for line in m.splitlines() if "inputs" not in line),
        lambda m: m.replace('"namespaces":["team-beta"]', '"namespaces":[]'),
    ],
)
def test_a_damaged_record_is_none(synthesized: Path, damage: Callable[[str], str]) -> None:
    marker = (synthesized / "dist/beta" / MARKER_FILE).read_text()
    assert parse_record(damage(marker).encode()) is None
    assert parse_record(b"\xff\xfe") is None


def test_a_summary_reads_back_as_written() -> None:
    kinds = (("", "ConfigMap", True), ("rbac", "Role", False))
    summary = AppSummary("a", ("x", "y"), kinds, ("x",), (("x", "one"), ("y", "two")))
    assert AppSummary.from_json(summary.to_json()) == summary
    assert "\n" not in summary.to_json()
