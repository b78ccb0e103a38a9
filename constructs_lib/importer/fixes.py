"""The mechanical, safe fixes: each rule has a name, says why its change is safe and makes it
(what each detects and changes is documented in docs/migrating.md). A rule with ``answers``
runs only while the spec is refused at one of those field paths (the synth-time rule it
answers), so the fixes follow the rules exactly."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from constructs_lib.errors import Problem
from constructs_lib.importer.model import SET_OPTION, Change, Command, Document, dig, parse_path
from constructs_lib.importer.redact import holds_credential
from constructs_lib.spec.env_rules import SECRET_LOOKING_NAME
from constructs_lib.spec.kubeschema import format_path

DATA_VOLUME = "paperclip-data"
OPERATOR_DATA_MOUNT = "data"
"""What the operator's README mounts the data volume as (a name no volume of its pods has)."""
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CRD_RESOURCE = "instances.paperclip.inc"

Fix = Callable[[Document, Sequence[Problem]], list[Change]]
"""Changes ``document`` (in place) given its current refusals; what it changed."""


@dataclass(frozen=True)
class FixRule:
    """A documented, mechanical fix of an operator Instance."""

    name: str
    why: str
    """Why the change is safe (it keeps what the operator really ran, or what it ignored)."""
    fix: Fix
    answers: tuple[str, ...] = ()
    """Field paths of the refusals this rule answers; empty: it decides by itself."""

    def run(self, document: Document, problems: Sequence[Problem]) -> list[Change]:
        """The fix, when the rule applies to the current refusals."""
        if self.answers and not refused_at(problems, *self.answers):
            return []
        return self.fix(document, problems)

    def change(self, path: str, what: str, why: str | None = None) -> Change:
        """A change this rule made, with the rule's reason (or a more precise ``why``)."""
        return Change(self.name, path, what, why or self.why)


def refused_at(problems: Sequence[Problem], *paths: str) -> bool:
    """Whether a refusal is at one of ``paths``."""
    return any(p.path in paths for p in problems)


def _live_value(document: Document, parts: list[str | int]) -> str:
    """A shell expression reading the field at ``parts`` of the live Instance, the one the
    document was exported from, by its name and namespace as read (a --set may have changed
    them since), so the value is never printed."""
    jsonpath = f"jsonpath={{.{format_path(parts)}}}"
    arguments = ["get", CRD_RESOURCE, document.live_name, "-o", jsonpath]
    return f'"$({document.kubectl(*arguments, namespace=document.live_namespace)})"'


def _given_by(document: Document, path: str) -> str:
    """The --set options whose change reached the field at ``path``."""
    given = [
        change.path
        for change in document.changes
        if change.rule == SET_OPTION
        and (change.path == path or path.startswith((f"{change.path}.", f"{change.path}[")))
    ]
    return ", ".join(f"--set {p}" for p in dict.fromkeys(given)) or "a --set"


def _not_live(document: Document, path: str, reference: str, value: str) -> None:
    """Refuse the credential at ``path``, which the live Instance does not hold (a --set gave
    it): the command that creates its Secret could only read another value, or none, there.
    ``reference`` and ``value`` are the YAML of a --set that references a Secret instead."""
    live = f"{document.live_name} in namespace {document.live_namespace}"
    secret = document.kubectl("create", "secret", "generic", "SECRET", "--from-file=KEY=FILE")
    document.refuse(
        f"holds a credential given with {_given_by(document, path)}, which the live "
        f"Instance ({live}) does not hold: the import moves a credential into a Secret "
        "created by a command that reads the value from the live Instance (a secret value "
        "is never written into the app file or onto a command line: both end up in git or "
        "shell history), so that Secret would get another value, or an empty one.",
        path,
        "create the Secret yourself, from a file so that the value stays out of the shell "
        f"history ({secret}), and reference it instead of giving the value: --set "
        f"{shlex.quote(f'{document.name}:{reference}={value}')}; or set the value on the "
        "live Instance before importing (kubectl edit), then import without this --set.",
    )


def _create_secret(
    document: Document, name: str, purpose: str, literals: list[tuple[str, str]]
) -> None:
    """Add the command that creates Secret ``name`` from ``literals`` (shell expressions)."""
    base = document.kubectl("create", "secret", "generic", name)
    text = " ".join([base, *(f"--from-literal={key}={value}" for key, value in literals)])
    document.commands.append(Command(f"creates Secret {name}, {purpose}", text))


# --- the rules --------------------------------------------------------------------------

FIXES: list[FixRule] = []
"""Every fix, in the order they run: the order they are defined in."""


def _rule(name: str, why: str, *answers: str) -> Callable[[Fix], FixRule]:
    """Make the decorated fix a rule, the next one to run (``answers``: the field paths of
    the refusals it answers); its name, in capitals, is then the rule's."""

    def register(fix: Fix) -> FixRule:
        FIXES.append(FixRule(name, why, fix, answers))
        return FIXES[-1]

    return register


@_rule(
    "image-digest-from-status",
    "status.autoUpdate.resolvedDigest is the digest the operator resolved for the tag and "
    "rolled out: the image that runs now; image automation commits newer digests of the tag",
)
def IMAGE_FROM_STATUS(document: Document, problems: Sequence[Problem]) -> list[Change]:
    resolved = dig(document.original, ["status", "autoUpdate", "resolvedDigest"])
    image = document.spec.get("image")
    if not isinstance(resolved, str) or not isinstance(image, dict):
        return []
    digest = resolved.rpartition("@")[2]
    # what the operator ran: autoUpdate as exported (a --set may have turned it off since)
    enabled = dig(document.original, ["spec", "image", "autoUpdate", "enabled"]) is True
    current = image.get("digest")
    if not enabled or not DIGEST.fullmatch(digest) or current == digest:
        return []
    if current and not refused_at(problems, "spec.image.digest"):
        return []  # a valid digest of the user's own stays
    image["digest"] = digest
    invalid = " (the one given was invalid)" if current else ""
    return [IMAGE_FROM_STATUS.change("spec.image.digest", f"= {digest}{invalid}")]


@_rule(
    "plugins-dropped",
    "the operator accepts the list but no part of it installs anything; install them through "
    "the server (Settings -> Adapters, or POST /api/adapters/install): they live on the data "
    "volume",
    "spec.plugins",
)
def PLUGINS(document: Document, problems: Sequence[Problem]) -> list[Change]:
    plugins = document.spec.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        return []
    del document.spec["plugins"]
    names = [
        " ".join(str(p.get(k)) for k in ("name", "version") if p.get(k))
        for p in plugins
        if isinstance(p, dict)
    ]
    return [PLUGINS.change("spec.plugins", f"removed {len(plugins)} plugin(s): {', '.join(names)}")]


@_rule(
    "external-url-unused",
    "the operator passes externalURL only in mode external and only without a secret "
    "reference: the server never saw it",
)
def UNUSED_URL(document: Document, problems: Sequence[Problem]) -> list[Change]:
    database = document.spec.get("database")
    if not isinstance(database, dict) or database.get("externalURL") is None:
        return []
    external = database.get("mode") == "external"
    if external and not database.get("externalURLSecretRef"):
        return []
    removed = ["externalURL"] if external else ["externalURL", "externalURLSecretRef"]
    removed = [key for key in removed if database.pop(key, None) is not None]
    reason = (
        "externalURLSecretRef is set too, and the secret reference wins"
        if external
        else f"the database mode is {database.get('mode', 'managed (the default)')}"
    )
    what = f"removed {' and '.join(removed)} (value not shown)"
    return [
        UNUSED_URL.change(
            "spec.database", what, f"{reason}: the operator never passed it to the server"
        )
    ]


@_rule(
    "database-url-to-secret",
    "the server gets the same DATABASE_URL, from a Secret instead of git; the command reads the "
    "value from the cluster, so it is never printed or written",
)
def URL_TO_SECRET(document: Document, problems: Sequence[Problem]) -> list[Change]:
    database = document.spec.get("database")
    url = database.get("externalURL") if isinstance(database, dict) else None
    if not isinstance(database, dict) or not isinstance(url, str) or not holds_credential(url):
        return []
    secret = f"{document.name}-database-url"
    del database["externalURL"]
    database["externalURLSecretRef"] = {"name": secret, "key": "DATABASE_URL"}
    parts: list[str | int] = ["spec", "database", "externalURL"]
    if dig(document.original, parts) != url:
        _not_live(
            document,
            "spec.database.externalURL",
            "spec.database",
            "{mode: external, externalURLSecretRef: {name: SECRET, key: KEY}}",
        )
    else:
        _create_secret(
            document,
            secret,
            "which spec.database.externalURLSecretRef now names, from spec.database.externalURL "
            "of the live Instance (read there, never printed; without that Instance, put the URL "
            f"of {document.source}, {document.label} in its place)",
            [("DATABASE_URL", _live_value(document, parts))],
        )
    return [
        URL_TO_SECRET.change(
            "spec.database.externalURL",
            f"-> externalURLSecretRef {{name: {secret}, key: DATABASE_URL}} (the URL holds a "
            "password; not shown)",
        )
    ]


def _entries(
    spec: dict[str, Any], top: str, key: str, *groups: str
) -> Iterator[tuple[str, list[Any], int, dict[str, Any]]]:
    """(field path of the list, the list, index, entry) of every mapping in ``spec[top]`` and
    in ``key`` of every container of the spec's ``groups``, in order."""
    found: list[tuple[str, Any]] = [(f"spec.{top}", spec.get(top))]
    for group in groups:
        containers = spec.get(group)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(container, dict):
                found.append((f"spec.{group}[{index}].{key}", container.get(key)))
    for path, items in found:
        for index, entry in enumerate(items if isinstance(items, list) else []):
            if isinstance(entry, dict):
                yield path, items, index, entry


def _live_index(document: Document, path: str, index: int, value: str) -> int | None:
    """The index of an entry with ``value`` in the env list at ``path`` of the live Instance
    (``index`` first: a --set may have removed or moved entries), or None when no entry there
    has that value."""
    live = dig(document.original, parse_path(path) or [])
    if not isinstance(live, list):
        return None
    candidates = (index, *range(len(live)))
    return next((i for i in candidates if dig(live, [i, "value"]) == value), None)


@_rule(
    "env-literal-to-secret",
    "the container gets the same value, from a Secret instead of git (never printed or written)",
)
def ENV_TO_SECRET(document: Document, problems: Sequence[Problem]) -> list[Change]:
    secret = f"{document.name}-env"
    changes: list[Change] = []
    literals: list[tuple[str, str]] = []
    keys: set[str] = set()
    found = _entries(document.spec, "env", "env", "sidecars", "initContainers")
    for path, entries, index, entry in found:
        value, name = entry.get("value"), entry.get("name")
        if not isinstance(value, str) or not value or not isinstance(name, str):
            continue
        if not (holds_credential(value) or SECRET_LOOKING_NAME.search(name)):
            continue
        # a name repeated in one list (which synth refuses) still gets a key of its own
        group = path.split(".")[1].replace("[", "-").replace("]", "")
        candidates = (name, f"{group}-{name}", f"{group}-{index}-{name}")
        key = next((k for k in candidates if k not in keys), candidates[-1])
        keys.add(key)
        entries[index] = {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        live = _live_index(document, path, index, value)
        if live is None:
            reference = f"{{name: {name}, valueFrom: {{secretKeyRef: {{name: SECRET, key: KEY}}}}}}"
            _not_live(document, f"{path}[{index}].value", f"{path}[{index}]", reference)
        else:
            read = [*(parse_path(path) or []), live, "value"]
            literals.append((key, _live_value(document, read)))
        changes.append(
            ENV_TO_SECRET.change(
                f"{path}[{index}]",
                f"{name}: literal value -> secretKeyRef {{name: {secret}, key: {key}}} "
                "(value not shown)",
            )
        )
    if literals:
        _create_secret(
            document,
            secret,
            "which the env entries above now reference, from their values in the live Instance "
            "(read there, never printed)",
            literals,
        )
    return changes


@_rule(
    "data-volume-name",
    f"the operator's pods name the data volume {DATA_VOLUME} too, so the API server refused "
    f"pods with a mount of {OPERATOR_DATA_MOUNT!r}; the operator's README means the data volume",
)
def DATA_VOLUME_NAME(document: Document, problems: Sequence[Problem]) -> list[Change]:
    spec = document.spec
    volumes = spec.get("extraVolumes")
    if isinstance(volumes, list) and any(
        isinstance(v, dict) and v.get("name") == OPERATOR_DATA_MOUNT for v in volumes
    ):
        return []  # the mount names a volume of the Instance's own
    mounts = _entries(spec, "extraVolumeMounts", "volumeMounts", "initContainers", "sidecars")
    changes = []
    for path, _, index, mount in mounts:
        if mount.get("name") == OPERATOR_DATA_MOUNT:
            mount["name"] = DATA_VOLUME
            what = f"{OPERATOR_DATA_MOUNT} -> {DATA_VOLUME}"
            changes.append(DATA_VOLUME_NAME.change(f"{path}[{index}].name", what))
    return changes


@_rule(
    "statefulset-as-run",
    "the operator ran a StatefulSet here anyway (WorkloadProfileValid=False, "
    "PersistenceRequiresStatefulSet): this keeps what ran, with its data volume",
    "spec.workload",
)
def WORKLOAD(document: Document, problems: Sequence[Problem]) -> list[Change]:
    if document.spec.get("workload") != "Deployment":
        return []
    document.spec["workload"] = "StatefulSet"
    return [WORKLOAD.change("spec.workload", "Deployment -> StatefulSet")]


@_rule(
    "scheduler-gating-lease",
    "the operator's own advice (SchedulerGatingValid); under the operator every pod ran the "
    "scheduler here, with lease one pod at a time does",
    "spec.heartbeat.schedulerGating",
)
def LEASE(document: Document, problems: Sequence[Problem]) -> list[Change]:
    heartbeat = document.spec.setdefault("heartbeat", {})
    if not isinstance(heartbeat, dict):
        return []
    before = heartbeat.get("schedulerGating", "ordinal (the default)")
    heartbeat["schedulerGating"] = "lease"
    return [LEASE.change("spec.heartbeat.schedulerGating", f"{before} -> lease")]


@_rule(
    "budget-allows-drains",
    "with that budget every node drain and cluster upgrade waited forever; maxUnavailable 1 "
    "lets a drain evict one server pod at a time (with one replica the server restarts on "
    "another node, as without a budget)",
    "spec.availability.podDisruptionBudget",
)
def BUDGET(document: Document, problems: Sequence[Problem]) -> list[Change]:
    budget = dig(document.spec, ["availability", "podDisruptionBudget"])
    if not isinstance(budget, dict):
        return []
    limits = [k for k in ("minAvailable", "maxUnavailable") if budget.get(k) is not None]
    if len(limits) != 1:
        return []  # both or neither: a plain error, not a budget that blocks drains
    before = f"{limits[0]} {budget.pop(limits[0])}"
    budget["maxUnavailable"] = 1
    return [BUDGET.change("spec.availability.podDisruptionBudget", f"{before} -> maxUnavailable 1")]


@_rule(
    "auth-secret",
    "under the operator each pod signed sessions with a secret its onboard step wrote, lost on "
    "every restart or different per replica; one stable secret only keeps sessions valid "
    "(users sign in once more)",
    "spec.auth.secretRef",
)
def AUTH_SECRET(document: Document, problems: Sequence[Problem]) -> list[Change]:
    auth = document.spec.setdefault("auth", {})
    if not isinstance(auth, dict) or auth.get("secretRef"):
        return []
    secret = f"{document.name}-auth"
    auth["secretRef"] = {"name": secret, "key": "BETTER_AUTH_SECRET"}
    _create_secret(
        document,
        secret,
        "which spec.auth.secretRef now names, with a random value generated on your machine",
        [("BETTER_AUTH_SECRET", '"$(openssl rand -hex 32)"')],
    )
    return [
        AUTH_SECRET.change("spec.auth.secretRef", f"= {{name: {secret}, key: BETTER_AUTH_SECRET}}")
    ]


__all__ = ["FIXES", "FixRule", "refused_at"]
