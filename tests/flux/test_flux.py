"""Real Flux (source-, kustomize- and helm-controller of one release) reconciles dist/ from a
git repository served over smart HTTP, on the test control plane. Everything is asserted
through the API server.

The tests of this module run in order on one environment; each commit moves the repository on:
  C1  a fresh synth of apps/                 -> test_kustomization_syncs_the_quickstart
  C2  new server tag, new launcher image     -> test_a_change_is_applied_and_the_job_recreated
      (HelmRelease from C2's chart)          -> test_the_helm_release_installs_and_upgrades
  C3  C2 + an object the API server refuses  -> test_a_broken_commit_leaves_everything_running
  C4  agents switched off (objects removed)  -> test_removed_objects_are_pruned_but_not_data
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.spec.crds import FLUX_RELEASE, PINNED
from tests.controlplane.cluster import NODE_NAME
from tests.flux.fluxenv import (
    CONTROLLERS,
    NAMESPACE,
    REPO,
    FluxEnvironment,
    FluxError,
    apply,
    flux_running,
    versions,
    wait_until,
)
from tests.live_api import LiveApi

pytestmark = [pytest.mark.flux, pytest.mark.k8s, pytest.mark.timeout(900)]

APP = "quickstart"
APP_NS = "paperclip"
HELM_NS = "paperclip-helm"
KS = f"paperclip-{APP}"
NAMESPACES_KS = "paperclip-gitops-namespaces"
HR = f"paperclip-{APP}"
TAG_1, TAG_2, TAG_HELM = "2026.1106.0", "2026.1107.0", "2026.1108.0"
LAUNCHER_2 = "ghcr.io/paperclip-gitops/launcher:0.1.1"
RECONCILE = 240.0
MANAGED_BY = "app.kubernetes.io/managed-by"


# -- commits -----------------------------------------------------------------------------------


def synth(out: Path, apps: list[str] | None = None) -> Path:
    command = [sys.executable, "-m", "constructs_lib", "synth", "--out", str(out), *(apps or [])]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def app_variant(directory: Path, replacements: dict[str, str]) -> Path:
    """apps/quickstart.py with ``replacements`` made (each must occur)."""
    text = (REPO / "apps" / f"{APP}.py").read_text()
    for old, new in replacements.items():
        assert old in text, f"apps/{APP}.py no longer contains {old!r}; update this test"
        text = text.replace(old, new)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{APP}.py"
    path.write_text(text)
    return path


def tree_variant(base: Path, out: Path, app_file: Path) -> Path:
    shutil.copytree(base, out)
    return synth(out, [str(app_file)])


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def tree_objects(dist: Path, app: str = APP) -> dict[str, dict[str, Any]]:
    """'Kind/name' -> object of dist/<app>/kustomize (without kustomization.yaml)."""
    objects = {}
    for path in sorted((dist / app / "kustomize").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for obj in load(path):
                objects[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return objects


# -- API helpers -------------------------------------------------------------------------------


class Api(LiveApi):
    def __init__(self, env: FluxEnvironment) -> None:
        super().__init__(env.plane, APP)
        self.env = env

    def flux(self, kind: str, name: str) -> Any:
        api = {
            "GitRepository": "source.toolkit.fluxcd.io/v1",
            "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
            "HelmRelease": "helm.toolkit.fluxcd.io/v2",
        }[kind]
        return self.get(api, kind, name, NAMESPACE)

    def request_reconcile(self, kind: str, name: str) -> None:
        """What `flux reconcile` does: the requestedAt annotation."""
        obj = self.flux(kind, name)
        assert obj is not None, f"{kind}/{name} does not exist"
        resource = self.dyn.resources.get(api_version=obj["apiVersion"], kind=kind)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        resource.patch(
            name=name,
            namespace=NAMESPACE,
            body={"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
            content_type="application/merge-patch+json",
        )

    def condition(self, kind: str, name: str, type_: str = "Ready") -> dict[str, Any]:
        obj = self.flux(kind, name) or {}
        for item in obj.get("status", {}).get("conditions", []):
            if item["type"] == type_:
                return dict(item)
        return {}

    def detail(self) -> str:
        parts = []
        for kind, name in (
            ("GitRepository", "paperclip-gitops"),
            ("Kustomization", KS),
            ("HelmRelease", HR),
        ):
            obj = self.flux(kind, name)
            if obj is not None:
                parts.append(f"{kind}/{name} status: {json.dumps(obj.get('status'))[:1500]}")
        parts.append(f"stand-in kubelet errors: {self.env.kubelet.errors[-5:]}")
        parts.append(self.env.flux.logs(15))
        return "\n".join(parts)

    def wait_ready(self, kind: str, name: str, revision: str | None = None) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.flux(kind, name)
            status = (obj or {}).get("status", {})
            if self.condition(kind, name).get("status") != "True":
                return None
            applied = status.get("lastAppliedRevision")
            if revision and kind == "Kustomization" and applied != revision:
                return None
            if obj["metadata"]["generation"] != status.get("observedGeneration"):
                return None
            return dict(obj)

        return dict(wait_until(f"{kind}/{name} Ready at {revision}", ready, RECONCILE, self.detail))

    def sync(self, sha: str) -> dict[str, Any]:
        """Fetch now, then reconcile the Kustomization; its Ready object at ``sha``."""
        revision = f"main@sha1:{sha}"
        self.request_reconcile("GitRepository", "paperclip-gitops")
        wait_until(
            f"GitRepository at {revision}",
            lambda: (
                (self.flux("GitRepository", "paperclip-gitops") or {})
                .get("status", {})
                .get("artifact", {})
                .get("revision")
                == revision
            ),
            RECONCILE,
            self.detail,
        )
        # the dependency first: a dependsOn at an older revision of the same source requeues
        # the app's Kustomization for --requeue-dependency (2 s here; Flux's default is 30 s)
        self.request_reconcile("Kustomization", NAMESPACES_KS)
        self.wait_ready("Kustomization", NAMESPACES_KS, revision)
        self.request_reconcile("Kustomization", KS)
        return self.wait_ready("Kustomization", KS, revision)


def subset(want: Any, have: Any, path: str = "") -> list[str]:
    """Where ``have`` (live, with server defaults) does not carry ``want`` (the file). An
    empty list, mapping, zero or false is stored as absent (omitempty)."""
    if have is None and not isinstance(want, str) and not want:
        return []
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path}: {have!r} is not a mapping"]
        out = []
        for key, value in want.items():
            out += subset(value, have.get(key), f"{path}.{key}")
        return out
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [f"{path}: {have!r} != {want!r}"]
        out = []
        for index, (a, b) in enumerate(zip(want, have, strict=True)):
            out += subset(a, b, f"{path}[{index}]")
        return out
    return [] if want == have else [f"{path}: {have!r} != {want!r}"]


def bootstrap_secrets(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Secret name -> key, from the secrets bootstrap Job's NAME/KEY=FORM arguments."""
    [job] = [
        o for k, o in objects.items() if k.endswith("-secrets-bootstrap") and o["kind"] == "Job"
    ]
    [container] = job["spec"]["template"]["spec"]["containers"]
    found = {}
    for arg in container["args"]:
        if "/" in arg and "=" in arg:
            name, _, rest = arg.partition("/")
            found[name] = rest.partition("=")[0]
    assert found, container["args"]
    return found


# -- the environment ---------------------------------------------------------------------------


class State:
    env: FluxEnvironment
    api: Api
    trees: dict[str, Path]
    shas: dict[str, str]
    secret_values: dict[str, str]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    root = tmp_path_factory.mktemp("flux")
    s = State()
    s.trees = {"C1": synth(root / "C1")}
    s.trees["C2"] = tree_variant(
        s.trees["C1"],
        root / "C2",
        app_variant(
            root / "apps-c2",
            {
                f'PAPERCLIP_VERSION = "{TAG_1}"': f'PAPERCLIP_VERSION = "{TAG_2}"',
                "AgentsSpec(enabled=True)": (
                    "AgentsSpec.model_validate("
                    f'{{"enabled": True, "launcher": {{"image": "{LAUNCHER_2}"}}}})'
                ),
            },
        ),
    )
    s.trees["C4"] = tree_variant(
        s.trees["C2"],
        root / "C4",
        app_variant(
            root / "apps-c4",
            {
                f'PAPERCLIP_VERSION = "{TAG_1}"': f'PAPERCLIP_VERSION = "{TAG_2}"',
                "AgentsSpec(enabled=True)": "AgentsSpec(enabled=False)",
            },
        ),
    )
    s.shas = {}
    s.secret_values = {}
    begin = time.monotonic()
    try:
        with flux_running(root / "env") as env:
            s.env = env
            s.api = Api(env)
            print(
                f"\n[flux] control plane {env.plane.timings['start_s']:.1f}s, "
                f"Flux {env.flux.timings['start_s']:.1f}s, total {time.monotonic() - begin:.1f}s"
            )
            yield s
            for name, process in env.flux.processes.items():
                assert process.poll() is None, f"{name} died:\n{env.flux.log(name)}"
    except FluxError as exc:
        pytest.fail(f"Flux is unavailable: {exc}", pytrace=False)


def gitops_object(tree: Path, relative: str, url: str) -> dict[str, Any]:
    [obj] = load(tree / "gitops" / relative)
    if obj["kind"] == "GitRepository":
        obj = copy.deepcopy(obj)
        obj["spec"]["url"] = url  # the loopback server instead of apps/_gitops.yaml's repoURL
    return obj


# -- the tests ---------------------------------------------------------------------------------


def test_the_flux_release_is_the_pinned_one(state: State) -> None:
    built = versions(state.env.flux.home)
    assert built == {c: FLUX_RELEASE[c] for c in CONTROLLERS}
    # the CRDs installed are the very files constructs_lib/spec/crds.py pins (same release)
    installed = {p.name: p for p in state.env.flux.crd_files()}
    pinned = [c for c in PINNED if c.module.startswith("github.com/fluxcd/")]
    assert pinned
    for crd in pinned:
        path = installed[Path(crd.path).name]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == crd.sha256, crd.path


def test_kustomization_syncs_the_quickstart(state: State) -> None:
    env, api = state.env, state.api
    tree = state.trees["C1"]
    state.shas["C1"] = env.repo.commit(tree, "C1: dist/ as synthesized")
    for relative in (
        "flux/gitrepository-paperclip-gitops.yaml",
        "flux/kustomization-paperclip-gitops-namespaces.yaml",
        f"flux/kustomization-{KS}.yaml",
    ):
        apply(env.plane, gitops_object(tree, relative, env.repo.url), manager="kubectl")
    begin = time.monotonic()
    ks = api.wait_ready("Kustomization", KS, f"main@sha1:{state.shas['C1']}")
    print(f"\n[flux] first sync Ready in {time.monotonic() - begin:.1f}s")
    assert any("git-upload-pack" in r for r in env.git.requests), env.git.requests
    objects = tree_objects(tree)
    inventory = {e["id"] for e in ks["status"]["inventory"]["entries"]}
    for key, obj in objects.items():
        live = api.live(obj)
        assert live is not None, f"{key} was not applied"
        problems = subset(obj, live)
        assert not problems, f"{key} differs from dist/: {problems[:5]}"
        group = obj["apiVersion"].rpartition("/")[0] if "/" in obj["apiVersion"] else ""
        assert f"{APP_NS}_{obj['metadata']['name']}_{group}_{obj['kind']}" in inventory
    # the secrets bootstrap ran (as the kubelet would run its container) and made its Secrets
    for name, key in bootstrap_secrets(objects).items():
        secret = api.secret(name, APP_NS)
        assert secret is not None and key in secret.data, name
        state.secret_values[name] = secret.data[key]
    runs = [r for r in env.kubelet.runs if r.namespace == APP_NS]
    assert runs and all(r.returncode == 0 for r in runs), runs
    assert all(v not in r.output for r in runs for v in state.secret_values.values())
    pod = api.server_pod(APP_NS)
    assert pod.status.phase == "Running" and pod.spec.node_name == NODE_NAME
    assert pod.spec.containers[0].image.endswith(f":{TAG_1}")


def test_a_change_is_applied_and_the_job_recreated(state: State) -> None:
    env, api = state.env, state.api
    job_name = f"{APP}-secrets-bootstrap"
    old_job = api.get("batch/v1", "Job", job_name, APP_NS)
    old_pod_uid = api.server_pod(APP_NS).metadata.uid
    state.shas["C2"] = env.repo.commit(state.trees["C2"], "C2: new server tag, launcher image")
    begin = time.monotonic()
    ks = api.sync(state.shas["C2"])
    print(f"\n[flux] change applied (Ready) in {time.monotonic() - begin:.1f}s")
    statefulset = api.get("apps/v1", "StatefulSet", APP, APP_NS)
    assert statefulset["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{TAG_2}")
    # the workload rolled: a new server pod with the new image, Running on the kwok node
    pod = wait_until(
        "the server pod rolled",
        lambda: api.rolled_pod(APP_NS, old_pod_uid, TAG_2),
        RECONCILE,
        api.detail,
    )
    assert pod.spec.node_name == NODE_NAME
    # the Job (immutable template) was recreated with the new spec, not left failing
    job = api.get("batch/v1", "Job", job_name, APP_NS)
    assert job["metadata"]["uid"] != old_job["metadata"]["uid"]
    # the bootstrap runs on the server image: the new tag reached it too
    assert job["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{TAG_2}")
    launcher = api.get("apps/v1", "Deployment", f"{APP}-launcher", APP_NS)
    assert launcher["spec"]["template"]["spec"]["containers"][0]["image"] == LAUNCHER_2
    assert any(
        c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"]
    )
    ready = api.condition("Kustomization", KS)
    assert ready["reason"] == "ReconciliationSucceeded", ready
    assert ks["status"]["lastAttemptedRevision"] == ks["status"]["lastAppliedRevision"]
    # the in-cluster Secrets were left as they were by the second bootstrap run
    for name, value in state.secret_values.items():
        key = next(iter(api.secret(name, APP_NS).data))
        assert api.secret(name, APP_NS).data[key] == value, name


def _desired(live: dict[str, Any]) -> dict[str, Any]:
    """What an apply can change: labels, annotations and everything but status (uid too, so
    a recreated object counts as changed)."""
    meta = live["metadata"]
    body = {k: v for k, v in live.items() if k not in ("metadata", "status")}
    return {
        **body,
        "uid": meta["uid"],
        "labels": meta.get("labels"),
        "ann": meta.get("annotations"),
    }


def _normalized(api: Api, obj: dict[str, Any], namespace: str) -> Any:
    """The live object as the Kustomize sync and a Helm release should both make it."""
    live = api.live(obj, namespace)
    assert live is not None, f"{obj['kind']}/{obj['metadata']['name']} missing in {namespace}"
    meta = live["metadata"]
    drop = (
        "kustomize.toolkit.fluxcd.io/",
        "helm.toolkit.fluxcd.io/",
        "meta.helm.sh/",
        "pv.kubernetes.io/",
        "volume.kubernetes.io/",
        "deployment.kubernetes.io/",
        "batch.kubernetes.io/",
        "controller-uid",
        "job-name",
    )
    keep: dict[str, Any] = {"kind": live["kind"], "name": meta["name"]}
    for field in ("labels", "annotations"):
        keep[field] = {k: v for k, v in (meta.get(field) or {}).items() if not k.startswith(drop)}
    body = {k: v for k, v in live.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    spec = body.get("spec", {})
    if live["kind"] == "Job":
        spec.pop("selector", None)
        labels = spec["template"]["metadata"].get("labels", {})
        spec["template"]["metadata"]["labels"] = {
            k: v for k, v in labels.items() if not k.startswith(drop)
        }
    if live["kind"] == "PersistentVolumeClaim":
        spec.pop("volumeName", None)
    if live["kind"] == "Service":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    template = spec.get("template", {}).get("metadata", {}).get("annotations", {})
    if "paperclip.inc/config-hash" in template:
        # the hash covers namespace-specific data; it must match this namespace's ConfigMap
        from constructs_lib.constructs.names import config_hash

        config = f"{APP}-config" if live["kind"] == "StatefulSet" else f"{meta['name']}"
        data = api.core.read_namespaced_config_map(config, namespace).data
        assert template["paperclip.inc/config-hash"] == config_hash(data), meta["name"]
        template["paperclip.inc/config-hash"] = "<matches its ConfigMap>"
    keep["body"] = body
    if namespace == APP_NS:
        return keep
    # Helm stamps app.kubernetes.io/managed-by=Helm on what it installs (not on hooks)
    if keep["labels"].get(MANAGED_BY) == "Helm":
        keep["labels"][MANAGED_BY] = "paperclip-gitops"
    # the release namespace appears where the Kustomize tree has its own (names, URLs, args)
    return json.loads(json.dumps(keep).replace(namespace, APP_NS))


def test_the_helm_release_installs_and_upgrades(state: State) -> None:
    env, api = state.env, state.api
    tree = state.trees["C2"]
    release = gitops_object(tree, f"flux-helm/helmrelease-{HR}.yaml", env.repo.url)
    release["spec"]["targetNamespace"] = HELM_NS  # beside the Kustomize sync of the same app
    release["spec"]["storageNamespace"] = HELM_NS
    apply(
        env.plane,
        gitops_object(tree, "flux-helm/gitrepository-paperclip-gitops.yaml", env.repo.url),
        manager="kubectl",
    )
    begin = time.monotonic()
    apply(env.plane, release, manager="kubectl")
    hr = api.wait_ready("HelmRelease", HR)
    print(f"\n[flux] HelmRelease installed (Ready) in {time.monotonic() - begin:.1f}s")
    assert hr["status"]["history"][0]["status"] == "deployed"
    # the pre-install hook (secrets bootstrap) ran and made its Secrets in the release namespace
    objects = tree_objects(tree)
    runs = [r for r in env.kubelet.runs if r.namespace == HELM_NS]
    assert len(runs) >= 1 and all(r.returncode == 0 for r in runs), runs
    for name, key in bootstrap_secrets(objects).items():
        secret = api.secret(name, HELM_NS)
        assert secret is not None and key in secret.data, name
    # the resulting objects equal the Kustomize sync's (same commit)
    for key, obj in objects.items():
        assert _normalized(api, obj, HELM_NS) == _normalized(api, obj, APP_NS), key
    # an upgrade with values from the HelmRelease
    hr_resource = api.dyn.resources.get(api_version=release["apiVersion"], kind="HelmRelease")
    hr_resource.patch(
        name=HR,
        namespace=NAMESPACE,
        body={"spec": {"values": {"image": {"tag": TAG_HELM}}}},
        content_type="application/merge-patch+json",
    )
    begin = time.monotonic()
    hr = wait_until(
        "the HelmRelease upgraded",
        lambda: (
            (h := api.wait_ready("HelmRelease", HR))["status"]["history"][0]["version"] >= 2 and h
        ),
        RECONCILE,
        api.detail,
    )
    print(f"\n[flux] HelmRelease upgraded (Ready) in {time.monotonic() - begin:.1f}s")
    statefulset = api.get("apps/v1", "StatefulSet", APP, HELM_NS)
    assert statefulset["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        f":{TAG_HELM}"
    )
    assert len([r for r in env.kubelet.runs if r.namespace == HELM_NS]) > len(runs)  # pre-upgrade
    pod = wait_until(
        "the helm server pod rolled",
        lambda: (
            (p := api.server_pod(HELM_NS)).status.phase == "Running"
            and p.spec.containers[0].image.endswith(f":{TAG_HELM}")
            and p
        ),
        RECONCILE,
        api.detail,
    )
    assert pod.spec.node_name == NODE_NAME


def test_a_broken_commit_leaves_everything_running(state: State, tmp_path: Path) -> None:
    env, api = state.env, state.api
    broken = tmp_path / "C3"
    shutil.copytree(state.trees["C2"], broken)
    service = broken / APP / "kustomize" / f"service-{APP}.yaml"
    [svc] = load(service)
    svc["spec"]["ports"][0]["port"] = 70000  # the API server refuses it
    service.write_text(yaml.safe_dump(svc))
    statefulset = broken / APP / "kustomize" / f"statefulset-{APP}.yaml"
    statefulset.write_text(statefulset.read_text().replace(f":{TAG_2}", ":2026.9999.0"))
    objects = tree_objects(state.trees["C2"])
    before = {k: _desired(api.live(o)) for k, o in objects.items()}
    sha = env.repo.commit(broken, "C3: a Service port the API server refuses")
    revision = f"main@sha1:{sha}"
    api.request_reconcile("GitRepository", "paperclip-gitops")
    api.request_reconcile("Kustomization", NAMESPACES_KS)
    api.wait_ready("Kustomization", NAMESPACES_KS, revision)
    api.request_reconcile("Kustomization", KS)
    begin = time.monotonic()
    failed = wait_until(
        "the Kustomization to fail on the broken commit",
        lambda: (
            (c := api.condition("Kustomization", KS)).get("status") == "False"
            # a moment's wait for its dependency is not the failure this commit causes
            and c.get("reason") != "DependencyNotReady"
            and (api.flux("Kustomization", KS) or {}).get("status", {}).get("lastAttemptedRevision")
            == revision
            and c
        ),
        RECONCILE,
        api.detail,
    )
    print(f"\n[flux] broken commit reported in {time.monotonic() - begin:.1f}s")
    message = failed["message"]
    assert f"Service/{APP_NS}/{APP}" in message and "70000" in message, message
    assert "must be between 1 and 65535" in message, message
    ks = api.flux("Kustomization", KS)
    assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{state.shas['C2']}"
    after = {k: _desired(api.live(o)) for k, o in objects.items()}
    changed = {k for k in objects if before[k] != after[k]}
    assert not changed, f"objects changed by a failed reconcile: {changed}"
    live = api.get("apps/v1", "StatefulSet", APP, APP_NS)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{TAG_2}")
    assert api.server_pod(APP_NS).status.phase == "Running"
    # fixing the commit recovers
    state.shas["C2b"] = env.repo.commit(state.trees["C2"], "C3 reverted")
    api.sync(state.shas["C2b"])


def test_removed_objects_are_pruned_but_not_data(state: State) -> None:
    env, api = state.env, state.api
    before, after = tree_objects(state.trees["C2"]), tree_objects(state.trees["C4"])
    removed = {k: before[k] for k in set(before) - set(after)}
    assert any(k.startswith("Job/") for k in removed), sorted(removed)
    assert any(k.startswith("PersistentVolumeClaim/") for k in removed), sorted(removed)
    state.shas["C4"] = env.repo.commit(state.trees["C4"], "C4: agents switched off")
    begin = time.monotonic()
    api.sync(state.shas["C4"])
    print(f"\n[flux] prune commit applied (Ready) in {time.monotonic() - begin:.1f}s")
    for key, obj in removed.items():
        if obj["kind"] == "PersistentVolumeClaim":
            live = api.live(obj)
            assert live is not None and not live["metadata"].get("deletionTimestamp"), key
            assert live["status"]["phase"] == "Bound", key
        else:
            wait_until(f"{key} pruned", lambda o=obj: api.live(o) is None, RECONCILE, api.detail)
    for key, obj in after.items():
        assert api.live(obj) is not None, key
    # the Secrets the bootstrap made in the cluster are never pruned
    for name, value in state.secret_values.items():
        secret = api.secret(name, APP_NS)
        assert secret is not None and value in secret.data.values(), name
    assert base64.b64decode(next(iter(state.secret_values.values())))
    assert api.server_pod(APP_NS).status.phase == "Running"
