"""Self-managing Flux entry objects, with real Flux on the test control plane: the repository's
URL is the loopback git server's (apps/_gitops.yaml of a copy of apps/), the generated tree is
committed as it is, and only the GitRepository and the root Kustomization of dist/gitops/flux
are applied by hand, once. Everything else arrives by git: the namespaces, a Kustomization per
app, and, after a commit that adds an app, that app's Kustomization and objects. The root of
dist/gitops/flux-helm, applied the same way, creates every namespace of an app's instances (a
HelmRelease creates only its target namespace)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flux.fluxenv import (
    NAMESPACE,
    REPO,
    FluxEnvironment,
    FluxError,
    apply,
    flux_running,
    wait_until,
)
from tests.flux.test_flux import Api

pytestmark = [pytest.mark.flux, pytest.mark.k8s, pytest.mark.timeout(900)]

ROOT = "paperclip-gitops"
RECONCILE = 240.0
NEW_APP = """\
apiVersion: paperclip.inc/v1alpha1
kind: Instance
metadata:
  name: team-b
  namespace: team-b
spec:
  image: {tag: 2026.1106.0}
  deployment: {mode: authenticated}
  database: {mode: embedded}
"""


@dataclass
class Bootstrap:
    env: FluxEnvironment
    api: Api
    apps: Path
    root: Path


def synth(apps: Path, out: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "constructs_lib",
        "synth",
        "--apps-dir",
        str(apps),
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "placeholder" not in result.stderr
    return out


def load(path: Path) -> dict[str, Any]:
    [obj] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return dict(obj)


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bootstrap]:
    root = tmp_path_factory.mktemp("flux-bootstrap")
    try:
        with flux_running(root / "env") as env:
            apps = root / "apps"
            shutil.copytree(REPO / "apps", apps)
            config = yaml.safe_load((apps / "_gitops.yaml").read_text())
            config["repoURL"] = env.repo.url  # this repository, as the loopback server serves it
            config["apps"] = None
            (apps / "_gitops.yaml").write_text(yaml.safe_dump(config))
            yield Bootstrap(env, Api(env), apps, root)
    except FluxError as exc:
        pytest.fail(f"Flux is unavailable: {exc}", pytrace=False)


def kustomization_ready(api: Api, name: str, sha: str) -> Any:
    revision = f"main@sha1:{sha}"

    def ready() -> Any:
        obj = api.flux("Kustomization", name)
        if obj is None or api.condition("Kustomization", name).get("status") != "True":
            return None
        return obj if obj["status"].get("lastAppliedRevision") == revision else None

    return wait_until(f"Kustomization {name} Ready at {revision}", ready, RECONCILE, api.detail)


def test_one_apply_bootstraps_everything_and_a_committed_app_appears(
    bootstrap: Bootstrap,
) -> None:
    env, api = bootstrap.env, bootstrap.api
    first = synth(bootstrap.apps, bootstrap.root / "first")
    sha = env.repo.commit(first, "paperclip-gitops: every app")
    flux_dir = first / "gitops" / "flux"
    # the one apply: the root Kustomization and the source it needs, as generated
    began = time.monotonic()
    for name in ("gitrepository-paperclip-gitops.yaml", "kustomization-paperclip-gitops.yaml"):
        apply(env.plane, load(flux_dir / name))
    root = kustomization_ready(api, ROOT, sha)
    inventory = {e["id"] for e in root["status"]["inventory"]["entries"]}
    # the root manages its own directory: itself, its source and every app's Kustomization
    assert f"{NAMESPACE}_{ROOT}_kustomize.toolkit.fluxcd.io_Kustomization" in inventory
    assert f"{NAMESPACE}_{ROOT}_source.toolkit.fluxcd.io_GitRepository" in inventory
    kustomization_ready(api, "paperclip-quickstart", sha)
    assert api.get("apps/v1", "StatefulSet", "quickstart", "paperclip") is not None
    print(f"\n[flux] one apply -> quickstart synced in {time.monotonic() - began:.1f}s")

    # add an app: write it, synth, commit; nothing else is applied by hand
    (bootstrap.apps / "team-b.yaml").write_text(NEW_APP)
    second = synth(bootstrap.apps, bootstrap.root / "second")
    assert (second / "team-b" / "kustomize").is_dir()
    sha = env.repo.commit(second, "paperclip-gitops: add team-b")
    began = time.monotonic()
    api.request_reconcile("GitRepository", ROOT)
    api.request_reconcile("Kustomization", ROOT)
    kustomization_ready(api, ROOT, sha)
    kustomization_ready(api, "paperclip-team-b", sha)
    wait_until(
        "team-b's StatefulSet",
        lambda: api.get("apps/v1", "StatefulSet", "team-b", "team-b"),
        RECONCILE,
        api.detail,
    )
    print(f"[flux] committed app -> synced in {time.monotonic() - began:.1f}s")


MULTI_APP = "team-m"
MULTI_NAMESPACES = ("team-m", "team-m-two")


def test_the_helm_root_creates_every_namespace_of_an_app(bootstrap: Bootstrap) -> None:
    """An app whose instances span two namespaces, synced by the generated root of
    dist/gitops/flux-helm (its own name, so it stands beside the Kustomize flavour's root and
    apps): the HelmRelease targets the first namespace, the root brings the second."""
    env, api = bootstrap.env, bootstrap.api
    apps = bootstrap.root / "apps-multi"
    apps.mkdir()
    config = yaml.safe_load((bootstrap.apps / "_gitops.yaml").read_text())
    config["name"] = "multi"
    (apps / "_gitops.yaml").write_text(yaml.safe_dump(config))
    (apps / f"{MULTI_APP}.yaml").write_text(
        "---\n".join(
            NEW_APP.replace("name: team-b", f"name: {ns}").replace(
                "namespace: team-b", f"namespace: {ns}"
            )
            for ns in MULTI_NAMESPACES
        )
    )
    multi = synth(apps, bootstrap.root / "multi")
    # the committed tree: the Kustomize flavour's apps as before (its Namespaces do not include
    # team-m's), team-m's chart and the flux-helm directory generated with team-m
    tree = synth(bootstrap.apps, bootstrap.root / "with-multi")
    shutil.copytree(multi / MULTI_APP, tree / MULTI_APP)
    shutil.rmtree(tree / "gitops" / "flux-helm")
    shutil.copytree(multi / "gitops" / "flux-helm", tree / "gitops" / "flux-helm")
    sha = env.repo.commit(tree, "paperclip-gitops: team-m, by its HelmRelease")
    helm_dir = tree / "gitops" / "flux-helm"
    began = time.monotonic()
    for name in ("gitrepository-multi.yaml", "kustomization-multi-helm.yaml"):
        apply(env.plane, load(helm_dir / name))
    kustomization_ready(api, "multi-helm", sha)
    release = f"paperclip-{MULTI_APP}"

    def detail() -> str:
        status = (api.flux("HelmRelease", release) or {}).get("status")
        return f"HelmRelease {release}: {str(status)[:2000]}\n{api.detail()}"

    def settled() -> Any:
        ready = api.condition("HelmRelease", release)
        failed = ready.get("status") == "False" and "Failed" in ready.get("reason", "")
        return ready if ready.get("status") == "True" or failed else None

    ready = wait_until(f"HelmRelease {release} settled", settled, RECONCILE, detail)
    assert ready["status"] == "True", ready
    print(
        f"[flux] two-namespace app by its HelmRelease -> Ready in {time.monotonic() - began:.1f}s"
    )
    hr = api.flux("HelmRelease", release)
    assert hr["spec"]["targetNamespace"] == MULTI_NAMESPACES[0]
    for ns in MULTI_NAMESPACES:
        assert api.get("apps/v1", "StatefulSet", ns, ns) is not None, ns
    # the second namespace is the root's, never pruned (it holds the data)
    namespace = api.get("v1", "Namespace", MULTI_NAMESPACES[1], None)
    assert namespace["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "multi-helm"
    assert namespace["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
