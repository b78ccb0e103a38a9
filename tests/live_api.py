"""Reading what a GitOps engine applied: live objects by kind and name (None when absent), the
bootstrap's Secrets and the server's pod. Shared by the Flux and Argo CD tests."""

from __future__ import annotations

from typing import Any

from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from tests.controlplane.cluster import ControlPlane


class LiveApi:
    def __init__(self, plane: ControlPlane, app: str) -> None:
        self.app_name = app
        self.api = plane.api_client()
        self.dyn = dynamic.DynamicClient(self.api)
        self.core = client.CoreV1Api(self.api)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        resource = self.dyn.resources.get(api_version=api_version, kind=kind)
        try:
            return resource.get(name=name, namespace=namespace).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def live(self, obj: dict[str, Any], namespace: str | None = None) -> Any:
        meta = obj["metadata"]
        return self.get(
            obj["apiVersion"], obj["kind"], meta["name"], namespace or meta.get("namespace")
        )

    def secret(self, name: str, namespace: str) -> Any:
        try:
            return self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def server_pod(self, namespace: str) -> Any:
        return self.core.read_namespaced_pod(f"{self.app_name}-0", namespace)

    def rolled_pod(self, namespace: str, old_uid: str, tag: str) -> Any:
        """The server pod once it is a new one, Running the image ``tag`` (else None)."""
        pod = self.server_pod(namespace)
        fresh = pod.metadata.uid != old_uid and pod.status.phase == "Running"
        return pod if fresh and pod.spec.containers[0].image.endswith(f":{tag}") else None
