"""Read what a generated kustomize directory gives the Paperclip server container: its
environment (ConfigMap envFrom + literal env + secretKeyRefs resolved to test values), its
volume mounts, its probes and its init containers — as a pod would see it, with paths and
the port mapped onto a test machine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKLOAD_KINDS = ("StatefulSet", "Deployment")


def read_objects(kustomize_dir: Path) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted(kustomize_dir.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


@dataclass
class ServerPod:
    """The server workload of one instance, read from generated objects."""

    objects: list[dict[str, Any]]
    workload: dict[str, Any]

    @classmethod
    def from_dir(cls, kustomize_dir: Path, instance: str) -> ServerPod:
        objects = read_objects(kustomize_dir)
        [workload] = [
            o for o in objects if o["kind"] in WORKLOAD_KINDS and o["metadata"]["name"] == instance
        ]
        return cls(objects, workload)

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        containers = self.pod_spec["containers"]
        named = [c for c in containers if c["name"] == "paperclip"]
        container: dict[str, Any] = (named or containers)[0]
        return container

    def init_container(self, name: str) -> dict[str, Any] | None:
        for container in self.pod_spec.get("initContainers", []):
            if container["name"] == name:
                found: dict[str, Any] = container
                return found
        return None

    def config_map(self, name: str) -> dict[str, str]:
        for obj in self.objects:
            if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == name:
                data: dict[str, str] = obj.get("data", {})
                return data
        raise AssertionError(f"ConfigMap {name} is referenced but not generated")

    def secret_refs(self, container: dict[str, Any] | None = None) -> list[tuple[str, str, bool]]:
        """(secret, key, optional) of every secretKeyRef in the container's env."""
        refs = []
        for entry in (container or self.container).get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.append((ref["name"], ref["key"], bool(ref.get("optional", False))))
        return refs

    def env(
        self,
        secrets: Mapping[tuple[str, str], str],
        paths: Mapping[str, Path],
        port: int,
        container: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """The container's environment as the kubelet builds it (envFrom in order, then env),
        secretKeyRefs resolved from ``secrets`` (a missing optional one is left out, as
        Kubernetes does; a missing required one fails), mount paths replaced by ``paths``
        (mountPath -> local dir) and PORT by ``port``."""
        container = container or self.container
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self.config_map(source["configMapRef"]["name"]))
            elif "secretRef" in source:
                assert source["secretRef"].get("optional"), (
                    f"envFrom secret {source['secretRef']['name']} is required; the test "
                    "cannot provide it"
                )
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
                continue
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            assert ref, f"env {entry['name']}: only literal values and secretKeyRefs are mapped"
            value = secrets.get((ref["name"], ref["key"]))
            if value is not None:
                env[entry["name"]] = value
            else:
                assert ref.get("optional"), (
                    f"env {entry['name']} needs secret {ref['name']}/{ref['key']}, which the "
                    "test does not provide"
                )
        for name, value in env.items():
            assert "$(" not in value, f"env {name} uses $(VAR) expansion, not mapped: {value}"
        mapped = {name: self._map(value, paths) for name, value in env.items()}
        mapped["PORT"] = str(port)  # the container port, moved to a free one
        return mapped

    def container_port(self) -> int:
        for port in self.container.get("ports", []):
            if port.get("name") == "http" or len(self.container["ports"]) == 1:
                return int(port["containerPort"])
        raise AssertionError("the server container declares no http port")

    @staticmethod
    def _map(value: str, paths: Mapping[str, Path]) -> str:
        for mount, local in sorted(paths.items(), key=lambda item: -len(item[0])):
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return str(local) + value[len(mount.rstrip("/")) :]
        return value

    def mounts(self, root: Path) -> dict[str, Path]:
        """mountPath -> a local directory for each of the container's volume mounts."""
        return {
            m["mountPath"]: root / re.sub(r"[^a-z0-9-]", "-", m["name"])
            for m in self.container.get("volumeMounts", [])
        }

    def probes(self) -> dict[str, dict[str, Any]]:
        return {
            kind: self.container[kind]
            for kind in ("startupProbe", "readinessProbe", "livenessProbe")
            if kind in self.container
        }
