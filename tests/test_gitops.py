"""dist/gitops/: the Argo CD and Flux entry objects from apps/_gitops.yaml, the config's
errors, and the CLI around both outputs (synth --only, check, values)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.spec.gitops import GitOpsConfig, config_warnings
from tests.conftest import REPO, tree_bytes, trusted_document


@pytest.fixture
def apps_dir(tmp_path: Path) -> Path:
    target = tmp_path / "apps"
    shutil.copytree(REPO / "apps", target)
    return target


def synth(apps_dir: Path, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        main, ["synth", "--out", str(out), "--apps-dir", str(apps_dir), *extra]
    )


@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = synth(REPO / "apps", out)
    assert result.exit_code == 0, result.output
    return out


def load(path: Path) -> dict[str, Any]:
    [obj] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return dict(obj)


def test_argo_cd_objects(gitops: Path) -> None:
    appset = load(gitops / "gitops/argocd/applicationset-paperclip.yaml")
    spec = appset["spec"]
    assert spec["goTemplate"] is True
    assert spec["goTemplateOptions"] == ["missingkey=error"]
    assert spec["syncPolicy"] == {"preserveResourcesOnDeletion": True}
    [generator] = spec["generators"]
    # apps are found by their app.json: a committed app needs no hand-kept map
    assert generator["git"]["files"] == [{"path": "dist/*/app.json"}]
    template = spec["template"]
    assert template["spec"]["source"]["path"] == "{{ .path.path }}/kustomize"
    assert template["spec"]["destination"]["namespace"] == "{{ .namespace }}"
    assert template["metadata"]["name"] == "paperclip-{{ .app }}"
    for app in ("quickstart", "production", "production-full"):
        record = json.loads((gitops / app / "app.json").read_text())
        assert record["app"] == app and record["namespace"]
    root = load(gitops / "gitops/argocd/application-paperclip-gitops.yaml")["spec"]
    assert root["source"]["path"] == "dist/gitops/argocd"  # it syncs its own directory
    assert root["project"] == "default"  # the paperclip project is one of its objects
    assert root["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    listed = yaml.safe_load((gitops / "gitops/argocd/kustomization.yaml").read_text())
    assert "application-paperclip-gitops.yaml" in listed["resources"]
    assert "finalizers" not in template["metadata"]
    policy = template["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    for option in ("CreateNamespace=true", "ServerSideApply=true", "PruneLast=true"):
        assert option in policy["syncOptions"]
    project = load(gitops / "gitops/argocd/appproject-paperclip.yaml")["spec"]
    assert project["sourceRepos"] == ["https://git.example.com/platform/paperclip-gitops.git"]
    assert {d["namespace"] for d in project["destinations"]} == {
        "paperclip",
        "paperclip-prod",
        "paperclip-full",
    }
    assert project["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    kinds = {k["kind"] for k in project["namespaceResourceWhitelist"]}
    assert {"StatefulSet", "Deployment", "Job", "ConfigMap"} <= kinds
    assert "ClusterRole" not in kinds
    helm_app = load(gitops / "gitops/argocd-helm/application-paperclip-quickstart.yaml")
    assert helm_app["spec"]["source"]["path"] == "dist/quickstart/helm"
    assert "finalizers" not in helm_app["metadata"]


def test_directory_glob_yields_exactly_the_apps(gitops: Path) -> None:
    found = sorted(p.parent.name for p in gitops.glob("*/kustomize"))
    apps = sorted(p.stem for p in (REPO / "apps").iterdir() if not p.name.startswith("_"))
    assert found == apps == ["production", "production-full", "quickstart"]


def test_flux_objects(gitops: Path) -> None:
    repository = load(gitops / "gitops/flux/gitrepository-paperclip-gitops.yaml")["spec"]
    assert repository["ignore"] == "/*\n!/dist/\n"
    root = load(gitops / "gitops/flux/kustomization-paperclip-gitops.yaml")["spec"]
    assert root["path"] == "./dist/gitops/flux" and root["prune"] is True
    assert root["sourceRef"] == {"kind": "GitRepository", "name": "paperclip-gitops"}
    assert repository["ref"] == {"branch": "main"}
    quickstart = load(gitops / "gitops/flux/kustomization-paperclip-quickstart.yaml")["spec"]
    assert quickstart["path"] == "./dist/quickstart/kustomize"
    assert quickstart["prune"] is True and quickstart["wait"] is True
    assert quickstart["timeout"] == "10m"
    assert quickstart["dependsOn"] == [{"name": "paperclip-gitops-namespaces"}]
    release = load(gitops / "gitops/flux-helm/helmrelease-paperclip-quickstart.yaml")["spec"]
    assert release["chart"]["spec"]["reconcileStrategy"] == "Revision"
    assert release["chart"]["spec"]["chart"] == "./dist/quickstart/helm"
    assert release["install"]["remediation"]["retries"] == 3
    assert release["upgrade"]["remediation"]["retries"] == 3
    assert release["driftDetection"] == {"mode": "enabled"}
    namespace = load(gitops / "gitops/flux/namespaces/namespace-paperclip.yaml")
    assert namespace["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}


def test_every_directory_builds_with_kustomize(gitops: Path, kubectl: str) -> None:
    directories = sorted(p.parent for p in (gitops / "gitops").rglob("kustomization.yaml"))
    assert len(directories) == 5
    for directory in directories:
        done = subprocess.run(
            [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr


def test_depends_on_and_selected_apps(apps_dir: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((apps_dir / "_gitops.yaml").read_text())
    config["dependsOn"] = {"production": ["quickstart"]}
    config["apps"] = ["quickstart", "production"]
    (apps_dir / "_gitops.yaml").write_text(yaml.safe_dump(config))
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 0, result.output
    flux = tmp_path / "out/gitops/flux"
    production = load(flux / "kustomization-paperclip-production.yaml")["spec"]
    assert {"name": "paperclip-quickstart"} in production["dependsOn"]
    release = load(tmp_path / "out/gitops/flux-helm/helmrelease-paperclip-production.yaml")
    assert release["spec"]["dependsOn"] == [{"name": "paperclip-quickstart"}]
    appset = load(tmp_path / "out/gitops/argocd/applicationset-paperclip.yaml")
    paths = [d["path"] for d in appset["spec"]["generators"][0]["git"]["files"]]
    assert paths == ["dist/production/app.json", "dist/quickstart/app.json"]


BAD_CONFIGS = [
    ("missing-url", {"revision": "main"}, "repoURL: is required."),
    ("unknown-key", {"repoURL": "https://g.example/r.git", "revison": "x"}, "did you mean"),
    (
        "bad-duration",
        {"repoURL": "https://g.example/r.git", "flux": {"interval": "5 min"}},
        "flux.interval",
    ),
    ("unknown-app", {"repoURL": "https://g.example/r.git", "apps": ["quickstrat"]}, "'quickstart'"),
    ("bad-url", {"repoURL": "ftp://g.example/r.git"}, "repoURL"),
    ("not-a-mapping", ["repoURL"], "must hold one mapping"),
    # the GitRepository's ignore rules re-include ./dist or ops/../dist literally: nothing
    ("dot-path", {"repoURL": "https://g.example/r.git", "path": "./dist"}, "'.' or '..'"),
    ("dot-dot-path", {"repoURL": "https://g.example/r.git", "path": "ops/../dist"}, "'.' or '..'"),
]


@pytest.mark.parametrize(
    ("config", "expected"), [pytest.param(c, e, id=i) for i, c, e in BAD_CONFIGS]
)
def test_bad_config_is_a_clear_error_and_writes_nothing(
    config: Any, expected: str, apps_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert synth(apps_dir, out).exit_code == 0
    before = tree_bytes(out)
    (apps_dir / "_gitops.yaml").write_text(yaml.safe_dump(config))
    result = synth(apps_dir, out)
    assert result.exit_code == 2, result.output
    assert "_gitops.yaml" in result.output and expected in result.output
    assert "Traceback" not in result.output
    assert "Nothing was written." in result.output
    assert tree_bytes(out) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repoURL: https://g.example/r.git\nrevision: !!bool maybe\n", "revision"),
        ("repoURL: https://g.example/r.git\non: x\n", "quote the key"),
        ("repoURL: https://g.example/r.git\n---\nrevision: main\n", "must hold one mapping"),
    ],
    ids=["tag-it-does-not-fit", "boolean-key", "two-documents"],
)
def test_a_config_is_read_with_the_app_files_yaml_checks(
    text: str, expected: str, apps_dir: Path, tmp_path: Path
) -> None:
    """The GitOps config goes through the app files' YAML reader: a tag its value does not
    fit was a KeyError traceback."""
    (apps_dir / "_gitops.yaml").write_text(text)
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "_gitops.yaml" in result.output and expected in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_app_named_gitops_is_reserved(apps_dir: Path, tmp_path: Path) -> None:
    shutil.copy(apps_dir / "production.yaml", apps_dir / "gitops.yaml")
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 2
    assert "'gitops' is reserved" in result.output
    assert not (tmp_path / "out").exists()


def test_without_config_no_gitops_tree(apps_dir: Path, tmp_path: Path) -> None:
    (apps_dir / "_gitops.yaml").unlink()
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out/gitops").exists()


def test_only_picks_outputs(apps_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = synth(apps_dir, out, "--only", "kustomize")
    assert result.exit_code == 0, result.output
    assert (out / "quickstart/kustomize/kustomization.yaml").is_file()
    assert not (out / "quickstart/helm").exists()
    assert not (out / "gitops").exists()
    result = synth(apps_dir, out, "--only", "helm,gitops")
    assert result.exit_code == 0, result.output
    assert (out / "quickstart/helm/Chart.yaml").is_file()
    assert not (out / "quickstart/kustomize").exists()
    assert (out / "gitops/flux/kustomization.yaml").is_file()
    bad = synth(apps_dir, out, "--only", "kustomise")
    assert bad.exit_code == 2
    assert "--only" in bad.output and "kustomize, helm" in bad.output


def test_check_covers_helm_and_gitops(apps_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert synth(apps_dir, out).exit_code == 0
    args = ["check", "--dist", str(out), "--apps-dir", str(apps_dir)]
    assert CliRunner().invoke(main, args).exit_code == 0
    for stale in ("gitops/flux/gitrepository-paperclip-gitops.yaml", "quickstart/helm/values.yaml"):
        path = out / stale
        original = path.read_text()
        path.write_text(original + "# edited\n")
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert stale in result.output
        path.write_text(original)


def test_values_command(apps_dir: Path) -> None:
    result = CliRunner().invoke(main, ["values", "quickstart", "--apps-dir", str(apps_dir)])
    assert result.exit_code == 0, result.output
    assert "# tag: the server image tag" in result.output
    assert 'tag: "2026.1106.0"' in result.output
    schema = CliRunner().invoke(
        main, ["values", "quickstart", "--schema", "--apps-dir", str(apps_dir)]
    )
    assert '"$schema": "http://json-schema.org/draft-07/schema#"' in schema.output
    missing = CliRunner().invoke(main, ["values", "nosuchapp", "--apps-dir", str(apps_dir)])
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output


def test_app_project_admits_the_cluster_scoped_kinds_and_namespaces_the_apps_emit(
    apps_dir: Path, tmp_path: Path
) -> None:
    sandbox = {
        "apiVersion": "paperclip.inc/v1alpha1",
        "kind": "Instance",
        "metadata": {"name": "sbx", "namespace": "team-s"},
        "spec": {
            "image": {"tag": "2026.1106.0"},
            "deployment": {"mode": "local_trusted"},
            "database": {"mode": "embedded"},
            "adapters": {
                "cloudSandbox": {"enabled": True, "namespace": "sandboxes", "multiNamespace": True}
            },
        },
    }
    (apps_dir / "sandbox.yaml").write_text(yaml.safe_dump(sandbox))
    out = tmp_path / "dist"
    result = synth(apps_dir, out)
    assert result.exit_code == 0, result.output
    project = load(out / "gitops" / "argocd" / "appproject-paperclip.yaml")
    cluster = {(k["group"], k["kind"]) for k in project["spec"]["clusterResourceWhitelist"]}
    assert ("rbac.authorization.k8s.io", "ClusterRole") in cluster
    assert ("rbac.authorization.k8s.io", "ClusterRoleBinding") in cluster
    namespaced = {k["kind"] for k in project["spec"]["namespaceResourceWhitelist"]}
    assert "ClusterRole" not in namespaced
    destinations = {d["namespace"] for d in project["spec"]["destinations"]}
    assert {"team-s", "sandboxes"} <= destinations


def _config(apps_dir: Path, **fields: Any) -> None:
    config = yaml.safe_load((apps_dir / "_gitops.yaml").read_text())
    config.update(fields)
    (apps_dir / "_gitops.yaml").write_text(yaml.safe_dump(config))


@pytest.mark.parametrize(
    "url",
    [
        "https://x-access-token:ghp_secretvalue@github.com/org/repo.git",
        "https://ghp_secretvalue@github.com/org/repo.git",
        "https://github.com/org/repo.git?private_token=secretvalue",
        "https://github.com/org/repo.git#token=secretvalue",
        "ftp://github.com/org/repo.git",
        "github.com/org/repo.git",
    ],
)
def test_a_repo_url_with_a_credential_is_refused_and_never_written(
    apps_dir: Path, tmp_path: Path, url: str
) -> None:
    _config(apps_dir, repoURL=url)
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "repoURL" in result.output
    assert "secretvalue" not in result.output
    assert not (tmp_path / "out").exists()


def test_ssh_urls_are_taken_and_flux_gets_its_form(apps_dir: Path, tmp_path: Path) -> None:
    _config(apps_dir, repoURL="git@github.com:org/repo.git", secretRef="repo-key")
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "_gitops.yaml" not in result.output  # no warning about the URL
    repository = load(tmp_path / "out/gitops/flux/gitrepository-paperclip-gitops.yaml")["spec"]
    assert repository["url"] == "ssh://git@github.com/org/repo.git"  # Flux's CRD wants a scheme
    assert repository["secretRef"] == {"name": "repo-key"}
    project = load(tmp_path / "out/gitops/argocd/appproject-paperclip.yaml")["spec"]
    assert project["sourceRepos"] == ["git@github.com:org/repo.git"]  # Argo CD takes it as is
    _config(apps_dir, repoURL="ssh://git@github.com/org/repo.git", secretRef=None)
    result = synth(apps_dir, tmp_path / "out2")
    assert result.exit_code == 0, result.output
    assert "no secretRef names the key" in result.output


def test_the_placeholder_url_warns_and_strict_refuses_it(apps_dir: Path, tmp_path: Path) -> None:
    result = synth(apps_dir, tmp_path / "out")  # the committed config's placeholder
    assert result.exit_code == 0
    assert "warning: " in result.output and "placeholder" in result.output
    strict = synth(apps_dir, tmp_path / "strict", "--strict")
    assert strict.exit_code == 2, strict.output
    assert "an error with --strict" in strict.output
    assert not (tmp_path / "strict").exists()
    _config(apps_dir, repoURL="https://github.com/acme/platform.git")
    clean = synth(apps_dir, tmp_path / "clean", "--strict")
    assert clean.exit_code == 0, clean.output


@pytest.mark.parametrize(
    "url",
    [
        "https://Example.COM/acme/platform.git",
        "git@Example.com:acme/platform.git",
        "git@git.EXAMPLE.org:acme/platform.git",
        "ssh://git@Example.net/acme/platform.git",
    ],
)
def test_a_placeholder_host_warns_in_any_case(url: str) -> None:
    config = GitOpsConfig.model_validate({"repoURL": url, "secretRef": "repo-key"})
    assert [p.message for p in config_warnings(config, "apps/_gitops.yaml")] == [
        f"is the placeholder {url!r}: Argo CD and Flux cannot fetch it."
    ]


def test_a_tree_in_a_monorepo_subfolder_gets_its_own_paths(apps_dir: Path, tmp_path: Path) -> None:
    repo = tmp_path / "monorepo"
    (repo / ".git").mkdir(parents=True)
    out = repo / "deploy" / "paperclip" / "dist"
    result = synth(apps_dir, out)
    assert result.exit_code == 0, result.output
    quickstart = load(out / "gitops/flux/kustomization-paperclip-quickstart.yaml")["spec"]
    assert quickstart["path"] == "./deploy/paperclip/dist/quickstart/kustomize"
    repository = load(out / "gitops/flux/gitrepository-paperclip-gitops.yaml")["spec"]
    assert repository["ignore"] == (
        "/*\n!/deploy/\n/deploy/*\n!/deploy/paperclip/\n/deploy/paperclip/*\n"
        "!/deploy/paperclip/dist/\n"
    )
    appset = load(out / "gitops/argocd/applicationset-paperclip.yaml")["spec"]
    assert appset["generators"][0]["git"]["files"] == [{"path": "deploy/paperclip/dist/*/app.json"}]
    # an explicit path wins (the tree is written elsewhere and copied in, say)
    _config(apps_dir, path="ops/dist")
    result = synth(apps_dir, tmp_path / "elsewhere")
    assert result.exit_code == 0, result.output
    root = load(tmp_path / "elsewhere/gitops/argocd/application-paperclip-gitops.yaml")
    assert root["spec"]["source"]["path"] == "ops/dist/gitops/argocd"


@pytest.mark.parametrize(
    ("depends_on", "cycle"),
    [
        ({"production": ["quickstart"], "quickstart": ["production"]}, "production -> quickstart"),
        (
            {
                "production": ["production-full"],
                "production-full": ["quickstart"],
                "quickstart": ["production"],
            },
            "production -> production-full -> quickstart -> production",
        ),
    ],
)
def test_a_depends_on_cycle_is_refused(
    apps_dir: Path, tmp_path: Path, depends_on: dict[str, list[str]], cycle: str
) -> None:
    # Flux would hold every Kustomization of the cycle back forever, each waiting for the next
    _config(apps_dir, dependsOn=depends_on)
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "dependsOn" in result.output and "cycle" in result.output
    assert cycle in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("app", "config"),
    [
        ("gitops-namespaces", {}),  # the Flux Kustomization of the apps' Namespaces
        ("gitops-helm", {"argocd": {"helmApplications": True}}),  # the Helm flavour's roots
        ("team", {"name": "paperclip-team"}),  # the root Application and Kustomization
    ],
)
def test_an_app_whose_entry_objects_take_a_root_name_is_refused(
    apps_dir: Path, tmp_path: Path, app: str, config: dict[str, Any]
) -> None:
    # paperclip-<app> would silently replace (or be replaced by) the entry object of that name
    (apps_dir / f"{app}.yaml").write_text(yaml.safe_dump(trusted_document(app, app)))
    _config(apps_dir, **config)
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert f"'paperclip-{app}'" in result.output and "_gitops.yaml" in result.output
    assert not (tmp_path / "out").exists()
    _config(apps_dir, apps=["quickstart", "production"])  # not synced: nothing is named so
    result = synth(apps_dir, tmp_path / "out")
    assert result.exit_code == 0, result.output


def test_every_flavour_creates_every_namespace_of_an_apps_instances(
    apps_dir: Path, tmp_path: Path
) -> None:
    # one app, two instances in two namespaces, the second's objects with a sandbox namespace
    instances = [
        trusted_document(name, namespace, **extra)
        for name, namespace, extra in (
            ("team-one", "ns-one", {}),
            (
                "team-two",
                "ns-two",
                {"adapters": {"cloudSandbox": {"enabled": True, "namespace": "sandboxes"}}},
            ),
        )
    ]
    (apps_dir / "team.yaml").write_text(yaml.safe_dump_all(instances))
    out = tmp_path / "dist"
    result = synth(apps_dir, out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "team" / "app.json").read_text())["namespace"] == "ns-one"
    gitops = out / "gitops"

    def namespaces(directory: str) -> dict[str, dict[str, str]]:
        """Namespace name -> its annotations, of the objects a directory's root syncs."""
        listed = yaml.safe_load((gitops / directory / "kustomization.yaml").read_text())
        objects = [load(gitops / directory / name) for name in listed["resources"]]
        return {
            o["metadata"]["name"]: o["metadata"]["annotations"]
            for o in objects
            if o["kind"] == "Namespace"
        }

    # Argo CD: CreateNamespace=true creates the destination (ns-one); the root brings ns-two,
    # before the Applications and never pruned; the project allows both
    argo = {"argocd.argoproj.io/sync-wave": "-1", "argocd.argoproj.io/sync-options": "Prune=false"}
    for directory, application in (
        ("argocd", "applicationset-paperclip.yaml"),
        ("argocd-helm", "application-paperclip-team.yaml"),
    ):
        assert namespaces(directory) == {"ns-two": argo}, directory
        listed = yaml.safe_load((gitops / directory / "kustomization.yaml").read_text())
        assert listed["resources"].index("namespace-ns-two.yaml") < listed["resources"].index(
            application
        )
        project = load(gitops / directory / "appproject-paperclip.yaml")["spec"]
        assert {"ns-one", "ns-two"} <= {d["namespace"] for d in project["destinations"]}
        assert {"group": "", "kind": "Namespace"} in project["clusterResourceWhitelist"]
    helm_app = load(gitops / "argocd-helm" / "application-paperclip-team.yaml")["spec"]
    assert helm_app["destination"]["namespace"] == "ns-one"
    # Flux Helm: install.createNamespace creates the target (ns-one); the root brings ns-two
    release = load(gitops / "flux-helm" / "helmrelease-paperclip-team.yaml")["spec"]
    assert release["targetNamespace"] == "ns-one" and release["install"]["createNamespace"]
    flux = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    assert namespaces("flux-helm") == {"ns-two": flux}
    # Flux Kustomize: the Namespaces Kustomization has every instance namespace (as before)
    assert namespaces("flux/namespaces") == {
        ns: flux for ns in ("ns-one", "ns-two", "paperclip", "paperclip-full", "paperclip-prod")
    }
    # a namespace only the objects land in (the sandbox's) is the user's to create, in every
    # flavour alike (docs/prerequisites.md); the project allows it
    for directory in ("argocd", "argocd-helm", "flux-helm", "flux/namespaces"):
        assert "sandboxes" not in namespaces(directory), directory
    project = load(gitops / "argocd" / "appproject-paperclip.yaml")["spec"]
    assert "sandboxes" in {d["namespace"] for d in project["destinations"]}
    # an app with one namespace adds none (the committed dist/ of apps/ holds no Namespace)
    assert not (REPO / "dist" / "gitops" / "argocd" / "namespace-paperclip.yaml").exists()
    assert not list((REPO / "dist" / "gitops" / "flux-helm").glob("namespace-*.yaml"))
