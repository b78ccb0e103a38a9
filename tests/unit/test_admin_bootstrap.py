"""auth.adminUser: the admin bootstrap Job <name>-bootstrap and its script ConfigMap — a
post-sync hook for Argo CD, Helm and Flux, the server's env/volumes/pod security context,
credentials only as references, the script hash, and the rules."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.constructs.admin_bootstrap import SCRIPT, job_body, script_data
from constructs_lib.constructs.build import plan
from constructs_lib.constructs.names import config_hash
from constructs_lib.constructs.package_files import scripts
from constructs_lib.errors import UserError
from tests.conftest import make_instance, synth_objects

ADMIN = {"email": "admin@example.com", "passwordSecretRef": {"name": "admin", "key": "password"}}
BASE: dict[str, Any] = {
    "deployment": {"mode": "authenticated"},
    "auth": {"secretRef": {"name": "auth", "key": "BETTER_AUTH_SECRET"}, "adminUser": ADMIN},
    "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
}


def bootstrap(patch: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return synth_objects(make_instance({**BASE, **(patch or {})}))


def pod_of(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Job/demo-bootstrap"]["spec"]["template"]["spec"]
    return spec


def test_the_job_is_a_post_sync_hook_for_argo_helm_and_flux() -> None:
    objects = bootstrap()
    job = objects["Job/demo-bootstrap"]
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "bootstrap"
    assert job["metadata"]["annotations"] == {
        "argocd.argoproj.io/hook": "PostSync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
        "helm.sh/hook": "post-install,post-upgrade",
        "helm.sh/hook-delete-policy": "before-hook-creation",
        "kustomize.toolkit.fluxcd.io/force": "Enabled",
    }
    spec = job["spec"]
    assert spec["backoffLimit"] == 3
    assert spec["activeDeadlineSeconds"] == 1800
    # no TTL (a deleted hook Job loops Argo CD/Flux), no manual selector (controller-uid)
    assert "ttlSecondsAfterFinished" not in spec and "manualSelector" not in spec
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["command"] == ["/bin/sh", "/etc/paperclip-bootstrap/admin-bootstrap.sh"]
    assert objects["ConfigMap/demo-bootstrap"]["data"] == {SCRIPT: scripts()[SCRIPT]}


def test_credentials_are_references_and_the_inputs_are_the_scripts() -> None:
    objects = bootstrap(
        {"deployment": {"mode": "authenticated", "publicURL": "https://pc.example.com"}}
    )
    [container] = pod_of(objects)["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ADMIN_PASSWORD"] == {
        "name": "ADMIN_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "admin", "key": "password"}},
    }
    assert env["ADMIN_EMAIL"]["value"] == "admin@example.com"
    assert env["ADMIN_NAME"]["value"] == "Admin"
    assert env["SVC_URL"]["value"] == "http://demo.team.svc.cluster.local:3100"
    assert env["SERVER_URL"]["value"] == "https://pc.example.com"
    # the server's own env: its Secret references and its ConfigMap
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "url"}}
    assert env["BETTER_AUTH_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "auth"
    assert {"configMapRef": {"name": "demo-config"}} in container["envFrom"]
    assert all("value" not in e or "password" not in e["value"].lower() for e in env.values())


def test_the_pod_uses_the_servers_security_context_volumes_and_node() -> None:
    objects = bootstrap(
        {
            "security": {"podSecurityContext": {"fsGroup": 1000680000, "runAsUser": 1000680000}},
            "availability": {"nodeSelector": {"pool": "apps"}},
        }
    )
    server = objects["StatefulSet/demo"]["spec"]["template"]["spec"]
    pod = pod_of(objects)
    # the #111 fix: the server's pod security context, not a hard-coded fsGroup 1000
    assert pod["securityContext"] == server["securityContext"]
    assert pod["securityContext"]["fsGroup"] == 1000680000
    [container] = pod["containers"]
    assert container["securityContext"] == server["containers"][0]["securityContext"]
    assert pod["nodeSelector"] == {"pool": "apps"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["paperclip-data"] == {
        "name": "paperclip-data",
        "persistentVolumeClaim": {"claimName": "demo-data"},
    }
    # a ReadWriteOnce data volume attaches to one node: the Job goes where a server pod is
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"


@pytest.mark.parametrize(
    "storage",
    [
        {"persistence": {"enabled": False}},
        {"persistence": {"accessModes": ["ReadWriteMany"]}},
    ],
)
def test_no_node_affinity_when_the_volume_is_not_node_bound(storage: dict[str, Any]) -> None:
    assert "affinity" not in pod_of(bootstrap({"storage": storage}))


def test_a_changed_script_changes_the_pod_template_hash() -> None:
    instance = make_instance(BASE)
    planned = plan(instance)
    entries = list(planned.server_env)
    one = job_body(instance, planned.contribution, entries, "echo one")
    two = job_body(instance, planned.contribution, entries, "echo two")
    key = "paperclip.inc/config-hash"
    hash_one = one["spec"]["template"]["metadata"]["annotations"][key]
    assert hash_one == config_hash(script_data("echo one"))
    assert hash_one != two["spec"]["template"]["metadata"]["annotations"][key]


@pytest.mark.parametrize(
    "patch",
    [{"auth": {"secretRef": BASE["auth"]["secretRef"]}}, {"suspended": True}],
    ids=["no-admin-user", "suspended"],
)
def test_no_job_without_an_admin_user_or_a_running_server(patch: dict[str, Any]) -> None:
    objects = synth_objects(make_instance({**BASE, **patch}))
    assert not [key for key in objects if "bootstrap" in key and "secrets" not in key]


@pytest.mark.parametrize(
    ("patch", "cause"),
    [
        ({"deployment": {"mode": "local_trusted"}}, "local_trusted"),
        ({"database": {"mode": "embedded"}}, "embedded database"),
        ({"storage": {"persistence": {"accessModes": ["ReadWriteOncePod"]}}}, "ReadWriteOncePod"),
    ],
)
def test_jobs_that_would_fail_at_run_time_are_synth_errors(
    patch: dict[str, Any], cause: str
) -> None:
    errors = plan(make_instance({**BASE, **patch})).contribution.errors
    assert [e.path for e in errors] == ["spec.auth.adminUser"]
    assert cause in errors[0].message and errors[0].fix


def test_disabled_sign_up_warns() -> None:
    auth = {**BASE["auth"], "disableSignUp": True}
    warnings = plan(make_instance({**BASE, "auth": auth})).contribution.warnings
    assert "spec.auth.adminUser" in [w.path for w in warnings]


@pytest.mark.parametrize(
    ("admin", "path"),
    [
        ({"passwordSecretRef": ADMIN["passwordSecretRef"]}, "spec.auth.adminUser.email"),
        ({"email": "admin@example.com"}, "spec.auth.adminUser.passwordSecretRef"),
        ({**ADMIN, "email": "admin at example"}, "spec.auth.adminUser.email"),
        ({**ADMIN, "name": ""}, "spec.auth.adminUser.name"),
        ({**ADMIN, "password": "hunter2"}, "spec.auth.adminUser.password"),
    ],
)
def test_bad_admin_user_names_the_field(admin: dict[str, Any], path: str) -> None:
    with pytest.raises(UserError) as caught:
        make_instance({**BASE, "auth": {**BASE["auth"], "adminUser": admin}})
    assert path in [p.path for p in caught.value.problems]
