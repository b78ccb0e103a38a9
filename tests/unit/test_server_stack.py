"""The server-stack constructs, through real cdk8s synthesis."""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.build import plan
from constructs_lib.constructs.names import config_hash
from constructs_lib.constructs.server import server_env
from tests.conftest import make_instance, synth_objects

AUTH = {"deployment": {"mode": "authenticated"}, "auth": {"secretRef": {"name": "a", "key": "k"}}}


def workload(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [found] = [o for k, o in objects.items() if k.split("/")[0] in ("StatefulSet", "Deployment")]
    return dict(found)


def server(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(workload(objects)["spec"]["template"]["spec"]["containers"][0])


def test_names_labels_and_selectors() -> None:
    objects = synth_objects(make_instance())
    assert sorted(objects) == [
        "ConfigMap/demo-config",
        "NetworkPolicy/demo",
        "PersistentVolumeClaim/demo-data",
        "Service/demo",
        "ServiceAccount/demo",
        "StatefulSet/demo",
    ]
    base = {
        "app.kubernetes.io/name": "paperclip",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/managed-by": "paperclip-gitops",
    }
    selector = {
        "app.kubernetes.io/name": "paperclip",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "server",
    }
    for obj in objects.values():
        assert obj["metadata"]["labels"] == base
        assert obj["metadata"]["namespace"] == "team"
    sts = objects["StatefulSet/demo"]
    assert sts["spec"]["selector"]["matchLabels"] == selector
    assert sts["spec"]["template"]["metadata"]["labels"] == {**base, **selector}
    assert objects["Service/demo"]["spec"]["selector"] == selector
    assert objects["NetworkPolicy/demo"]["spec"]["podSelector"]["matchLabels"] == selector
    assert sts["spec"]["serviceName"] == "demo"


def test_env_order_and_values() -> None:
    instance = make_instance(
        {
            **AUTH,
            "deployment": {
                "mode": "authenticated",
                "publicURL": "https://pc.example.com",
                "allowedHostnames": ["pc.example.com", "localhost"],
            },
            "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
            "auth": {"secretRef": {"name": "a", "key": "k"}, "disableSignUp": True},
            "secrets": {"masterKeySecretRef": {"name": "mk", "key": "key"}, "strictMode": True},
            "heartbeat": {"enabled": False, "intervalMS": 20000},
            "objectStorage": {
                "provider": "minio",
                "bucket": "files",
                "region": "r",
                "endpoint": "http://minio:9000",
                "credentialsSecretRef": {"name": "s3"},
            },
            "observability": {"logging": {"level": "debug"}},
        }
    )
    names = [e.name for e in server_env(instance, plan(instance).contribution)]
    assert names == [
        "PORT",
        "PAPERCLIP_BIND",
        "PAPERCLIP_BIND_HOST",
        "PAPERCLIP_HOME",
        "SERVE_UI",
        "PAPERCLIP_DEPLOYMENT_MODE",
        "PAPERCLIP_DEPLOYMENT_EXPOSURE",
        "PAPERCLIP_PUBLIC_URL",
        "PAPERCLIP_ALLOWED_HOSTNAMES",
        "DATABASE_URL",
        "BETTER_AUTH_SECRET",
        "PAPERCLIP_AUTH_DISABLE_SIGN_UP",
        "PAPERCLIP_SECRETS_MASTER_KEY",
        "PAPERCLIP_SECRETS_STRICT_MODE",
        "HEARTBEAT_SCHEDULER_ENABLED",
        "HEARTBEAT_SCHEDULER_INTERVAL_MS",
        "PAPERCLIP_STORAGE_PROVIDER",
        "PAPERCLIP_STORAGE_S3_BUCKET",
        "PAPERCLIP_STORAGE_S3_REGION",
        "PAPERCLIP_STORAGE_S3_ENDPOINT",
        "PAPERCLIP_STORAGE_S3_FORCE_PATH_STYLE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "PAPERCLIP_LOG_LEVEL",
    ]
    objects = synth_objects(instance)
    data = objects["ConfigMap/demo-config"]["data"]
    assert list(data)[:3] == ["PORT", "PAPERCLIP_BIND", "PAPERCLIP_BIND_HOST"]
    assert data["PAPERCLIP_ALLOWED_HOSTNAMES"] == (
        "localhost,127.0.0.1,demo,demo.team,demo.team.svc,demo.team.svc.cluster.local,"
        "pc.example.com"
    )
    assert data["PAPERCLIP_STORAGE_PROVIDER"] == "s3"
    assert data["PAPERCLIP_STORAGE_S3_FORCE_PATH_STYLE"] == "true"
    assert data["PAPERCLIP_LOG_LEVEL"] == "debug"
    # secrets never enter the ConfigMap; they are secretKeyRefs in operator order
    assert not {"DATABASE_URL", "BETTER_AUTH_SECRET", "AWS_SECRET_ACCESS_KEY"} & set(data)
    container = server(objects)
    assert [e["name"] for e in container["env"]] == [
        "DATABASE_URL",
        "BETTER_AUTH_SECRET",
        "PAPERCLIP_SECRETS_MASTER_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]
    assert container["env"][0]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "url"}}


def test_user_env_comes_last_and_generated_config_wins_over_user_env_from() -> None:
    instance = make_instance(
        {
            "env": [{"name": "LOG_LEVEL", "value": "error"}],
            "envFrom": [{"secretRef": {"name": "llm-keys"}}],
        }
    )
    container = server(synth_objects(instance))
    assert container["env"][-1] == {"name": "LOG_LEVEL", "value": "error"}
    assert container["envFrom"] == [
        {"secretRef": {"name": "llm-keys"}},
        {"configMapRef": {"name": "demo-config"}},
    ]


def test_master_key_defaults_to_an_optional_secret_reference() -> None:
    container = server(synth_objects(make_instance()))
    assert container["env"] == [
        {
            "name": "PAPERCLIP_SECRETS_MASTER_KEY",
            "valueFrom": {
                "secretKeyRef": {
                    "name": "demo-secrets-master-key",
                    "key": "master-key",
                    "optional": True,
                }
            },
        }
    ]


def test_probes_auto_tcp_when_authenticated_with_defaults_and_overrides() -> None:
    container = server(
        synth_objects(
            make_instance(
                {
                    **AUTH,
                    "probes": {
                        "liveness": {"periodSeconds": 45},
                        "startup": {"failureThreshold": 90},
                    },
                }
            )
        )
    )
    assert container["livenessProbe"] == {
        "tcpSocket": {"port": 3100},
        "initialDelaySeconds": 15,
        "periodSeconds": 45,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
        "successThreshold": 1,
    }
    assert container["readinessProbe"]["periodSeconds"] == 10
    assert container["startupProbe"]["failureThreshold"] == 90


def test_http_probe_sends_a_host_header_the_private_guard_accepts() -> None:
    container = server(synth_objects(make_instance({"probes": {"type": "http"}})))
    get = container["readinessProbe"]["httpGet"]
    assert get["path"] == "/api/health"
    assert get["httpHeaders"] == [{"name": "Host", "value": "localhost"}]
    tcp = server(synth_objects(make_instance()))  # authenticated, auto: tcp
    assert "tcpSocket" in tcp["readinessProbe"]


def test_local_trusted_binds_loopback_and_probes_from_inside_the_pod() -> None:
    objects = synth_objects(make_instance({"deployment": {"mode": "local_trusted"}}))
    data = objects["ConfigMap/demo-config"]["data"]
    assert data["PAPERCLIP_BIND"] == "loopback"
    assert "PAPERCLIP_BIND_HOST" not in data
    command = server(objects)["readinessProbe"]["exec"]["command"]
    assert command[:2] == ["node", "-e"]
    assert "host:'127.0.0.1',port:3100" in command[2] and "host:'localhost'" in command[2]


def test_public_authenticated_server_uses_the_explicit_public_url() -> None:
    spec = {"deployment": {"exposure": "public", "publicURL": "https://pc.example.com"}}
    objects = synth_objects(make_instance(spec))
    env = server(objects)["env"]
    assert {"name": "PAPERCLIP_AUTH_BASE_URL_MODE", "value": "explicit"} in env
    onboard = workload(objects)["spec"]["template"]["spec"]["initContainers"][0]
    assert "PAPERCLIP_AUTH_BASE_URL_MODE" not in str(onboard)


def test_security_context_defaults_and_merged_overrides() -> None:
    objects = synth_objects(make_instance())
    pod = workload(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert server(objects)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": False,
    }
    assert pod["automountServiceAccountToken"] is False
    custom = {"runAsUser": 2000, "readOnlyRootFilesystem": True}
    objects = synth_objects(
        make_instance(
            {
                "security": {
                    "containerSecurityContext": custom,
                    "podSecurityContext": {"fsGroup": 3000},
                }
            }
        )
    )
    pod = workload(objects)["spec"]["template"]["spec"]
    # an override of one field keeps the rest of the restricted baseline
    assert pod["securityContext"]["fsGroup"] == 3000
    assert pod["securityContext"]["runAsNonRoot"] is True
    expected = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
        "runAsUser": 2000,
        "readOnlyRootFilesystem": True,
    }
    # the override reaches every container running the server image (operator bug #45/#46)
    for container in pod["containers"][:1] + pod["initContainers"]:
        assert container["securityContext"] == expected


def test_onboard_gets_the_server_resources() -> None:
    resources = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    pod = workload(synth_objects(make_instance({"resources": resources})))["spec"]["template"]
    [onboard] = [c for c in pod["spec"]["initContainers"] if c["name"] == "onboard"]
    assert onboard["resources"] == resources == pod["spec"]["containers"][0]["resources"]


def test_ordinal_gating_wrapper_only_on_multi_replica_statefulsets() -> None:
    ha = {
        **AUTH,
        "database": {"mode": "external", "externalURLSecretRef": {"name": "db", "key": "url"}},
        "objectStorage": {"provider": "s3", "bucket": "files"},
        "secrets": {"masterKeySecretRef": {"name": "mk", "key": "k"}},
        "availability": {"replicas": 2},
    }
    gated = server(synth_objects(make_instance(ha)))["args"][0]
    assert gated.startswith('case "${HOSTNAME:-}" in *-0) export HEARTBEAT_SCHEDULER_ENABLED=true')
    assert gated.endswith(
        "exec node --import ./server/node_modules/tsx/dist/loader.mjs server/dist/index.js"
    )
    single = server(synth_objects(make_instance()))["args"][0]
    assert single == (
        "exec node --import ./server/node_modules/tsx/dist/loader.mjs server/dist/index.js"
    )


def test_deployment_rolls_with_surge_and_no_unavailability() -> None:
    objects = synth_objects(
        make_instance({"workload": "Deployment", "storage": {"persistence": {"enabled": False}}})
    )
    deployment = objects["Deployment/demo"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert "PersistentVolumeClaim/demo-data" not in objects
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {"name": "paperclip-data", "emptyDir": {}}


def test_suspended_instance_has_zero_replicas() -> None:
    assert workload(synth_objects(make_instance({"suspended": True})))["spec"]["replicas"] == 0


def test_prestop_drain_and_grace_period() -> None:
    objects = synth_objects(make_instance({"availability": {"terminationGracePeriodSeconds": 60}}))
    assert workload(objects)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    assert server(objects)["lifecycle"]["preStop"]["exec"]["command"] == [
        "/bin/sh",
        "-c",
        "sleep 15",
    ]
    off = make_instance({"availability": {"serverDrain": {"enabled": False}}})
    assert "lifecycle" not in server(synth_objects(off))


def test_init_containers_selinux_is_opt_in_and_onboard_always_runs_first_user_last() -> None:
    default = workload(synth_objects(make_instance()))["spec"]["template"]["spec"]
    assert [c["name"] for c in default["initContainers"]] == ["onboard"]
    onboard = default["initContainers"][0]
    assert "instances/${PAPERCLIP_INSTANCE_ID:-default}/config.json" in onboard["args"][0]
    assert "pnpm paperclipai onboard --yes" in onboard["args"][0]
    assert onboard["envFrom"][-1] == {"configMapRef": {"name": "demo-config"}}
    relabel = workload(
        synth_objects(
            make_instance(
                {
                    "security": {
                        "seLinuxRelabel": True,
                        "podSecurityContext": {"seLinuxOptions": {"level": "s0:c1,c2"}},
                    },
                    "initContainers": [{"name": "mine", "image": "busybox:1.36"}],
                }
            )
        )
    )["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in relabel] == ["selinux-relabel", "onboard", "mine"]
    assert relabel[0]["command"][2] == "system_u:object_r:container_file_t:s0:c1,c2"


def test_pass_through_pod_fields() -> None:
    pod = workload(
        synth_objects(
            make_instance(
                {
                    "availability": {
                        "nodeSelector": {"pool": "apps"},
                        "tolerations": [{"key": "k", "operator": "Exists"}],
                        "priorityClassName": "high",
                    },
                    "sidecars": [{"name": "side", "image": "busybox:1.36"}],
                    "extraVolumes": [{"name": "x", "emptyDir": {}}],
                    "extraVolumeMounts": [{"name": "x", "mountPath": "/x"}],
                    "podAnnotations": {"a.example.com/b": "c"},
                    "shareProcessNamespace": False,
                    "image": {"tag": "2026.1106.0", "pullSecrets": [{"name": "reg"}]},
                }
            )
        )
    )["spec"]["template"]
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "apps"}
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert spec["priorityClassName"] == "high"
    assert [c["name"] for c in spec["containers"]] == ["paperclip", "side"]
    assert spec["volumes"][-1] == {"name": "x", "emptyDir": {}}
    assert spec["containers"][0]["volumeMounts"][-1] == {"name": "x", "mountPath": "/x"}
    assert spec["shareProcessNamespace"] is False
    assert spec["imagePullSecrets"] == [{"name": "reg"}]
    assert pod["metadata"]["annotations"]["a.example.com/b"] == "c"


def test_network_policy_limits_ingress_to_the_namespace_and_cidrs() -> None:
    policy = synth_objects(
        make_instance(
            {
                "security": {
                    "networkPolicy": {
                        "allowIngressCIDRs": ["10.1.0.0/16"],
                        "allowEgressCIDRs": ["10.2.0.0/16"],
                        "extraEgress": [{"ports": [{"port": 6379, "protocol": "TCP"}]}],
                    }
                }
            }
        )
    )["NetworkPolicy/demo"]
    ingress = policy["spec"]["ingress"]
    assert ingress == [
        {"from": [{"podSelector": {}}], "ports": [{"port": 3100, "protocol": "TCP"}]},
        {
            "from": [{"ipBlock": {"cidr": "10.1.0.0/16"}}],
            "ports": [{"port": 3100, "protocol": "TCP"}],
        },
    ]
    egress = policy["spec"]["egress"]
    assert egress[0]["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert egress[-2:] == [
        {"to": [{"ipBlock": {"cidr": "10.2.0.0/16"}}]},
        {"ports": [{"port": 6379, "protocol": "TCP"}]},
    ]
    assert not any(r.get("ports") == [{"port": 5432, "protocol": "TCP"}] for r in egress)
    disabled = synth_objects(make_instance({"security": {"networkPolicy": {"enabled": False}}}))
    assert "NetworkPolicy/demo" not in disabled


def test_service_account_pvc_and_service() -> None:
    objects = synth_objects(
        make_instance(
            {
                "security": {
                    "rbac": {"serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "r"}}
                },
                "storage": {
                    "persistence": {
                        "size": "20Gi",
                        "storageClass": "fast",
                        "accessModes": ["ReadWriteMany"],
                    }
                },
                "networking": {
                    "service": {
                        "type": "LoadBalancer",
                        "port": 8080,
                        "annotations": {"x.example.com/y": "z"},
                    }
                },
            }
        )
    )
    assert objects["ServiceAccount/demo"]["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "r"
    }
    assert objects["ServiceAccount/demo"]["automountServiceAccountToken"] is False
    assert objects["PersistentVolumeClaim/demo-data"]["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "fast",
    }
    service = objects["Service/demo"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"][0]["port"] == 8080
    assert server(objects)["ports"][0]["containerPort"] == 8080
    no_sa = synth_objects(make_instance({"security": {"rbac": {"create": False}}}))
    assert "ServiceAccount/demo" not in no_sa


def test_config_hash_changes_when_and_only_when_config_changes() -> None:
    def annotation(patch: dict[str, Any]) -> str:
        pod = workload(synth_objects(make_instance(patch)))["spec"]["template"]
        return str(pod["metadata"]["annotations"]["paperclip.inc/config-hash"])

    base = annotation({})
    assert base == config_hash(synth_objects(make_instance())["ConfigMap/demo-config"]["data"])
    assert annotation({"observability": {"logging": {"level": "debug"}}}) != base
    assert annotation({"heartbeat": {"intervalMS": 30000}}) != base
    # not config: these change the pod spec directly, not the ConfigMap
    assert annotation({"resources": {"requests": {"cpu": "1"}}}) == base
    assert annotation({"podAnnotations": {"x.example.com/y": "z"}}) == base
    assert annotation({"image": {"tag": "2026.1201.0"}}) == base
