"""Real Argo CD (application controller, ApplicationSet controller and repo server of one
release) reconciles dist/ from a git repository served over smart HTTP, on the test control
plane. Every tree is synthesized from a copy of apps/ whose _gitops.yaml names the loopback
git server, and committed as generated. Only the root Application of dist/gitops/argocd is
applied by hand, once; everything else arrives by git. Everything is asserted through the API
server.

The tests of this module run in order on one environment; each commit moves the repository on:
  C1  every app                                -> test_the_root_application_brings_up_every_app
                                                  test_hooks_run_in_order
  C2  quickstart: new server tag, launcher     -> test_a_change_commit_rolls_the_server
      (a Helm Application of C2's chart)       -> test_the_helm_application_equals_the_kustomize_one
  C3  C2 + a Service port the API server refuses -> test_a_broken_commit_is_reported_and_not_applied
  C4  quickstart agents switched off           -> test_prune_keeps_the_claims_and_the_secrets
  C5  C4 + a new app (team-b, its second instance -> test_a_committed_app_is_generated_and_synced
      in a namespace of its own, team-b-two)
The controller runs under the ServiceAccount argoenv.py builds from the AppProject
(test_the_controller_holds_only_what_the_project_allows).
"""

from __future__ import annotations

import copy
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.argocd.argoenv import (
    APPSET,
    CONTROLLER,
    NAMESPACE,
    ArgoCDError,
    ArgoEnvironment,
    argocd_running,
    version,
)
from tests.controlplane.cluster import NODE_NAME, ControlPlane
from tests.flux.fluxenv import REPO, apply, wait_until
from tests.flux.test_flux import (
    APP,
    APP_NS,
    HELM_NS,
    LAUNCHER_2,
    TAG_1,
    TAG_2,
    _desired,
    _normalized,
    bootstrap_secrets,
    load,
    subset,
    tree_objects,
)
from tests.flux.test_flux_bootstrap import NEW_APP, synth
from tests.live_api import LiveApi

pytestmark = [pytest.mark.argocd, pytest.mark.k8s, pytest.mark.timeout(900)]

ROOT = "paperclip-gitops"
APPSET_NAME = "paperclip"
PROJECT = "paperclip"
ARGO = "argoproj.io/v1alpha1"
RECONCILE = 240.0
TRACKING = "argocd.argoproj.io/tracking-id"
HOOK = "argocd.argoproj.io/hook"
WAVE = "argocd.argoproj.io/sync-wave"
HELM_APP = f"paperclip-{APP}-helm"
# team-b's second instance, in a namespace beyond the Application's destination (team-b): the
# one CreateNamespace=true does not create
SECOND_NS = "team-b-two"
SECOND_INSTANCE = f"""\
---
apiVersion: paperclip.inc/v1alpha1
kind: Instance
metadata:
  name: {SECOND_NS}
  namespace: {SECOND_NS}
spec:
  image: {{tag: {TAG_1}}}
  deployment: {{mode: authenticated}}
  database: {{mode: embedded}}
"""


# -- commits -----------------------------------------------------------------------------------


def apps_variant(base: Path, out: Path, replacements: dict[str, str]) -> Path:
    """A copy of the apps directory ``base`` with ``replacements`` made in the quickstart."""
    shutil.copytree(base, out)
    path = out / f"{APP}.py"
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, f"apps/{APP}.py no longer contains {old!r}; update this test"
        text = text.replace(old, new)
    path.write_text(text)
    return out


def app_names(tree: Path) -> dict[str, str]:
    """app -> namespace, from the app.json files the ApplicationSet generates from."""
    return {
        (info := json.loads(p.read_text()))["app"]: info["namespace"]
        for p in sorted(tree.glob("*/app.json"))
    }


# -- what happened, in order -------------------------------------------------------------------


@dataclass
class Event:
    revision: int
    kind: str
    type: str
    obj: dict[str, Any]


@dataclass
class Recorder:
    """Watches Jobs, Deployments and StatefulSets in every namespace and keeps every event.
    The test cluster has one etcd, whose revision orders every write: the resourceVersion an
    event carries says which of two writes, of any kinds, came first."""

    plane: ControlPlane
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Recorder:
        api = self.plane.api_client()
        batch, apps = client.BatchV1Api(api), client.AppsV1Api(api)
        for kind, lister in (
            ("Job", batch.list_job_for_all_namespaces),
            ("Deployment", apps.list_deployment_for_all_namespaces),
            ("StatefulSet", apps.list_stateful_set_for_all_namespaces),
        ):
            thread = threading.Thread(target=self._watch, args=(kind, lister), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _watch(self, kind: str, lister: Callable[..., Any]) -> None:
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                stream = watch.Watch().stream(
                    lister, resource_version=resource_version, timeout_seconds=2, deserialize=False
                )
                for event in stream:
                    obj = event["object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    with self._lock:
                        self.events.append(Event(int(resource_version), kind, event["type"], obj))
            except ApiException as exc:  # 410 Gone: list again
                self.errors.append(f"{kind}: {exc.status} {exc.reason}")
                resource_version = None
            except Exception as exc:  # keep watching; the tests read the errors
                self.errors.append(f"{kind}: {exc}"[:300])
                self._stop.wait(0.5)

    def first(
        self, kind: str, namespace: str, name: str, when: Callable[[dict[str, Any]], bool]
    ) -> int | None:
        """The resourceVersion of the first event of the object at which ``when`` held."""
        with self._lock:
            events = list(self.events)
        for event in events:
            meta = event.obj["metadata"]
            same = (event.kind, meta["namespace"], meta["name"]) == (kind, namespace, name)
            if same and event.type != "DELETED" and when(event.obj):
                return event.revision
        return None


def condition(obj: dict[str, Any], type_: str) -> bool:
    return any(
        c["type"] == type_ and c["status"] == "True"
        for c in obj.get("status", {}).get("conditions") or []
    )


# -- API helpers -------------------------------------------------------------------------------


class Api(LiveApi):
    def __init__(self, env: ArgoEnvironment) -> None:
        super().__init__(env.plane, APP)
        self.env = env

    def app(self, name: str) -> Any:
        return self.get(ARGO, "Application", name, NAMESPACE)

    def apps(self) -> list[dict[str, Any]]:
        resource = self.dyn.resources.get(api_version=ARGO, kind="Application")
        return [a.to_dict() for a in resource.get(namespace=NAMESPACE).items]

    def annotate(self, kind: str, name: str, annotations: dict[str, str]) -> None:
        resource = self.dyn.resources.get(api_version=ARGO, kind=kind)
        resource.patch(
            name=name,
            namespace=NAMESPACE,
            body={"metadata": {"annotations": annotations}},
            content_type="application/merge-patch+json",
        )

    def refresh(self) -> None:
        """What Argo CD's webhook does on a push: refresh every Application and the
        ApplicationSet (each then resolves the branch again)."""
        for app in self.apps():
            self.annotate("Application", app["metadata"]["name"], {REFRESH: "normal"})
        if self.get(ARGO, "ApplicationSet", APPSET_NAME, NAMESPACE) is not None:
            self.annotate("ApplicationSet", APPSET_NAME, {APPSET_REFRESH: "true"})

    def detail(self) -> str:
        parts = []
        for app in self.apps():
            status = app.get("status", {})
            summary = {
                "sync": status.get("sync"),
                "health": status.get("health"),
                "conditions": status.get("conditions"),
                "operationState": {
                    k: (status.get("operationState") or {}).get(k)
                    for k in ("phase", "message", "syncResult")
                },
                "unhealthy": [
                    r
                    for r in status.get("resources", [])
                    if r.get("health", {}).get("status", "Healthy") != "Healthy"
                    or r.get("status") != "Synced"
                ],
            }
            parts.append(f"Application {app['metadata']['name']}: {json.dumps(summary)[:2500]}")
        parts.append(f"stand-in kubelet errors: {self.env.kubelet.errors[-5:]}")
        parts.append(f"stand-in platform errors: {self.env.platform.errors[-5:]}")
        parts.append(self.env.argocd.logs(15))
        return "\n".join(parts)

    def wait_synced(self, name: str, sha: str, operation: bool = True) -> dict[str, Any]:
        """The Application Synced and Healthy at ``sha`` (and, with ``operation``, its last
        sync operation Succeeded at ``sha``)."""

        def synced() -> dict[str, Any] | None:
            app = self.app(name)
            status = (app or {}).get("status", {})
            state = status.get("operationState") or {}
            if app.get("operation") or state.get("phase") == "Running":
                return None
            if status.get("sync", {}).get("status") != "Synced":
                return None
            if status["sync"].get("revision") != sha:
                return None
            if status.get("health", {}).get("status") != "Healthy":
                return None
            if operation and (
                state.get("phase") != "Succeeded" or state["syncResult"].get("revision") != sha
            ):
                return None
            return dict(app)

        return dict(
            wait_until(f"Application {name} Synced at {sha}", synced, RECONCILE, self.detail)
        )


REFRESH = "argocd.argoproj.io/refresh"
APPSET_REFRESH = "argocd.argoproj.io/application-set-refresh"


# -- the environment ---------------------------------------------------------------------------


class State:
    env: ArgoEnvironment
    api: Api
    recorder: Recorder
    trees: dict[str, Path]
    shas: dict[str, str]
    secret_values: dict[str, str]


def synthesize(root: Path, url: str) -> dict[str, Path]:
    """The commits' trees, from copies of apps/ whose repoURL is ``url``."""
    apps = root / "apps-c1"
    shutil.copytree(REPO / "apps", apps, ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load((apps / "_gitops.yaml").read_text())
    config["repoURL"] = url  # this repository, as the loopback server serves it
    config["apps"] = None
    (apps / "_gitops.yaml").write_text(yaml.safe_dump(config))
    tag = {f'PAPERCLIP_VERSION = "{TAG_1}"': f'PAPERCLIP_VERSION = "{TAG_2}"'}
    c2 = apps_variant(
        apps,
        root / "apps-c2",
        {
            **tag,
            "AgentsSpec(enabled=True)": (
                "AgentsSpec.model_validate("
                f'{{"enabled": True, "launcher": {{"image": "{LAUNCHER_2}"}}}})'
            ),
        },
    )
    c4 = apps_variant(
        apps, root / "apps-c4", {**tag, "AgentsSpec(enabled=True)": "AgentsSpec(enabled=False)"}
    )
    c5 = root / "apps-c5"
    shutil.copytree(c4, c5)
    (c5 / "team-b.yaml").write_text(NEW_APP + SECOND_INSTANCE)
    return {
        name: synth(directory, root / name)
        for name, directory in (("C1", apps), ("C2", c2), ("C4", c4), ("C5", c5))
    }


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    root = tmp_path_factory.mktemp("argocd")
    s = State()
    s.shas, s.secret_values, s.trees = {}, {}, {}

    def trees(url: str) -> list[Path]:
        s.trees = synthesize(root, url)
        return list(s.trees.values())

    begin = time.monotonic()
    try:
        with argocd_running(root / "env", trees) as env, Recorder(env.plane) as recorder:
            s.env, s.api, s.recorder = env, Api(env), recorder
            print(
                f"\n[argocd] control plane {env.plane.timings['start_s']:.1f}s, "
                f"Argo CD {env.argocd.timings['start_s']:.1f}s, "
                f"total {time.monotonic() - begin:.1f}s"
            )
            yield s
            for name, process in env.argocd.processes.items():
                assert process.poll() is None, f"{name} died:\n{env.argocd.log(name)}"
    except ArgoCDError as exc:
        pytest.fail(f"Argo CD is unavailable: {exc}", pytrace=False)


def managed(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'Kind/name' -> the Application's status entry of each resource it manages."""
    return {f"{r['kind']}/{r['name']}": r for r in app.get("status", {}).get("resources", [])}


# -- the tests ---------------------------------------------------------------------------------


def test_the_root_application_brings_up_every_app(state: State) -> None:
    env, api = state.env, state.api
    assert "github.com/argoproj/argo-cd/v3 v3.6.2" in version(env.argocd.home)
    tree = state.trees["C1"]
    state.shas["C1"] = sha = env.repo.commit(tree, "C1: every app")
    began = time.monotonic()
    # the one apply by hand: the root Application, as generated
    [root] = load(tree / "gitops" / "argocd" / f"application-{ROOT}.yaml")
    apply(env.plane, root, manager="kubectl")
    app = api.wait_synced(ROOT, sha)
    print(f"\n[argocd] root Application synced in {time.monotonic() - began:.1f}s")
    # it manages its own directory: itself, the AppProject and the ApplicationSet
    assert set(managed(app)) == {
        f"Application/{ROOT}",
        f"AppProject/{PROJECT}",
        f"ApplicationSet/{APPSET_NAME}",
    }
    # the AppProject is applied before the ApplicationSet that names it (a lower sync wave):
    # the ApplicationSet controller, finding no project, would try again only after 3 minutes
    waves = {
        o["kind"]: int(o["metadata"].get("annotations", {}).get(WAVE, "0"))
        for p in sorted((tree / "gitops" / "argocd").glob("*.yaml"))
        for o in load(p)
        if o["kind"] != "Kustomization"
    }
    assert waves["AppProject"] < waves["ApplicationSet"], waves
    expected = app_names(tree)
    assert set(expected) == {"quickstart", "production", "production-full"}
    wait_until(
        "the ApplicationSet's Applications",
        lambda: {a["metadata"]["name"] for a in api.apps()} >= {f"paperclip-{n}" for n in expected},
        RECONCILE,
        api.detail,
    )
    print(f"[argocd] the ApplicationSet generated every app in {time.monotonic() - began:.1f}s")
    times = {}
    retries = {}
    for name, namespace in expected.items():
        generated = api.wait_synced(f"paperclip-{name}", sha)
        times[name] = time.monotonic() - began
        retries[name] = generated["status"]["operationState"].get("retryCount", 0)
        assert generated["spec"]["project"] == PROJECT
        assert generated["spec"]["destination"]["namespace"] == namespace
        [owner] = generated["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("ApplicationSet", APPSET_NAME)
        objects = tree_objects(tree, name)
        resources = managed(generated)
        for key, obj in objects.items():
            live = api.live(obj)
            assert live is not None, f"{name}: {key} was not applied"
            problems = subset(obj, live)
            assert not problems, f"{name}: {key} differs from dist/: {problems[:5]}"
            hook = HOOK in obj["metadata"].get("annotations", {})
            assert hook or resources[key]["status"] == "Synced", (name, key)
    print(
        "[argocd] first sync (root applied -> Synced and Healthy): "
        + ", ".join(f"{n} {t:.1f}s ({retries[n]} retries)" for n, t in times.items())
    )
    # the secrets bootstrap ran (as the kubelet would run its container) and made its Secrets
    for name, key in bootstrap_secrets(tree_objects(tree)).items():
        secret = api.secret(name, APP_NS)
        assert secret is not None and key in secret.data, name
        state.secret_values[name] = secret.data[key]
    runs = [r for r in env.kubelet.runs if r.namespace == APP_NS]
    assert runs and all(r.returncode == 0 for r in runs), runs
    assert all(v not in r.output for r in runs for v in state.secret_values.values())
    pod = api.server_pod(APP_NS)
    assert pod.status.phase == "Running" and pod.spec.node_name == NODE_NAME
    assert pod.spec.containers[0].image.endswith(f":{TAG_1}")


def test_hooks_run_in_order(state: State) -> None:
    api, recorder, tree = state.api, state.recorder, state.trees["C1"]
    for name, namespace in app_names(tree).items():
        objects = tree_objects(tree, name)
        hooks = {
            k: o["metadata"]["annotations"][HOOK]
            for k, o in objects.items()
            if HOOK in o["metadata"].get("annotations", {})
        }
        [bootstrap] = [
            k.partition("/")[2]
            for k in hooks
            if k.endswith("-secrets-bootstrap") and k.startswith("Job/")
        ]
        assert hooks[f"Job/{bootstrap}"] == "PreSync"
        done = recorder.first("Job", namespace, bootstrap, lambda o: condition(o, "Complete"))
        assert done is not None, f"{name}: the secrets bootstrap Job never completed"
        workloads = [
            (o["kind"], o["metadata"]["name"])
            for o in objects.values()
            if o["kind"] in ("Deployment", "StatefulSet")
        ]
        assert workloads
        for kind, workload in workloads:
            created = recorder.first(kind, namespace, workload, lambda o: True)
            assert created is not None and done < created, (
                f"{name}: {kind}/{workload} (rv {created}) before the secrets bootstrap "
                f"completed (rv {done})"
            )
        # Argo CD's own account of the sync: each hook ran in its phase and succeeded
        app = api.app(f"paperclip-{name}")
        results = {
            f"{r['kind']}/{r['name']}": r
            for r in app["status"]["operationState"]["syncResult"]["resources"]
        }
        for key, phase in hooks.items():
            assert results[key]["syncPhase"] == phase, (name, key, results[key])
            assert results[key].get("hookPhase") in (None, "Succeeded"), (name, key)
        assert results[f"Job/{bootstrap}"]["hookPhase"] == "Succeeded"
        admin = [
            k.partition("/")[2]
            for k, p in hooks.items()
            if p == "PostSync" and k.startswith("Job/")
        ]
        for job in admin:
            [server] = [
                o
                for o in objects.values()
                if o["kind"] in ("Deployment", "StatefulSet")
                and o["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
                == "server"
            ]
            server_name = server["metadata"]["name"]
            available = recorder.first(
                server["kind"],
                namespace,
                server_name,
                lambda o: (o.get("status", {}).get("readyReplicas") or 0) >= 1,
            )
            created = recorder.first("Job", namespace, job, lambda o: True)
            assert available is not None and created is not None
            assert available < created, (
                f"{name}: the admin bootstrap Job (rv {created}) before the server was ready "
                f"(rv {available})"
            )
            runs = [r for r in state.env.platform.admin_runs if r.namespace == namespace]
            assert runs and all(r.server_pods_ready >= 1 for r in runs), runs
            assert results[f"Job/{job}"]["hookPhase"] == "Succeeded"
    # production-full is the app with the admin bootstrap Job
    assert any(
        r.namespace == app_names(tree)["production-full"] for r in state.env.platform.admin_runs
    )


def test_a_change_commit_rolls_the_server(state: State) -> None:
    env, api = state.env, state.api
    job_name = f"{APP}-secrets-bootstrap"
    old_job = api.get("batch/v1", "Job", job_name, APP_NS)
    old_pod_uid = api.server_pod(APP_NS).metadata.uid
    state.shas["C2"] = sha = env.repo.commit(
        state.trees["C2"], "C2: new server tag, launcher image"
    )
    began = time.monotonic()
    api.refresh()
    api.wait_synced(f"paperclip-{APP}", sha)
    print(f"\n[argocd] change synced in {time.monotonic() - began:.1f}s")
    statefulset = api.get("apps/v1", "StatefulSet", APP, APP_NS)
    assert statefulset["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{TAG_2}")
    pod = wait_until(
        "the server pod rolled",
        lambda: api.rolled_pod(APP_NS, old_pod_uid, TAG_2),
        RECONCILE,
        api.detail,
    )
    assert pod.spec.node_name == NODE_NAME
    print(f"[argocd] server pod rolled in {time.monotonic() - began:.1f}s")
    # the PreSync hook ran again (BeforeHookCreation: a new Job with the new image)
    job = api.get("batch/v1", "Job", job_name, APP_NS)
    assert job["metadata"]["uid"] != old_job["metadata"]["uid"]
    [wanted] = tree_objects(state.trees["C2"])[f"Job/{job_name}"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == wanted["image"]
    assert old_job["spec"]["template"]["spec"]["containers"][0]["image"] != wanted["image"]
    assert condition(job, "Complete")
    # the in-cluster Secrets were left as they were by the second bootstrap run
    for name, value in state.secret_values.items():
        secret = api.secret(name, APP_NS)
        assert value in secret.data.values(), name
    # the other apps did not change: synced at the new commit without a sync operation
    for name in app_names(state.trees["C2"]):
        if name != APP:
            api.wait_synced(f"paperclip-{name}", sha, operation=False)


def test_the_helm_application_equals_the_kustomize_one(state: State) -> None:
    env, api = state.env, state.api
    tree = state.trees["C2"]
    # The generated Helm Application, beside the Kustomize sync of the same app: another name
    # and namespace, in a copy of the generated AppProject whose destination is that namespace.
    [project] = load(tree / "gitops" / "argocd-helm" / f"appproject-{PROJECT}.yaml")
    project = copy.deepcopy(project)
    project["metadata"]["name"] = HELM_APP
    for destination in project["spec"]["destinations"]:
        destination["namespace"] = HELM_NS
    project["spec"]["destinations"] = project["spec"]["destinations"][:1]
    [helm_app] = load(tree / "gitops" / "argocd-helm" / f"application-paperclip-{APP}.yaml")
    helm_app = copy.deepcopy(helm_app)
    assert helm_app["spec"]["source"]["path"] == f"dist/{APP}/helm"
    assert helm_app["spec"]["source"]["repoURL"] == env.repo.url  # as generated
    helm_app["metadata"]["name"] = HELM_APP
    helm_app["spec"]["project"] = HELM_APP
    helm_app["spec"]["destination"]["namespace"] = HELM_NS
    began = time.monotonic()
    apply(env.plane, project, manager="kubectl")
    apply(env.plane, helm_app, manager="kubectl")
    app = api.wait_synced(HELM_APP, state.shas["C2"])
    print(f"\n[argocd] Helm Application synced in {time.monotonic() - began:.1f}s")
    assert app["status"]["sourceType"] == "Helm"
    runs = [r for r in env.kubelet.runs if r.namespace == HELM_NS]
    assert runs and all(r.returncode == 0 for r in runs), runs
    objects = tree_objects(tree)
    for name, key in bootstrap_secrets(objects).items():
        secret = api.secret(name, HELM_NS)
        assert secret is not None and key in secret.data, name
    for key, obj in objects.items():
        helm, kustomize = (_normalized(api, obj, ns) for ns in (HELM_NS, APP_NS))
        for side in (helm, kustomize):
            side["annotations"].pop(TRACKING, None)  # names the Application
        assert helm == kustomize, key


def test_a_broken_commit_is_reported_and_not_applied(state: State, tmp_path: Path) -> None:
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
    last_operation = api.app(f"paperclip-{APP}")["status"]["operationState"]
    sha = env.repo.commit(broken, "C3: a Service port the API server refuses")
    began = time.monotonic()
    api.refresh()

    def reported() -> Any:
        status = (api.app(f"paperclip-{APP}") or {}).get("status", {})
        if status.get("sync", {}).get("revision") != sha:
            return None
        errors = [c for c in status.get("conditions") or [] if c["type"] == "ComparisonError"]
        return (status, errors[0]["message"]) if errors else None

    status, message = wait_until("the broken commit reported", reported, RECONCILE, api.detail)
    print(f"\n[argocd] broken commit reported in {time.monotonic() - began:.1f}s")
    # the API server's own message, from the server-side dry run of the diff
    assert f"Service/{APP}" in message or f'Service "{APP}"' in message, message
    assert "70000" in message and "must be between 1 and 65535" in message, message
    assert status["sync"]["status"] == "Unknown"
    # no sync was started: the last operation is still C2's, and no object changed
    assert status["operationState"] == last_operation
    after = {k: _desired(api.live(o)) for k, o in objects.items()}
    changed = {k for k in objects if before[k] != after[k]}
    assert not changed, f"objects changed by the broken commit: {changed}"
    assert api.server_pod(APP_NS).status.phase == "Running"
    # fixing the commit recovers (the same objects as C2: nothing to sync)
    state.shas["C2b"] = sha = env.repo.commit(state.trees["C2"], "C3 reverted")
    api.refresh()
    app = api.wait_synced(f"paperclip-{APP}", sha, operation=False)
    assert not [c for c in app["status"].get("conditions") or [] if c["type"] == "ComparisonError"]


def test_prune_keeps_the_claims_and_the_secrets(state: State) -> None:
    env, api = state.env, state.api
    before, after = tree_objects(state.trees["C2"]), tree_objects(state.trees["C4"])
    removed = {k: before[k] for k in set(before) - set(after)}
    assert any(k.startswith("Deployment/") for k in removed), sorted(removed)
    claims = {k for k in removed if k.startswith("PersistentVolumeClaim/")}
    assert claims, sorted(removed)
    state.shas["C4"] = sha = env.repo.commit(state.trees["C4"], "C4: agents switched off")
    began = time.monotonic()
    api.refresh()

    def pruned() -> Any:
        app = api.app(f"paperclip-{APP}") or {}
        status = app.get("status", {})
        state_ = status.get("operationState") or {}
        if app.get("operation") or state_.get("phase") != "Succeeded":
            return None
        if state_["syncResult"].get("revision") != sha or status["health"]["status"] != "Healthy":
            return None
        return app

    wait_until("the prune commit synced", pruned, RECONCILE, api.detail)
    print(f"\n[argocd] prune commit synced in {time.monotonic() - began:.1f}s")
    hooks = {k for k, o in removed.items() if HOOK in o["metadata"].get("annotations", {})}
    for key, obj in removed.items():
        if key in claims:
            live = api.live(obj)
            assert live is not None and not live["metadata"].get("deletionTimestamp"), key
            assert live["status"]["phase"] == "Bound", key
        elif key not in hooks:
            wait_until(f"{key} pruned", lambda o=obj: api.live(o) is None, RECONCILE, api.detail)
    for key, obj in after.items():
        assert api.live(obj) is not None, key

    # What is left is flagged: the claims kept on purpose (Prune=false) are the only resources
    # not Synced; hooks no longer in git are never pruned by Argo CD (only their
    # hook-delete-policy removes them) and do not count towards the sync status.
    # The status of the operation is written before the next comparison refreshes the resource
    # list: wait for a comparison that has seen the prune.
    def compared() -> Any:
        resources = managed(api.app(f"paperclip-{APP}") or {})
        pending = {k for k, r in resources.items() if not r.get("hook") and r["status"] != "Synced"}
        return resources if pending <= claims else None

    resources = wait_until("a comparison after the prune", compared, RECONCILE, api.detail)
    out_of_sync = {k for k, r in resources.items() if not r.get("hook") and r["status"] != "Synced"}
    assert all(resources[k].get("requiresPruning") for k in out_of_sync)
    left = {k for k in hooks if api.live(removed[k]) is not None}
    assert all(resources[k].get("hook") and resources[k].get("requiresPruning") for k in left)
    print(
        f"[argocd] left after the prune: {sorted(out_of_sync)} (Prune=false), "
        f"{sorted(left)} (hooks)"
    )
    # the Secrets the bootstrap made in the cluster are never pruned
    for name, value in state.secret_values.items():
        secret = api.secret(name, APP_NS)
        assert secret is not None and value in secret.data.values(), name
    assert api.server_pod(APP_NS).status.phase == "Running"


def test_a_committed_app_is_generated_and_synced(state: State) -> None:
    env, api = state.env, state.api
    tree = state.trees["C5"]
    assert (tree / "team-b" / "kustomize").is_dir()
    state.shas["C5"] = sha = env.repo.commit(tree, "C5: add team-b")
    began = time.monotonic()
    api.refresh()  # nothing is applied by hand: the root and the ApplicationSet pick it up
    generated = wait_until(
        "team-b's Application", lambda: api.app("paperclip-team-b"), RECONCILE, api.detail
    )
    print(f"\n[argocd] committed app generated in {time.monotonic() - began:.1f}s")
    assert generated["spec"]["project"] == PROJECT
    assert generated["spec"]["destination"]["namespace"] == "team-b"
    root = api.wait_synced(ROOT, sha, operation=False)
    project = api.get(ARGO, "AppProject", PROJECT, NAMESPACE)
    assert {"team-b", SECOND_NS} <= {d["namespace"] for d in project["spec"]["destinations"]}
    # The ApplicationSet and the root (which brings the AppProject that allows team-b's
    # namespace) reconcile independently; an Application first seen before its project allowed
    # its destination is not requeued by the project's change, only by its next refresh, which
    # a second push or Argo CD's periodic refresh would bring. Ask for it now.
    conditions = (api.app("paperclip-team-b") or {}).get("status", {}).get("conditions") or []
    blocked = [c["message"] for c in conditions if c["type"] == "InvalidSpecError"]
    api.annotate("Application", "paperclip-team-b", {REFRESH: "normal"})
    app = api.wait_synced("paperclip-team-b", sha)
    print(
        f"[argocd] committed app synced in {time.monotonic() - began:.1f}s"
        + (f" (first blocked: {blocked[0]})" if blocked else "")
    )
    for key, obj in tree_objects(tree, "team-b").items():
        assert api.live(obj) is not None, key
    assert app["status"]["health"]["status"] == "Healthy"
    assert api.get("apps/v1", "StatefulSet", "team-b", "team-b") is not None
    assert api.get("apps/v1", "StatefulSet", SECOND_NS, SECOND_NS) is not None
    # the root brings the namespace of the second instance (CreateNamespace=true creates only
    # the destination), never to be pruned with the data in it
    assert f"Namespace/{SECOND_NS}" in managed(root)
    namespace = api.get("v1", "Namespace", SECOND_NS, None)
    assert namespace is not None
    assert namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false"


def test_the_controller_holds_only_what_the_project_allows(state: State) -> None:
    env, api = state.env, state.api
    authorization = client.AuthorizationV1Api(api.api)
    user = f"system:serviceaccount:{NAMESPACE}:{CONTROLLER}"

    def allowed(
        verb: str, resource: str, namespace: str = "", group: str = "", name: str = ""
    ) -> bool:
        review = authorization.create_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user,
                    "groups": [
                        "system:serviceaccounts",
                        f"system:serviceaccounts:{NAMESPACE}",
                        "system:authenticated",
                    ],
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "namespace": namespace,
                        "group": group,
                        "name": name,
                    },
                },
            }
        )
        return bool(review.status.allowed)

    # what it synced with: the kinds of the AppProject
    assert allowed("patch", "statefulsets", APP_NS, "apps")
    assert allowed("create", "namespaces")
    assert allowed("delete", "jobs", APP_NS, "batch")
    # not what the project does not allow, and no Secret but the ones its Roles name
    assert not allowed("get", "secrets", APP_NS)
    assert not allowed("list", "secrets")
    assert not allowed("create", "clusterroles", group="rbac.authorization.k8s.io")
    assert not allowed("create", "customresourcedefinitions", group="apiextensions.k8s.io")
    assert not allowed("create", "daemonsets", APP_NS, "apps")
    assert not allowed("escalate", "roles", APP_NS, "rbac.authorization.k8s.io")
    assert not allowed("bind", "roles", APP_NS, "rbac.authorization.k8s.io")
    assert not allowed("create", "pods", APP_NS)
    assert not allowed("delete", "applications", "default", "argoproj.io")
    # ... and its kubeconfig is that ServiceAccount's (what synced every object above)
    kubeconfig = yaml.safe_load((env.argocd.root / f"{CONTROLLER}.kubeconfig").read_text())
    token = kubeconfig["users"][0]["user"]["token"]
    review = client.AuthenticationV1Api(env.plane.api_client(token)).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    assert review.status.user_info.username == user
    appset = yaml.safe_load((env.argocd.root / f"{APPSET}.kubeconfig").read_text())
    assert appset["users"][0]["user"]["token"] != token
