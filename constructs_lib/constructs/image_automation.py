"""``image.autoUpdate`` as GitOps image automation (Flux image-reflector/-automation).

The operator polls the registry at run time and rolls the pods to a new digest behind git's
back. Here every update is a commit: per instance an ``ImageRepository`` (scans the server
image's repository every ``interval``) and an ``ImagePolicy`` (which tag or digest is the
newest), and the image is marked for Flux's ``ImageUpdateAutomation`` (setter strategy) in
``dist/<app>/kustomize/kustomization.yaml``::

    images:
    # paperclip-gitops: paperclip/team-a newTag=2026.1106.0 (the spec's value)
    - name: ghcr.io/paperclipai/paperclip
      newTag: 2026.1106.0 # {"$imagepolicy": "paperclip:team-a:tag"}

Two policies, chosen from the spec:

* a version tag (``1.2.3``, ``v1.2.3``, ``2026.1106.0``): semver ``>=`` that tag; Flux commits
  newer tags into ``newTag``;
* a moving tag pinned by ``digest`` (``tag: stable`` and ``digest: sha256:...``): the operator's
  behaviour, the newest digest of exactly that tag; Flux commits it into ``digest``.

cdk8s and PyYAML cannot write comments, so the block is written as text here. A later synth
reads the previous kustomization.yaml back (:func:`previous_values`): while the spec still
says what it said when the block was written, the value Flux committed is kept, so a synth
never reverts an update; when the spec's value changes, the spec wins.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import yaml

from constructs_lib.constructs.feature import Contribution, Feature
from constructs_lib.constructs.names import server_name
from constructs_lib.errors import Problem
from constructs_lib.spec import Instance

IMAGE_API_VERSION = "image.toolkit.fluxcd.io/v1"
_VERSION_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)([-+][0-9A-Za-z.+-]*)?$")
_RECORD = re.compile(r"^# paperclip-gitops: (\S+)/(\S+) (newTag|digest)=(\S+)")


@dataclass(frozen=True)
class ImageSetter:
    """One marked ``images`` entry of kustomization.yaml."""

    namespace: str
    instance: str
    repository: str
    field: str
    """newTag or digest."""
    value: str
    """The spec's value."""

    @property
    def policy(self) -> str:
        return f"{self.namespace}:{self.instance}:{'tag' if self.field == 'newTag' else 'digest'}"


def setter_of(instance: Instance) -> ImageSetter | None:
    """The marked entry of an instance with auto-update on (None when it is off)."""
    image = instance.spec.image
    if not image.auto_update.enabled:
        return None
    field, value = ("digest", image.digest) if image.digest else ("newTag", image.tag or "")
    return ImageSetter(instance.namespace, instance.name, image.repository, field, value)


def image_repository_body(instance: Instance) -> dict[str, Any]:
    image = instance.spec.image
    spec: dict[str, Any] = {"image": image.repository, "interval": image.auto_update.interval}
    if image.pull_secrets:
        spec["secretRef"] = {"name": image.pull_secrets[0].name}
    return {"spec": spec}


def image_policy_body(instance: Instance) -> dict[str, Any]:
    image = instance.spec.image
    spec: dict[str, Any] = {"imageRepositoryRef": {"name": server_name(instance)}}
    if image.digest:
        # The operator's behaviour: follow the digest of exactly this tag.
        spec["filterTags"] = {"pattern": f"^{re.escape(image.tag or '')}$"}
        spec["policy"] = {"alphabetical": {"order": "asc"}}
        spec["digestReflectionPolicy"] = "Always"
        spec["interval"] = image.auto_update.interval
    else:
        version = (image.tag or "").removeprefix("v")
        spec["policy"] = {"semver": {"range": f">={version}"}}
    return {"spec": spec}


def auto_update_problems(instance: Instance) -> list[Problem]:
    image = instance.spec.image
    path = "spec.image.autoUpdate.enabled"
    if image.digest and not image.tag:
        return [
            Problem(
                "auto-update follows a tag, and this image is pinned by digest only.",
                path=path,
                fix="add the tag whose newest digest to follow (e.g. tag: stable next to the "
                "digest), or turn autoUpdate off.",
            )
        ]
    if not image.digest and image.tag and not _VERSION_TAG.fullmatch(image.tag):
        return [
            Problem(
                f"tag {image.tag!r} is not a version, so there is nothing newer to commit; "
                "the operator re-pulled a moving tag behind git's back, which GitOps replaces "
                "by committing the new digest.",
                path=path,
                fix="use a version tag (e.g. 2026.1106.0: newer versions are committed), or "
                "keep the moving tag and add its current digest (image.digest: sha256:...; "
                "newer digests of that tag are committed).",
            )
        ]
    return []


class ImageAutomationFeature(Feature):
    """``image.autoUpdate.enabled``: Flux ImageRepository and ImagePolicy ``<name>``."""

    id = "image-automation"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.image.auto_update.enabled

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        return Contribution(errors=auto_update_problems(instance))

    def add_objects(self) -> None:
        instance = self.context.instance
        add = functools.partial(self.add, api_version=IMAGE_API_VERSION)
        add("ImageRepository", server_name(instance), image_repository_body(instance))
        add("ImagePolicy", server_name(instance), image_policy_body(instance))


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as this string."""
    if yaml.safe_load(value) == value and ":" not in value and "#" not in value:
        return value
    return json.dumps(value)


def previous_values(text: str | None) -> dict[tuple[str, str], tuple[str, str]]:
    """From a previous kustomization.yaml: (namespace, instance) -> (the spec's value when it
    was written, the value now in the file, which Flux may have updated)."""
    if not text:
        return {}
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    entries = document.get("images") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return {}
    by_repository = {
        e.get("name"): e for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)
    }
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for line, following in pairwise(text.splitlines()):
        match = _RECORD.match(line)
        if match is None:
            continue
        namespace, name, field, recorded = match.groups()
        repository = following.removeprefix("- name:").strip().strip('"')
        current = (by_repository.get(repository) or {}).get(field)
        if isinstance(current, str):
            found[(namespace, name)] = (recorded, current)
    return found


def images_block(instances: list[Instance], previous: str | None = None) -> str:
    """The marked ``images:`` block for kustomization.yaml ("" when no instance has
    auto-update on); values Flux committed since the spec last changed are kept."""
    setters = [s for i in instances if (s := setter_of(i)) is not None]
    if not setters:
        return ""
    kept = previous_values(previous)
    out = ["images:"]
    for setter in setters:
        recorded, current = kept.get((setter.namespace, setter.instance), ("", ""))
        value = current if recorded == setter.value and current else setter.value
        marker = json.dumps({"$imagepolicy": setter.policy})
        out += [
            f"# paperclip-gitops: {setter.namespace}/{setter.instance} "
            f"{setter.field}={setter.value} (the spec's value; Flux commits newer ones below)",
            f"- name: {setter.repository}",
            f"  {setter.field}: {_scalar(value)} # {marker}",
        ]
    return "\n".join(out) + "\n"


def shared_repository_problems(instances: list[Instance]) -> list[Problem]:
    """Kustomize's images transformer rewrites every container of a repository in the tree,
    so an auto-updated repository must belong to one instance of the app."""
    problems = []
    for setter in (s for i in instances if (s := setter_of(i)) is not None):
        others = [
            i.name
            for i in instances
            if i.spec.image.repository == setter.repository
            and (i.namespace, i.name) != (setter.namespace, setter.instance)
        ]
        if others:
            problems.append(
                Problem(
                    f"instance {setter.instance} auto-updates {setter.repository}, which "
                    f"instance(s) {', '.join(others)} of the same app also run; the marked "
                    "kustomization.yaml entry would change all of them.",
                    path="spec.image.autoUpdate.enabled",
                    fix="put the auto-updated instance in an app file of its own.",
                )
            )
    return problems
