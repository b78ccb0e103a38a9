"""Tailscale (``tailscale``): a sidecar that joins the tailnet and serves the server on
https://<hostname>.<tailnet>.ts.net (funnel: also on the public internet).

As the operator: container ``tailscale`` in userspace mode, the auth key as a secretKeyRef,
ConfigMap ``<name>-tailscale`` with the serve config (TCP 443 HTTPS, ``/`` proxied to the
server on 127.0.0.1, AllowFunnel in funnel mode), emptyDirs for the socket and /tmp, a
read-only root filesystem with the restricted security context, and UDP 3478/41641 egress.

Differences, on purpose:

* the sidecar is a native sidecar (an init container with ``restartPolicy: Always``,
  Kubernetes 1.29+): it is up before the server starts and stays up while the server drains;
* state: with persistence (a StatefulSet) the node state lives on the data volume under
  ``tailscale/<pod name>`` and the node is not ephemeral, so a restarted pod keeps its name,
  certificate and login (the auth key is used only once, ``TS_AUTH_ONCE``); without
  persistence there is no state directory, so containerboot runs tailscaled with
  ``--state=mem:`` (in memory, an ephemeral node), the operator's intent. The operator's
  ``TS_EXTRA_ARGS=--ephemeral`` is handed to ``tailscale up``, which has no such flag, so its
  sidecar never logs in. No Kubernetes credentials are given to the pod, so containerboot is
  told it is not in Kubernetes: ``KUBERNETES_SERVICE_HOST`` and ``TS_KUBE_SECRET`` are set
  empty. Otherwise it keeps its state in a Secret ``tailscale`` (``--state=kube:tailscale``,
  whatever ``TS_STATE_DIR`` says) and, before v1.96, builds a Kubernetes client from the
  ServiceAccount files in any case; without a token either makes it exit;
* the serve config is mounted as a directory, not through subPath, so an edit reaches the
  running sidecar;
* funnel publishes the server: it requires ``deployment.exposure: public`` (so an
  authenticated server), like any public exposure; a missing auth key is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from constructs_lib.constructs.env import secret_var
from constructs_lib.constructs.feature import Contribution, Feature
from constructs_lib.constructs.names import DATA_VOLUME
from constructs_lib.constructs.primitives import ports_rule, restricted_container_security
from constructs_lib.errors import Problem
from constructs_lib.spec import DeploymentMode, Exposure, Instance
from constructs_lib.spec.tailscale import TailscaleMode, TailscaleSpec

CONTAINER = "tailscale"
SERVE_KEY = "tailscale-serve.json"
SERVE_DIR = "/etc/tailscale/serve"
SOCKET_DIR = "/var/run/tailscale"
TMP_DIR = "/tmp"
PERSISTENT_STATE_DIR = "/var/lib/tailscale"
SERVE_VOLUME = "tailscale-serve"
SOCKET_VOLUME = "tailscale-socket"
TMP_VOLUME = "tailscale-tmp"
STUN_PORT = 3478
WIREGUARD_PORT = 41641
MOVING_TAGS = {"stable", "latest", "unstable"}


def tailscale_of(instance: Instance) -> TailscaleSpec | None:
    spec = instance.spec.tailscale
    return spec if spec is not None and spec.enabled else None


def config_map_name(instance: Instance) -> str:
    return f"{instance.name}-tailscale"


def hostname(instance: Instance, spec: TailscaleSpec) -> str:
    return spec.hostname or instance.name


def serve_config(instance: Instance, spec: TailscaleSpec) -> dict[str, Any]:
    """Tailscale's serve config (ipn.ServeConfig): HTTPS on 443 proxying / to the server."""
    target = f"${{TS_CERT_DOMAIN}}:{443}"
    config: dict[str, Any] = {
        "TCP": {"443": {"HTTPS": True}},
        "Web": {
            target: {
                "Handlers": {
                    "/": {"Proxy": f"http://127.0.0.1:{instance.spec.networking.service.port}"}
                }
            }
        },
    }
    if spec.mode is TailscaleMode.FUNNEL:
        config["AllowFunnel"] = {target: True}
    return config


def sidecar(instance: Instance, spec: TailscaleSpec) -> dict[str, Any]:
    """The tailscale container, as a native sidecar (an init container that keeps running)."""
    values = {
        # The pod has no ServiceAccount token. Inside Kubernetes (KUBERNETES_SERVICE_HOST
        # set) containerboot keeps its state in the Secret TS_KUBE_SECRET (default
        # "tailscale"), and before v1.96 it builds a Kubernetes client whatever that says,
        # exiting without the token's files: both are turned off, so the state stays on
        # disk or in memory.
        "KUBERNETES_SERVICE_HOST": "",
        "TS_KUBE_SECRET": "",
        "TS_USERSPACE": "true",
        "TS_SOCKET": f"{SOCKET_DIR}/tailscaled.sock",
        "TS_SERVE_CONFIG": f"{SERVE_DIR}/{SERVE_KEY}",
        "TS_HOSTNAME": hostname(instance, spec),
    }
    env: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = [
        {"name": SOCKET_VOLUME, "mountPath": SOCKET_DIR},
        {"name": TMP_VOLUME, "mountPath": TMP_DIR},
        {"name": SERVE_VOLUME, "mountPath": SERVE_DIR, "readOnly": True},
    ]
    # without TS_STATE_DIR, containerboot starts tailscaled with --state=mem: (an ephemeral
    # node; `tailscale up` has no --ephemeral flag)
    if instance.spec.storage.persistence.enabled:  # the node state on the data volume
        values.update(TS_STATE_DIR=PERSISTENT_STATE_DIR, TS_AUTH_ONCE="true")
        env.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        mounts.append(
            {
                "name": DATA_VOLUME,
                "mountPath": PERSISTENT_STATE_DIR,
                "subPathExpr": "tailscale/$(POD_NAME)",
            }
        )
    env += [{"name": name, "value": value} for name, value in values.items()]
    if spec.auth_key is not None:
        env.append(secret_var("TS_AUTHKEY", spec.auth_key.secret_ref.name, spec.auth_key.key))
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image.reference,
        "imagePullPolicy": "IfNotPresent",
        "restartPolicy": "Always",
        "env": env,
        "volumeMounts": mounts,
        "securityContext": restricted_container_security(),
    }
    if spec.resources is not None:
        container["resources"] = dict(spec.resources)
    return container


def _errors(instance: Instance, spec: TailscaleSpec) -> Iterator[Problem]:
    if spec.auth_key is None:
        yield Problem(
            "is required when tailscale is enabled: without an auth key the sidecar waits "
            "for an interactive login.",
            "spec.tailscale.authKey",
            "create a Secret with a reusable Tailscale auth key and set authKey.secretRef "
            "(and key, default authkey).",
        )
    deployment = instance.spec.deployment
    if spec.mode is TailscaleMode.FUNNEL:
        if deployment.mode is DeploymentMode.LOCAL_TRUSTED:
            yield Problem(
                "funnel publishes the server on the public internet, and local_trusted "
                "mode has no login: anyone could use it.",
                "spec.tailscale.mode",
                "use mode serve (tailnet only), or deployment.mode authenticated with "
                "exposure public.",
            )
        elif deployment.exposure is Exposure.PRIVATE:
            yield Problem(
                "funnel publishes the server on the public internet, which is public "
                "exposure, but deployment.exposure is private.",
                "spec.tailscale.mode",
                "set deployment.exposure: public (and publicURL: "
                "https://<hostname>.<tailnet>.ts.net), or use mode serve.",
            )


def _warnings(instance: Instance, spec: TailscaleSpec) -> Iterator[Problem]:
    image = spec.image
    if image.digest is None and image.tag in MOVING_TAGS:
        yield Problem(
            f"the tag {image.tag!r} moves: the sidecar changes without a change in git.",
            "spec.tailscale.image.tag",
            "pin a version tag (e.g. v1.84.3) or a digest.",
        )
    deployment = instance.spec.deployment
    if deployment.exposure is Exposure.PRIVATE:
        prefix = f"{hostname(instance, spec)}."
        public_host = urlsplit(deployment.public_url or "").hostname or ""  # "" matches nothing
        names = [*deployment.allowed_hostnames, public_host]
        if not any(n.lower().startswith(prefix) for n in names):
            yield Problem(
                "requests through tailscale serve carry the Host "
                f"{prefix}<tailnet>.ts.net, which the server's private-hostname guard "
                "refuses (403) unless it is allowed.",
                "spec.deployment.allowedHostnames",
                f"add {prefix}<your tailnet>.ts.net (your tailnet's MagicDNS name).",
            )


class TailscaleFeature(Feature):
    """``tailscale``."""

    id = "tailscale"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return tailscale_of(instance) is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        spec = tailscale_of(instance)
        assert spec is not None
        return Contribution(
            volumes=[
                {"name": SERVE_VOLUME, "configMap": {"name": config_map_name(instance)}},
                {"name": SOCKET_VOLUME, "emptyDir": {}},
                {"name": TMP_VOLUME, "emptyDir": {}},
            ],
            init_containers=[sidecar(instance, spec)],
            egress=[ports_rule(STUN_PORT, WIREGUARD_PORT, protocol="UDP")],
            errors=list(_errors(instance, spec)),
            warnings=list(_warnings(instance, spec)),
        )

    def add_objects(self) -> None:
        instance = self.context.instance
        spec = tailscale_of(instance)
        assert spec is not None
        text = json.dumps(serve_config(instance, spec), indent=2)
        self.add("ConfigMap", config_map_name(instance), {"data": {SERVE_KEY: text + "\n"}})
