"""What one build remembers for the next (dashboard texts, config hashes) never leaks
between builds: every build gets objects of its own, and what it does to them changes no
later build. The server pod's reference check looks only
at what it can map to the user's fields, and finds exactly what checking the whole pod finds."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from constructs_lib.constructs import build, podrefs
from constructs_lib.constructs.build import manifests, plan
from constructs_lib.constructs.names import canonical_json, config_hash
from constructs_lib.constructs.pod import pod_template
from constructs_lib.spec.loader import load_app
from constructs_lib.spec.semantic import pod_spec_problems
from constructs_lib.spec.versions import DEFAULT_KUBERNETES_VERSION
from tests.conftest import REPO

BENCH = REPO / "tests" / "bench" / "full_features.yaml"


def _containers(value: Any) -> Iterator[dict[str, Any] | list[Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _containers(item)
    elif isinstance(value, list):
        yield value
        for item in value:
            yield from _containers(item)


def _vandalise(value: Any) -> None:
    """Change every mapping and list of ``value`` in place."""
    for node in list(_containers(value)):
        if isinstance(node, dict):
            node["vandalised"] = True
        else:
            node.append("vandalised")


APPS = [BENCH, REPO / "apps" / "production-full.yaml", REPO / "apps" / "production.yaml"]


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_a_build_changed_in_place_changes_no_later_build() -> None:
    for app in APPS:
        [instance] = load_app(app).instances
        planned = plan(instance)
        objects, stamped = _text(manifests(planned)), _text(_stamped(planned))
        _vandalise(manifests(planned))
        _vandalise(_stamped(planned))
        assert _text(manifests(planned)) == objects, app  # the same plan again
        assert _text(_stamped(planned)) == stamped, app
        [twin] = load_app(app).instances
        again = plan(twin)  # an equal instance: what is remembered by value
        assert _text(manifests(again)) == objects, app
        assert _text(_stamped(again)) == stamped, app


def _stamped(planned: build.Plan) -> list[tuple[str, Any]]:
    return [(path, make()) for path, make in planned.contribution.stamps]


def test_stamped_jobs_are_new_objects_every_time_and_one_per_template() -> None:
    [instance] = load_app(BENCH).instances
    planned = plan(instance)
    one, two = _stamped(planned), _stamped(plan(instance))
    assert one == two
    assert [path for path, _ in one] == [
        f"spec.agents.templates.{name}" for name in sorted(instance.spec.agents.templates)
    ]
    assert all(job["kind"] == "Job" for _, job in one)
    assert all(a is not b for (_, a), (_, b) in zip(one, two, strict=True))
    assert all(a is not b for (_, a), (_, b) in zip(one, _stamped(planned), strict=True))


class Colour(StrEnum):
    RED = "red"


def test_config_hash_is_the_hash_of_the_canonical_json() -> None:
    import hashlib

    for data in ({"b": "2", "a": "1"}, {"x": 1, "y": [1, 2]}, {"e": Colour.RED}, {}):
        want = hashlib.sha256(canonical_json(data).encode()).hexdigest()
        assert config_hash(data) == want  # type: ignore[arg-type]
        assert config_hash(data) == want  # type: ignore[arg-type]  # and when remembered


# --- the server pod's reference check --------------------------------------------------------


def _whole_pod_findings(instance: Any, pod: dict[str, Any]) -> list[tuple[str, str]]:
    """The findings as checking the whole pod maps them (the reference)."""
    where = podrefs.layout(instance, pod)
    seen: set[str] = set()
    found = list(podrefs._duplicate_names(instance, pod))
    for path, message in pod_spec_problems(pod, "pod", DEFAULT_KUBERNETES_VERSION):
        if message.startswith("duplicate container name"):
            continue
        mapped = podrefs.user_path(path, pod, where)
        if mapped is not None and mapped not in seen:
            seen.add(mapped)
            found.append((mapped, message))
    return found


_NAMES = ["paperclip", "onboard", "data", "paperclip-data", "tmp", "Bad_Name", "", None, 3]


def _break(pod: dict[str, Any], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 5)):
        group = rng.choice(["initContainers", "containers", "volumes"])
        items = pod.get(group)
        if not isinstance(items, list) or not items:
            continue
        index = rng.randrange(len(items))
        item = items[index]
        names = _NAMES + [i.get("name") for i in items if isinstance(i, dict)]
        move = rng.randrange(7)
        if move == 0 and isinstance(item, dict):
            item["name"] = rng.choice(names)
        elif move in (1, 2) and isinstance(item, dict) and group != "volumes":
            mounts = item.setdefault("volumeMounts", [])
            mount = {"name": rng.choice(names), "mountPath": rng.choice(["/tmp", "", "/x"])}
            mounts.insert(rng.randint(0, len(mounts)), mount)
        elif move == 3 and group == "volumes":
            volume = rng.choice([{"name": rng.choice(names), "emptyDir": {}}, {"name": "x"}])
            items.insert(rng.randint(0, len(items)), volume)
        elif move == 4:
            items.insert(rng.randint(0, len(items)), copy.deepcopy(item))
        elif move == 5 and isinstance(item, dict) and group != "volumes":
            item["env"] = [{"name": "A=B", "value": "x"}]
            item["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
            item["image"] = " spaced"
        elif move == 6 and len(items) > 1:
            del items[index]


def test_the_reference_check_finds_what_checking_the_whole_pod_finds() -> None:
    instances = load_app(BENCH).instances + load_app(REPO / "apps" / "production.yaml").instances
    rng = random.Random(20)
    found_some = 0
    for instance in instances:
        planned = plan(instance)
        pod = pod_template(instance, list(planned.server_env), planned.contribution)["spec"]
        for _ in range(300):
            broken = copy.deepcopy(pod)
            _break(broken, rng)
            want = _whole_pod_findings(instance, broken)
            assert list(podrefs._findings(instance, broken)) == want
            found_some += bool(want)
    assert found_some > 100  # the broken pods do break the rules


def test_the_launcher_image_and_replicas_change_neither_the_config_nor_the_template_jobs() -> None:
    """They shape only the launcher Deployment: the config and the stamped template jobs are
    the same."""
    from constructs_lib.constructs import agents
    from constructs_lib.spec import Instance

    [instance] = load_app(BENCH).instances
    launcher = instance.spec.agents.launcher

    def changed(**fields: Any) -> Instance:
        doc = instance.model_dump(by_alias=True, mode="json", exclude_none=True)
        doc["spec"]["agents"].setdefault("launcher", {}).update(fields)
        return Instance.model_validate(doc)

    other = changed(image="zq.example/launcher:zq1", replicas=launcher.replicas + 2)
    timeout = changed(pendingTimeoutSeconds=launcher.pending_timeout_seconds + 1)
    assert other.spec.agents.launcher.replicas == launcher.replicas + 2
    assert agents.launcher_config(other) == agents.launcher_config(instance)
    assert _text(_stamped(plan(other))) == _text(_stamped(plan(instance)))
    assert agents.launcher_config(timeout) != agents.launcher_config(instance)
