"""`paperclip-gitops import`: an exported `kind: List` (a file or stdin) becomes an app file
that synth takes; what the cluster added is gone, each fix and decision is reported with its
reason on stderr and above its document; what needs a person fails naming the choice and the
option, every problem of every document in one run; no credential of the input reaches the
app file or the output; an existing app file is replaced only with --force."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from constructs_lib.cli import main
from constructs_lib.errors import UserError
from constructs_lib.importer import redact
from constructs_lib.importer.decisions import DECISIONS
from constructs_lib.importer.fixes import ENV_TO_SECRET, FIXES
from constructs_lib.importer.model import Document, put
from constructs_lib.importer.overrides import parse_set
from constructs_lib.importer.redact import shown
from constructs_lib.spec import env_rules
from constructs_lib.spec.instance_errors import _shown_input
from tests.conftest import REPO, docs_text

EXPORT = REPO / "tests" / "operator_export" / "instances.yaml"
SECRETS = (
    "S3cr3t-Pa55w0rd",  # spec.database.externalURL
    "Pa55-in-the-annotation",  # the last-applied annotation
    "tok-0123456789-abcdefghij",  # env WEBHOOK_TOKEN
    "An4lytics-Pa55",  # a URL with a password in env ANALYTICS_URL
)
DECISIONS_FOR_TEAM_A = [
    "--set",
    "team-a:spec.objectStorage={provider: s3, bucket: team-a-files}",
    "--set",
    "team-a:spec.storage.persistence.enabled=false",
    "--set",
    "team-a:spec.resources.requests={cpu: 500m, memory: 1Gi}",
]
# team-a auto-updates the image team-b runs too: in one app, without image automation
ONE_APP = [*DECISIONS_FOR_TEAM_A, "--set", "team-a:spec.image.autoUpdate.enabled=false"]


def run(*args: str, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(main, ["import", *args], input=stdin)
    assert "Traceback" not in result.output, result.output
    return result


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_an_exported_list_fails_naming_every_choice_in_one_run(tmp_path: Path) -> None:
    out = tmp_path / "apps" / "team.yaml"
    result = run(str(EXPORT), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert not out.exists()
    problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(problems) == 4, result.output
    for decision, option in (
        ("image-automation-app", "--instance team-a --out apps/team-a.yaml"),
        ("data-volume-sharing", "--set 'team-a:spec.storage.persistence={accessModes:"),
        ("file-storage-bucket", "--set 'team-a:spec.objectStorage={provider: s3"),
        ("resource-requests", "--set 'team-a:spec.resources.requests={cpu: 500m"),
    ):
        [line] = [p for p in problems if f"needs your decision ({decision})" in p]
        assert "instances.yaml, document 1 items[0] (team-a): spec." in line
        assert option in line, line
    assert "Nothing was written." in result.output


def test_an_exported_list_imports_with_its_decisions_and_synthesizes(tmp_path: Path) -> None:
    out = tmp_path / "apps" / "team.yaml"
    result = run(str(EXPORT), "--out", str(out), *ONE_APP)
    assert result.exit_code == 0, result.output
    [team_a, team_b] = documents(out)
    # what the cluster added is gone; what the user wrote stays
    for document in (team_a, team_b):
        assert set(document) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(document["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    assert team_a["metadata"]["annotations"] == {"team.example.com/owner": "platform"}
    assert team_a["metadata"]["labels"] == {"team": "a"}
    assert "annotations" not in team_b["metadata"]
    spec = team_a["spec"]
    # the fixes
    assert spec["image"]["digest"] == (
        "sha256:4f5e6d7c8b9a00112233445566778899aabbccddeeff00112233445566778899"
    )
    assert "plugins" not in spec
    assert spec["database"] == {
        "mode": "external",
        "externalURLSecretRef": {"name": "team-a-database-url", "key": "DATABASE_URL"},
    }
    assert spec["env"] == [
        {
            "name": "WEBHOOK_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "team-a-env", "key": "WEBHOOK_TOKEN"}},
        },
        {
            "name": "ANALYTICS_URL",
            "valueFrom": {"secretKeyRef": {"name": "team-a-env", "key": "ANALYTICS_URL"}},
        },
        {"name": "LOG_FORMAT", "value": "json"},
    ]
    assert spec["extraVolumeMounts"][0] == {
        "name": "paperclip-data",
        "mountPath": "/paperclip/extra",
    }
    assert spec["heartbeat"] == {"schedulerGating": "lease"}
    assert spec["auth"]["secretRef"] == {"name": "team-a-auth", "key": "BETTER_AUTH_SECRET"}
    # the decisions
    assert spec["objectStorage"] == {"provider": "s3", "bucket": "team-a-files"}
    assert spec["image"]["autoUpdate"] == {"enabled": False, "interval": "10m"}
    assert team_b["spec"] == {
        "image": {"tag": "2026.1106.0"},
        "database": {"mode": "managed", "managed": {"storageSize": "20Gi"}},
    }
    # each change and why, on stderr and above its document
    text = out.read_text()
    report = result.output
    expected = {
        "cluster-fields",
        "--set",
        "image-digest-from-status",
        "plugins-dropped",
        "database-url-to-secret",
        "env-literal-to-secret",
        "data-volume-name",
        "scheduler-gating-lease",
        "auth-secret",
    }
    for where in (report, text):
        assert expected <= set(re.findall(r"- \[([a-z-]+)\]", where)), where
        assert "removed @paperclip/analytics 1.2.0" not in where  # the count comes first
        assert "removed 1 plugin(s): @paperclip/analytics 1.2.0" in where
    assert "instances.yaml, document 1 items[1] (team-b) -> document 2 (team-b):" in report
    # the commands that create the Secrets the app now references read the values in place
    assert (
        "kubectl -n paperclip create secret generic team-a-database-url "
        '--from-literal=DATABASE_URL="$(kubectl -n paperclip get instances.paperclip.inc '
        "team-a -o 'jsonpath={.spec.database.externalURL}')\""
    ) in report
    assert "create secret generic team-a-auth" in report and "openssl rand -hex 32" in report
    assert "--from-literal=WEBHOOK_TOKEN=" in report
    assert f"paperclip-gitops synth {out}" in report
    # and the app synthesizes
    synthesized = CliRunner().invoke(main, ["synth", str(out), "--out", str(tmp_path / "dist")])
    assert synthesized.exit_code == 0, synthesized.output
    assert (tmp_path / "dist" / "team" / "kustomize" / "statefulset-team-b.yaml").is_file()


def test_no_credential_of_the_input_reaches_the_app_file_or_the_output(tmp_path: Path) -> None:
    exported = EXPORT.read_text()
    assert all(secret in exported for secret in SECRETS)
    out = tmp_path / "apps" / "team.yaml"
    refused = run(str(EXPORT), "--out", str(out))
    written = run(str(EXPORT), "--out", str(out), *ONE_APP)
    to_stdout = run("-", "--out", "-", *ONE_APP, stdin=exported.encode())
    assert written.exit_code == to_stdout.exit_code == 0
    synthesized = CliRunner().invoke(main, ["synth", str(out), "--out", str(tmp_path / "dist")])
    assert synthesized.exit_code == 0, synthesized.output
    texts = [refused.output, written.output, to_stdout.output, out.read_text()]
    texts += [p.read_text() for p in (tmp_path / "dist").rglob("*") if p.is_file()]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    # a credential given with --set is refused (the live Instance does not hold it), and
    # not echoed either
    given = run(
        str(EXPORT),
        "--out",
        "-",
        *ONE_APP,
        "--set",
        "team-b:spec.env=[{name: API_PASSWORD, value: hunter2-hunter2}]",
    )
    assert given.exit_code == 2, given.output
    assert "(team-b): spec.env[0].value: holds a credential given with --set" in given.output
    assert "hunter2" not in given.output


def test_stdin_and_a_list_on_stdout() -> None:
    single = {
        "apiVersion": "paperclip.inc/v1alpha1",
        "kind": "Instance",
        "metadata": {"name": "solo", "namespace": "team", "uid": "x", "generation": 3},
        "spec": {"image": {"tag": "2026.1106.0"}, "database": {"mode": "embedded"}},
        "status": {"phase": "Running"},
    }
    expected = {
        "apiVersion": "paperclip.inc/v1alpha1",
        "kind": "Instance",
        "metadata": {"name": "solo", "namespace": "team"},
        "spec": single["spec"],
    }
    for payload, label in (
        (single, "<stdin>, document 1 (solo)"),
        (
            {"apiVersion": "v1", "kind": "List", "items": [single]},
            "<stdin>, document 1 items[0] (solo)",
        ),
        (
            {"apiVersion": "paperclip.inc/v1alpha1", "kind": "InstanceList", "items": [single]},
            "<stdin>, document 1 items[0] (solo)",
        ),
    ):
        result = run("-", "--out", "-", stdin=yaml.safe_dump(payload).encode())
        assert result.exit_code == 0, result.output
        assert [d for d in yaml.safe_load_all(result.stdout) if d] == [expected]
        assert f"{label} -> document 1 (solo):" in result.stderr
    # the app file cannot be named after stdin
    result = run("-", stdin=yaml.safe_dump(single).encode())
    assert result.exit_code == 2 and "--out: the app file to write" in result.output


def test_every_problem_of_every_input_in_one_run(tmp_path: Path) -> None:
    instance = {"apiVersion": "paperclip.inc/v1alpha1", "kind": "Instance"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump_all(
            [
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
                {**instance, "metadata": {"name": "one"}, "spec": {"imag": {}}},
            ]
        )
    )
    other = tmp_path / "other.yaml"
    other.write_text(
        yaml.safe_dump(
            {
                **instance,
                "metadata": {"name": "two"},
                "spec": {
                    "image": {"tag": "2026.1106.0"},
                    "availability": {"replicas": 2},
                    "database": {"mode": "embedded"},
                    "extraVolumeMounts": [{"name": "scratch", "mountPath": "/s"}],
                },
            }
        )
    )
    out = tmp_path / "app.yaml"
    result = run(str(bad), str(other), "--out", str(out), "--set", "ghost:spec.suspended=true")
    assert result.exit_code == 2, result.output
    assert not out.exists()
    lines = [line for line in result.output.splitlines() if line.startswith("  - ")]
    for expected in (
        "bad.yaml, document 1 (s): kind: is apiVersion 'v1' kind 'Secret'",
        "--set: names 'ghost', which is not an imported Instance.",
        "bad.yaml, document 2 (one): spec.imag: is not a field",
        "bad.yaml, document 2 (one): spec.image: one of tag or digest",
        "other.yaml, document 1 (two): spec.database.mode:",
        "other.yaml, document 1 (two): spec.objectStorage:",
        "other.yaml, document 1 (two): spec.extraVolumeMounts[0].name: 'scratch' is not a volume",
    ):
        assert any(expected in line for line in lines), (expected, result.output)
    assert sum("(database-for-replicas)" in line for line in lines) == 1
    assert sum("--image-tag TAG" in line for line in lines) == 1


def test_an_existing_app_file_is_replaced_only_with_force(tmp_path: Path) -> None:
    out = tmp_path / "team.yaml"
    out.write_text("# mine\n")
    refused = run(str(EXPORT), "--out", str(out), *ONE_APP)
    assert refused.exit_code == 2 and "exists already" in refused.output
    assert "--force" in refused.output and out.read_text() == "# mine\n"
    forced = run(str(EXPORT), "--out", str(out), "--force", *ONE_APP)
    assert forced.exit_code == 0, forced.output
    assert len(documents(out)) == 2


def test_one_instance_of_a_list_into_its_own_app(tmp_path: Path) -> None:
    out = tmp_path / "apps" / "team-a.yaml"
    result = run(str(EXPORT), "--instance", "team-a", "--out", str(out), *DECISIONS_FOR_TEAM_A)
    assert result.exit_code == 0, result.output
    [team_a] = documents(out)
    assert team_a["spec"]["image"]["autoUpdate"] == {"enabled": True, "interval": "10m"}
    synthesized = CliRunner().invoke(main, ["synth", str(out), "--out", str(tmp_path / "dist")])
    assert synthesized.exit_code == 0, synthesized.output
    kustomization = (tmp_path / "dist" / "team-a" / "kustomize" / "kustomization.yaml").read_text()
    assert "sha256:4f5e6d7c8b9a" in kustomization  # the digest the operator ran, automated
    unknown = run(str(EXPORT), "--instance", "team-c", "--out", "-")
    assert unknown.exit_code == 2
    assert "--instance: names 'team-c', which no input holds" in unknown.output


def test_the_default_app_file_is_named_after_the_input(tmp_path: Path) -> None:
    source = tmp_path / "team-b.yaml"
    source.write_text(yaml.safe_dump(yaml.safe_load(EXPORT.read_text())["items"][1]))
    result = run(str(source), "--apps-dir", str(tmp_path / "apps"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "apps" / "team-b.yaml").is_file()


def test_set_paths_values_and_removal() -> None:
    override = parse_set("team-a:spec.availability.replicas=2")
    assert (override.target, override.parts, override.value) == (
        "team-a",
        ["spec", "availability", "replicas"],
        2,
    )
    assert parse_set("spec.restoreFrom=null").value is None
    assert parse_set("spec.tolerations[0].key=x").parts == ["spec", "tolerations", 0, "key"]
    for bad in ("replicas=2", "spec.x", "status.phase=Running", ":spec.x=1", "spec..x=1"):
        with pytest.raises(UserError) as caught:
            parse_set(bad)
        assert caught.value.problems[0].path == "--set"
    body: dict[str, Any] = {"spec": {"a": [{"b": 1}]}}
    assert put(body, ["spec", "x", "y"], 1) is None and body["spec"]["x"] == {"y": 1}
    assert put(body, ["spec", "a", 0, "b"], None) is None and body["spec"]["a"] == [{}]
    assert put(body, ["spec", "a", 3, "b"], 1) == "spec.a has no item [3]"
    assert put(body, ["spec", "x", "y", "z"], 1) == "spec.x.y is not a mapping"


def test_shown_values_hide_credentials() -> None:
    assert shown({"bucket": "files"}) == '{"bucket": "files"}'
    assert "pw" not in shown("postgres://u:pw@h/db")
    assert "hunter2" not in shown([{"name": "API_TOKEN", "value": "hunter2"}])
    assert "hunter2" not in shown({"password": "hunter2"})
    assert (
        shown({"secretRef": {"name": "s", "key": "k"}})
        == '{"secretRef": {"name": "s", "key": "k"}}'
    )


def test_every_rule_and_decision_is_documented_on_the_migrating_page() -> None:
    section = docs_text("migrating.md")
    for name in [rule.name for rule in FIXES] + [d.name for d in DECISIONS] + ["cluster-fields"]:
        assert f"`{name}`" in section, name


def _instance_file(tmp_path: Path, body: dict[str, Any]) -> str:
    """One Instance document as an input file."""
    path = tmp_path / f"{body['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _team_b(**spec: Any) -> dict[str, Any]:
    """The plain exported Instance team-b, with more of a spec."""
    body: dict[str, Any] = yaml.safe_load(EXPORT.read_text())["items"][1]
    body["spec"].update(spec)
    return body


def _problem_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("  - ")]


def test_a_credential_given_with_set_is_refused_not_read_from_the_live_instance(
    tmp_path: Path,
) -> None:
    given = ("n3w-t0ken-by-hand", "s3t-by-hand", "plain-by-hand")
    single = _instance_file(tmp_path, yaml.safe_load(EXPORT.read_text())["items"][0])
    result = run(
        single,
        "--out",
        "-",
        "--set",
        "spec.availability.replicas=1",
        "--set",
        "spec.availability.autoScaling=null",
        "--set",
        f"spec.env=[{{name: NEW_TOKEN, value: {given[0]}}}]",
        "--set",
        f'spec.database={{mode: external, externalURL: "postgres://u:{given[1]}@h/db"}}',
    )
    assert result.exit_code == 2, result.output
    problems = _problem_lines(result)
    for path, option in (
        ("spec.env[0].value", "--set spec.env,"),
        ("spec.database.externalURL", "--set spec.database,"),
    ):
        [line] = [p for p in problems if f"(team-a): {path}: " in p]
        assert f"a credential given with {option} which the live Instance" in line, line
        assert "git or shell history" in line and "create the Secret yourself" in line, line
        assert "on the live Instance before importing" in line, line
    assert len(problems) == 2, result.output
    assert "jsonpath" not in result.output and "Nothing was written." in result.output
    # a secret-looking value of a sidecar changed by a --set: refused too
    env = [{"name": "API_TOKEN", "value": "live-sidecar-value"}]
    sidecar = {"name": "side", "image": "busybox:1.36", "env": env}
    team_b = _instance_file(tmp_path, _team_b(sidecars=[sidecar]))
    changed = run(team_b, "--out", "-", "--set", f"spec.sidecars[0].env[0].value={given[2]}")
    assert changed.exit_code == 2, changed.output
    [line] = _problem_lines(changed)
    assert "(team-b): spec.sidecars[0].env[0].value: holds a credential given with --set " in line
    for text in (result.output, changed.output):
        assert not any(value in text for value in given), text
    # the live value is read where it is: by its index
    live = run(team_b, "--out", "-")
    assert live.exit_code == 0, live.output
    assert "'jsonpath={.spec.sidecars[0].env[0].value}'" in live.output
    assert "live-sidecar-value" not in live.output


def test_the_commands_read_the_instance_as_exported_after_a_rename() -> None:
    result = run(
        str(EXPORT),
        "--out",
        "-",
        "--instance",
        "team-a",
        *DECISIONS_FOR_TEAM_A,
        "--set",
        "metadata.namespace=newns",
        "--set",
        "metadata.name=renamed",
    )
    assert result.exit_code == 0, result.output
    assert (
        "kubectl -n newns create secret generic renamed-database-url "
        '--from-literal=DATABASE_URL="$(kubectl -n paperclip get instances.paperclip.inc '
        "team-a -o 'jsonpath={.spec.database.externalURL}')\""
    ) in result.stderr
    assert "kubectl -n newns create secret generic renamed-env" in result.stderr
    assert " get instances.paperclip.inc renamed" not in result.stderr
    assert "-n newns get" not in result.stderr


def test_duplicate_env_names_are_refused_and_each_value_is_read_by_its_index(
    tmp_path: Path,
) -> None:
    values = ("first-dup-value", "second-dup-value")
    env = [{"name": "API_TOKEN", "value": value} for value in values]
    source = _instance_file(tmp_path, _team_b(env=env))
    refused = run(source, "--out", "-")
    assert refused.exit_code == 2, refused.output
    [line] = _problem_lines(refused)
    assert "spec.env[1].name:" in line and "repeats the key name='API_TOKEN'" in line, line
    # one removed with --set: the other's value is read from its own entry, not from both
    kept = run(source, "--out", "-", "--set", "spec.env[0]=null")
    assert kept.exit_code == 0, kept.output
    assert "--from-literal=API_TOKEN=" in kept.stderr
    assert "'jsonpath={.spec.env[1].value}'" in kept.stderr
    assert "@.name" not in kept.stderr
    # one renamed with --set: each is read where the live Instance holds it
    renamed = run(source, "--out", "-", "--set", "spec.env[1].name=OTHER_TOKEN")
    assert renamed.exit_code == 0, renamed.output
    for key, index in (("API_TOKEN", 0), ("OTHER_TOKEN", 1)):
        assert f'--from-literal={key}="$(kubectl -n paperclip get instances.paperclip.inc ' in (
            renamed.stderr
        )
        assert f"'jsonpath={{.spec.env[{index}].value}}'" in renamed.stderr
    for text in (refused.output, kept.output, renamed.output):
        assert not any(value in text for value in values)
    # the rule itself (whose result synth then refuses): distinct keys, each entry's own value
    body = _team_b(env=env)
    document = Document("x.yaml", "document 1 (team-b)", body, copy_of(body))
    ENV_TO_SECRET.fix(document, [])
    [command] = document.commands
    assert "--from-literal=API_TOKEN=" in command.text and "--from-literal=env-API_TOKEN" in (
        command.text
    )
    assert "{.spec.env[0].value}" in command.text and "{.spec.env[1].value}" in command.text


def copy_of(body: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = yaml.safe_load(yaml.safe_dump(body))
    return copied


def test_one_url_grammar_finds_credentials_in_text() -> None:
    # every place that hides credentials reads URLs the same way, also quoted or after '='
    for text in ("'postgres://u:pw@h/db'", "x=postgres://u:pw@h/db,y", "<https://u:pw@h>"):
        assert redact.holds_credential(text)
        assert "pw" not in _shown_input(text)
    found = env_rules.credential_in_text("see https://h/x, then postgres://u:pw@h/db")
    assert found == "a password before the host"
    assert env_rules.credential_in_text("https://h/x and http://user@h/") is None
    assert env_rules.URL_IN_TEXT.findall("a 'https://h/x', <b://c>") == ["https://h/x", "b://c"]
    assert "pw@" not in shown("postgres://u:pw@h/db")


def test_a_refused_document_is_not_counted_by_the_checks_across_instances() -> None:
    """A document refused on its own (here: no spec) is no instance of the app, so it does not
    take part in the checks that compare instances, such as one image automation per
    repository; a valid instance running the same repository does."""
    meta = {"apiVersion": "paperclip.inc/v1alpha1", "kind": "Instance"}
    auto = {
        **meta,
        "metadata": {"name": "b", "namespace": "team"},
        "spec": {
            "image": {"tag": "2026.1.0", "autoUpdate": {"enabled": True}},
            "database": {"mode": "managed"},
        },
    }
    pinned = {"image": {"tag": "2026.1.0"}, "database": {"mode": "managed"}}
    for spec, expected in (({}, "(a): spec: is missing"), (pinned, "(image-automation-app)")):
        first: dict[str, Any] = {**meta, "metadata": {"name": "a", "namespace": "team"}}
        if spec:
            first["spec"] = spec
        result = run("-", "--out", "-", stdin=yaml.safe_dump_all([first, auto]).encode())
        assert result.exit_code == 2, result.output
        problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
        assert len(problems) == 1 and expected in problems[0], result.output
