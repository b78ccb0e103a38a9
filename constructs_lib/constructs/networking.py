"""Networking: an Ingress and/or a Gateway API HTTPRoute to the server Service.

Unlike the operator, whose default NetworkPolicy drops the traffic of an ingress controller
in another namespace, the server policy admits the namespaces the routes come through
(``security.networkPolicy.ingressControllerNamespaces``; by default the known controller
namespace of the Ingress class, and the namespaces of the HTTPRoute's Gateways), and the
routed host names are added to the server's allowed host names (its private-hostname guard
answers 403 to any other Host).
"""

from __future__ import annotations

from typing import Any

from constructs_lib.constructs.feature import Contribution, Feature
from constructs_lib.constructs.names import server_name
from constructs_lib.constructs.primitives import ports_rule
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance
from constructs_lib.spec.platform import HTTPRouteSpec, IngressSpec

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
# Where the usual installations of these Ingress classes run their controller pods.
CONTROLLER_NAMESPACES = {
    "nginx": "ingress-nginx",
    "traefik": "traefik",
    "haproxy": "haproxy-controller",
}
# Classes known to cut long-lived (websocket) connections after a short default timeout.
WEBSOCKET_ANNOTATIONS = {
    "nginx": {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    },
}
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


def enabled_ingress(instance: Instance) -> IngressSpec | None:
    ingress = instance.spec.networking.ingress
    return ingress if ingress is not None and ingress.enabled else None


def _route(instance: Instance) -> HTTPRouteSpec | None:
    route = instance.spec.networking.http_route
    return route if route is not None and route.enabled else None


def admitted_namespaces(instance: Instance) -> list[str] | None:
    """Namespaces the server policy admits for the routes; None when they cannot be told."""
    configured = instance.spec.security.network_policy.ingress_controller_namespaces
    if configured is not None:
        return list(dict.fromkeys(configured))
    found: list[str] = []
    ingress = enabled_ingress(instance)
    if ingress is not None:
        controller = CONTROLLER_NAMESPACES.get(ingress.ingress_class_name or "")
        if controller is None:
            return None
        found.append(controller)
    route = _route(instance)
    if route is not None:
        found += [ref.namespace or instance.namespace for ref in route.parent_refs]
    return [ns for ns in dict.fromkeys(found) if ns != instance.namespace]


def namespaces_ingress(instance: Instance, namespaces: list[str]) -> list[dict[str, Any]]:
    """Server NetworkPolicy rules admitting ``namespaces`` on the server port."""
    return [
        {
            "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: ns}}}],
            **ports_rule(instance.spec.networking.service.port),
        }
        for ns in namespaces
    ]


def ingress_body(instance: Instance, ingress: IngressSpec) -> dict[str, Any]:
    name, port = server_name(instance), instance.spec.networking.service.port
    backend = {"service": {"name": name, "port": {"number": port}}}
    http = {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}
    rules = [{"host": host, "http": http} for host in ingress.hosts] or [{"http": http}]
    spec: dict[str, Any] = {}
    if ingress.ingress_class_name:
        spec["ingressClassName"] = ingress.ingress_class_name
    if ingress.tls:
        # an entry that names no hosts covers the Ingress's own (what cert-manager and most
        # controllers need to serve the certificate for them)
        hosts = ingress.hosts
        spec["tls"] = [
            tls.dump() if tls.hosts or not hosts else {**tls.dump(), "hosts": list(hosts)}
            for tls in ingress.tls
        ]
    spec["rules"] = rules
    return {"spec": spec}


def route_body(instance: Instance, route: HTTPRouteSpec) -> dict[str, Any]:
    name, port = server_name(instance), instance.spec.networking.service.port
    spec: dict[str, Any] = {"parentRefs": [ref.dump() for ref in route.parent_refs]}
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    spec["rules"] = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": name, "port": port}],
        }
    ]
    return {"spec": spec}


class NetworkingFeature(Feature):
    """``networking.ingress`` and ``networking.httpRoute``."""

    id = "networking"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return enabled_ingress(instance) is not None or _route(instance) is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        ingress, route = enabled_ingress(instance), _route(instance)
        hosts = [*(ingress.hosts if ingress else []), *(route.hostnames if route else [])]
        errors: list[Problem] = []
        if route is not None and not route.parent_refs:
            errors.append(
                Problem(
                    "has no parentRefs: an HTTPRoute attached to no Gateway routes nothing.",
                    "spec.networking.httpRoute.parentRefs",
                    "name the Gateway(s) to attach to (name, and namespace if not the instance's).",
                )
            )
        policy = instance.spec.security.network_policy
        namespaces = admitted_namespaces(instance)
        if namespaces is None and policy.enabled and not policy.allow_ingress_cidrs:
            known = ", ".join(f"{k} ({v})" for k, v in CONTROLLER_NAMESPACES.items())
            name = ingress.ingress_class_name if ingress else None
            which = (
                f"the Ingress class {name!r} does not tell in which namespace its controller runs"
                if name
                else "the Ingress sets no ingressClassName (the cluster's default class), so "
                "nothing tells in which namespace its controller runs"
            )
            errors.append(
                Problem(
                    f"the server NetworkPolicy must admit the ingress controller, and {which} "
                    f"(known classes: {known}); without it the Ingress would route to a server "
                    "that drops its traffic.",
                    "spec.security.networkPolicy.ingressControllerNamespaces",
                    "list the namespace(s) of your ingress controller pods here, or set "
                    "allowIngressCIDRs, or disable the NetworkPolicy.",
                )
            )
        ingress_rules = namespaces_ingress(instance, namespaces or [])
        return Contribution(ingress=ingress_rules, allowed_hostnames=hosts, errors=errors)

    def add_objects(self) -> None:
        instance = self.context.instance
        name = server_name(instance)
        ingress = enabled_ingress(instance)
        if ingress is not None:
            timeouts = WEBSOCKET_ANNOTATIONS.get(ingress.ingress_class_name or "", {})
            annotations = {**timeouts, **ingress.annotations}
            self.add("Ingress", name, ingress_body(instance, ingress), annotations=annotations)
        route = _route(instance)
        if route is not None:
            self.add(
                "HTTPRoute",
                name,
                route_body(instance, route),
                annotations=dict(route.annotations),
                api_version=GATEWAY_API_VERSION,
            )
