"""tailscale: the sidecar (a native sidecar with the restricted context), its serve config,
the auth key as a secretKeyRef, the state handling, the UDP egress, and funnel treated as
public exposure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.constructs.build import plan
from constructs_lib.constructs.podsecurity import container_violations
from tests.conftest import doc_yaml, make_instance, synth_objects

TS = {"enabled": True, "image": {"tag": "v1.84.3"}, "authKey": {"secretRef": {"name": "ts"}}}
PUBLIC = {
    "deployment": {
        "mode": "authenticated",
        "exposure": "public",
        "publicURL": "https://demo.tail1234.ts.net",
    },
    "auth": {"secretRef": {"name": "demo-auth", "key": "secret"}},
}
PRIVATE_ALLOWED = {"deployment": {"allowedHostnames": ["demo.tail1234.ts.net"]}}


def pod(spec: dict[str, Any]) -> dict[str, Any]:
    objects = synth_objects(make_instance(spec))
    workload = objects.get("StatefulSet/demo") or objects["Deployment/demo"]
    result: dict[str, Any] = workload["spec"]["template"]["spec"]
    return result


def sidecar(spec: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in pod(spec)["initContainers"] if c["name"] == "tailscale"
    ]
    [container] = found
    return container


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_sidecar_runs_alongside_the_server_with_the_restricted_context() -> None:
    spec = {"tailscale": TS, **PRIVATE_ALLOWED}
    container = sidecar(spec)
    assert container["restartPolicy"] == "Always"  # a native sidecar
    assert container["image"] == "ghcr.io/tailscale/tailscale:v1.84.3"
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert container_violations(container, pod(spec)["securityContext"]) == []
    values = env(container)
    assert values["TS_USERSPACE"] == "true"
    assert values["TS_SOCKET"] == "/var/run/tailscale/tailscaled.sock"
    assert values["TS_SERVE_CONFIG"] == "/etc/tailscale/serve/tailscale-serve.json"
    assert values["TS_HOSTNAME"] == "demo"
    assert values["TS_AUTHKEY"] == {"secretKeyRef": {"name": "ts", "key": "authkey"}}
    # the server container gets none of it
    [server] = pod(spec)["containers"]
    assert not any(m["name"].startswith("tailscale") for m in server["volumeMounts"])


def test_containerboot_needs_no_kubernetes_credentials() -> None:
    """The server pod has no ServiceAccount token. When KUBERNETES_SERVICE_HOST is set (the
    kubelet sets it in every pod) containerboot (tailscale/tailscale cmd/containerboot)
    defaults TS_KUBE_SECRET to ``tailscale`` and keeps the state in that Secret
    (``--state=kube:tailscale``, even with TS_STATE_DIR), and before v1.96 (e.g. v1.84.3) it
    builds a Kubernetes client from /var/run/secrets/kubernetes.io/serviceaccount whatever
    TS_KUBE_SECRET says: without the token's files it exits. Both must be turned off
    explicitly (an empty value, which a container's env gives over the kubelet's)."""
    for storage in ({}, {"storage": {"persistence": {"enabled": False}}}):
        container = sidecar({"tailscale": TS, **storage, **PRIVATE_ALLOWED})
        values = {e["name"]: e for e in container["env"]}
        assert values["KUBERNETES_SERVICE_HOST"] == {"name": "KUBERNETES_SERVICE_HOST", "value": ""}
        assert values["TS_KUBE_SECRET"] == {"name": "TS_KUBE_SECRET", "value": ""}
        assert pod({"tailscale": TS, **storage})["automountServiceAccountToken"] is False


def test_state_lives_on_the_data_volume_per_pod_when_persistent() -> None:
    container = sidecar({"tailscale": TS, **PRIVATE_ALLOWED})
    values = env(container)
    assert values["TS_STATE_DIR"] == "/var/lib/tailscale"
    assert values["TS_AUTH_ONCE"] == "true"
    assert "TS_EXTRA_ARGS" not in values
    assert container["env"][0] == {
        "name": "POD_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    }
    [state] = [m for m in container["volumeMounts"] if m["name"] == "paperclip-data"]
    assert state == {
        "name": "paperclip-data",
        "mountPath": "/var/lib/tailscale",
        "subPathExpr": "tailscale/$(POD_NAME)",
    }


# The flags `tailscale up` accepts (tailscale/tailscale cmd/tailscale/cli, validUpFlags: the
# up command is frozen). containerboot appends TS_EXTRA_ARGS to `tailscale up`; any other
# flag fails it ("flag provided but not defined") and the container exits.
TAILSCALE_UP_FLAGS = {
    *("accept-dns", "accept-risk", "accept-routes", "advertise-connector"),
    *("advertise-exit-node", "advertise-routes", "advertise-tags", "auth-key", "exit-node"),
    *("exit-node-allow-lan-access", "force-reauth", "host-routes", "hostname", "json"),
    *("login-server", "netfilter-mode", "nickname", "operator", "report-posture", "qr"),
    *("qr-format", "reset", "shields-up", "snat-subnet-routes", "ssh", "stateful-filtering"),
    *("timeout", "unattended", "client-id", "client-secret", "id-token", "audience"),
}


def test_state_is_ephemeral_in_memory_without_persistence() -> None:
    spec = {"tailscale": TS, "storage": {"persistence": {"enabled": False}}, **PRIVATE_ALLOWED}
    container = sidecar(spec)
    values = env(container)
    # no state directory and no Secret: containerboot runs tailscaled with --state=mem:
    # --statedir=/tmp (the tmp emptyDir), which registers an ephemeral node
    assert "TS_STATE_DIR" not in values
    assert values["TS_KUBE_SECRET"] == ""
    extra = values.get("TS_EXTRA_ARGS", "").split()
    assert [a for a in extra if a.lstrip("-").split("=")[0] not in TAILSCALE_UP_FLAGS] == []
    assert "/tmp" in [m["mountPath"] for m in container["volumeMounts"]]
    assert "paperclip-data" not in [m["name"] for m in container["volumeMounts"]]
    volumes = {v["name"]: v for v in pod(spec)["volumes"]}
    assert volumes["tailscale-tmp"] == {"name": "tailscale-tmp", "emptyDir": {}}
    assert volumes["tailscale-socket"] == {"name": "tailscale-socket", "emptyDir": {}}
    assert volumes["tailscale-serve"]["configMap"] == {"name": "demo-tailscale"}


def serve(spec: dict[str, Any]) -> dict[str, Any]:
    cm = synth_objects(make_instance(spec))["ConfigMap/demo-tailscale"]
    result: dict[str, Any] = json.loads(cm["data"]["tailscale-serve.json"])
    return result


def test_serve_config_proxies_https_to_the_server_port() -> None:
    spec = {
        "tailscale": {**TS, "hostname": "paperclip"},
        "networking": {"service": {"port": 8080}},
        "deployment": {"allowedHostnames": ["paperclip.tail1234.ts.net"]},
    }
    config = serve(spec)
    assert config["TCP"] == {"443": {"HTTPS": True}}
    assert config["Web"] == {
        "${TS_CERT_DOMAIN}:443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:8080"}}}
    }
    assert "AllowFunnel" not in config
    assert env(sidecar(spec))["TS_HOSTNAME"] == "paperclip"
    funnel = serve({"tailscale": {**TS, "mode": "funnel"}, **PUBLIC})
    assert funnel["AllowFunnel"] == {"${TS_CERT_DOMAIN}:443": True}


def test_udp_egress_for_stun_and_wireguard() -> None:
    policy = synth_objects(make_instance({"tailscale": TS, **PRIVATE_ALLOWED}))[
        "NetworkPolicy/demo"
    ]
    assert {
        "ports": [{"port": 3478, "protocol": "UDP"}, {"port": 41641, "protocol": "UDP"}]
    } in policy["spec"]["egress"]


def problems(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    contribution = plan(make_instance(spec)).contribution
    return [p.path for p in contribution.errors], [p.path for p in contribution.warnings]


def test_funnel_is_public_exposure() -> None:
    errors, _ = problems({"tailscale": {**TS, "mode": "funnel"}})  # local_trusted
    assert errors == ["spec.tailscale.mode"]
    private = {
        "tailscale": {**TS, "mode": "funnel"},
        "deployment": {"mode": "authenticated"},
        "auth": {"secretRef": {"name": "a", "key": "b"}},
    }
    errors, _ = problems(private)
    assert errors == ["spec.tailscale.mode"]
    errors, _ = problems({"tailscale": {**TS, "mode": "funnel"}, **PUBLIC})
    assert errors == []


def test_auth_key_is_required_and_moving_tags_warn() -> None:
    errors, _ = problems({"tailscale": {"enabled": True}, **PRIVATE_ALLOWED})
    assert errors == ["spec.tailscale.authKey"]
    _, warnings = problems({"tailscale": {**TS, "image": {}}, **PRIVATE_ALLOWED})
    assert "spec.tailscale.image.tag" in warnings
    digest = {"digest": "sha256:" + "a" * 64}
    _, warnings = problems({"tailscale": {**TS, "image": digest}, **PRIVATE_ALLOWED})
    assert "spec.tailscale.image.tag" not in warnings


def test_private_exposure_warns_until_the_tailnet_name_is_allowed() -> None:
    _, warnings = problems({"tailscale": TS})
    assert "spec.deployment.allowedHostnames" in warnings
    _, warnings = problems({"tailscale": TS, **PRIVATE_ALLOWED})
    assert "spec.deployment.allowedHostnames" not in warnings


def test_disabled_or_absent_builds_nothing() -> None:
    base = synth_objects(make_instance())
    for block in ({"enabled": False}, {}):
        objects = synth_objects(make_instance({"tailscale": block}))
        assert objects == base


def test_passes_strict_validation_in_the_pipeline(tmp_path: Path) -> None:
    app = tmp_path / "tailnet.yaml"
    app.write_text(doc_yaml({"tailscale": {**TS, "mode": "funnel"}, **PUBLIC}))
    result = CliRunner().invoke(main, ["validate", str(app)])
    assert result.exit_code == 0, result.output
