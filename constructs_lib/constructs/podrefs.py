"""The API server's pod rules that span several spec fields (a mount names a volume, container
and volume names are unique), checked on the server pod this plan generates and reported at
the user's field (``spec.extraVolumeMounts[0].name``), not at the generated object's path
(``spec.template.spec.initContainers[1].volumeMounts[1].name``).

These are spec-level checks (feature errors), so they run in the same pass as every other rule:
one run reports them beside the rest, instead of only once every rule holds and the objects
are built.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from constructs_lib.constructs.names import DATA_PATH, DATA_VOLUME
from constructs_lib.errors import Problem
from constructs_lib.memo import by_value
from constructs_lib.spec import Instance
from constructs_lib.spec.semantic import Finding, pod_spec_problems
from constructs_lib.spec.versions import DEFAULT_KUBERNETES_VERSION

OPERATOR_DATA_VOLUME_ALIASES = ("data",)
"""Names the operator's documents give the data volume in extra mounts (its README mounts
``data``); the volume is ``paperclip-data`` in the operator's pods and here."""

_PATH = re.compile(r"^pod\.(initContainers|containers|volumes)\[(\d+)\](.*)$")
_MOUNT = re.compile(r"^\.volumeMounts\[(\d+)\](.*)$")


@dataclass(frozen=True)
class PodLayout:
    """Where the user's entries start in each list of the generated server pod."""

    generated_init: int
    """Generated init containers before spec.initContainers (relabel, onboard, features')."""
    app_containers: frozenset[str]
    """Containers that run the server image and get spec.extraVolumeMounts (by name)."""
    own_mounts: int
    """Generated mounts of those containers before spec.extraVolumeMounts."""
    own_volumes: int
    """Generated volumes before spec.extraVolumes."""


def layout(instance: Instance, pod: dict[str, Any]) -> PodLayout:
    spec = instance.spec
    inits = pod.get("initContainers") or []
    server = (pod.get("containers") or [{}])[0]
    mounts = server.get("volumeMounts") or []
    return PodLayout(
        generated_init=len(inits) - len(spec.init_containers),
        app_containers=frozenset({str(server.get("name")), "onboard"}),
        own_mounts=len(mounts) - len(spec.extra_volume_mounts),
        own_volumes=len(pod.get("volumes") or []) - len(spec.extra_volumes),
    )


def user_path(path: str, pod: dict[str, Any], where: PodLayout) -> str | None:
    """The spec path of the user's field behind a finding in the generated pod, or None when
    it lies in a generated part."""
    match = _PATH.match(path)
    if match is None:
        return None
    group, index, rest = match.group(1), int(match.group(2)), match.group(3)
    if group == "volumes":
        own = where.own_volumes
        return f"spec.extraVolumes[{index - own}]{rest}" if index >= own else None
    first_user = 1 if group == "containers" else where.generated_init
    if index >= first_user:
        field = "sidecars" if group == "containers" else "initContainers"
        return f"spec.{field}[{index - first_user}]{rest}"
    containers = pod.get(group) or []
    mount = _MOUNT.match(rest)
    if containers[index].get("name") not in where.app_containers or mount is None:
        return None
    position = int(mount.group(1)) - where.own_mounts
    return f"spec.extraVolumeMounts[{position}]{mount.group(2)}" if position >= 0 else None


def _duplicate_names(instance: Instance, pod: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """User containers named like another container of the pod (the API server refuses
    duplicate names across init containers and containers)."""
    user = {"initContainers": instance.spec.init_containers, "sidecars": instance.spec.sidecars}
    names = _names(pod, "initContainers", "containers")
    seen: set[str] = set()
    for field, containers in user.items():
        for index, container in enumerate(containers):
            name = container.get("name")
            if not isinstance(name, str):
                continue
            if names.count(name) > 1 and name not in seen:
                yield f"spec.{field}[{index}].name", f"duplicate container name {name!r}"
            seen.add(name)


def _fix(message: str, pod: dict[str, Any], where: PodLayout) -> str:
    names = _names(pod, "volumes")
    if message.startswith("duplicate container name"):
        inits = _names(pod, "initContainers")[: where.generated_init]
        return (
            "rename it: container names are unique in a pod (the server pod's generated "
            f"containers: {', '.join([*inits, *_names(pod, 'containers')[:1]])})."
        )
    if message.startswith("duplicate volume"):
        return (
            "rename the volume: the server pod already has a volume of this name (its volumes: "
            f"{', '.join(names)})."
        )
    if not message.endswith("is not a volume of the pod"):
        return "correct this field."
    wanted = message.split(" is not a volume", 1)[0].strip("'\"")
    if wanted in OPERATOR_DATA_VOLUME_ALIASES:
        return (
            f"use name: {DATA_VOLUME} (the data volume, mounted at {DATA_PATH}; the operator's "
            f"documents call it {wanted!r}, but its pods name it {DATA_VOLUME} too), or add a "
            f"volume named {wanted!r} to spec.extraVolumes."
        )
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"{hint}name one of the server pod's volumes ({', '.join(names)}), or add a volume "
        f"named {wanted!r} to spec.extraVolumes."
    )


def _names(pod: dict[str, Any], *groups: str) -> list[str]:
    """The names of the items of the pod's lists ``groups``, in order."""
    return [
        str(item.get("name"))
        for group in groups
        for item in pod.get(group) or []
        if isinstance(item, dict)
    ]


def _stub(item: Any, keys: tuple[str, ...]) -> Any:
    return {k: item[k] for k in keys if k in item} if isinstance(item, dict) else item


def mappable_pod(pod: dict[str, Any], where: PodLayout) -> dict[str, Any]:
    """The parts of ``pod`` whose findings :func:`user_path` can map to the user's fields:
    the user's containers and volumes whole; of the generated containers only their names
    and volume mounts (a mount may be the user's, and names take part in the cross-field
    rules); of the generated volumes only their names; none of the pod-level fields. Checking
    this instead of the whole pod yields the same mapped findings in the same order (each
    rule's findings come in field order, and only unmapped ones are left out), for a fraction
    of the work: most of the pod is generated."""
    generated = (  # each list: how many of its first items are generated, what they keep
        ("initContainers", max(where.generated_init, 0), ("name", "volumeMounts")),
        ("containers", 1, ("name", "volumeMounts")),
        ("volumes", max(where.own_volumes, 0), ("name",)),
    )
    found: dict[str, Any] = {}
    for group, count, keys in generated:
        items = pod.get(group)
        if isinstance(items, list):
            found[group] = [*(_stub(item, keys) for item in items[:count]), *items[count:]]
    return found


@by_value(limit=256)
def _pod_problems(checked: dict[str, Any]) -> tuple[Finding, ...]:
    """The rules' findings, remembered by the pod they checked: the user's part of the server
    pod is the same in nearly every probe render of the chart analysis."""
    return tuple(pod_spec_problems(checked, "pod", DEFAULT_KUBERNETES_VERSION))


def _findings(instance: Instance, pod: dict[str, Any]) -> Iterator[tuple[str, str]]:
    where = layout(instance, pod)
    seen: set[str] = set()
    yield from _duplicate_names(instance, pod)
    checked = mappable_pod(pod, where)
    for path, message in _pod_problems(checked):
        if message.startswith("duplicate container name"):
            continue  # attributed to the user's container above, whatever the order
        found = user_path(path, pod, where)
        if found is not None and found not in seen:
            seen.add(found)
            yield found, message


def pod_reference_errors(instance: Instance, pod: dict[str, Any]) -> list[Problem]:
    """The API server's cross-field pod rules broken by the user's pass-through fields of the
    generated server pod ``pod`` (its spec), at the user's field path with a specific fix."""
    where = layout(instance, pod)
    return [
        Problem(
            f"{message}: the API server would refuse the server pod.",
            path,
            _fix(message, pod, where),
        )
        for path, message in _findings(instance, pod)
    ]


__all__ = ["OPERATOR_DATA_VOLUME_ALIASES", "pod_reference_errors", "user_path"]
