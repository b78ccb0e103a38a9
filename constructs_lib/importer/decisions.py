"""What needs a human decision: a refusal no mechanical fix answers becomes an error that
names the choice and the exact command-line options that give it."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from constructs_lib.errors import Problem
from constructs_lib.importer.model import SET_OPTION, Document, dig


@dataclass(frozen=True)
class Decision:
    """A choice the importer cannot make: which refusals it answers, what is to be decided,
    and the options that decide it for one document."""

    name: str
    paths: tuple[str, ...]
    """Field paths of the refusals it answers."""
    choice: str
    options: Callable[[Document], list[str]]
    when: Callable[[Document], bool] = lambda document: True
    """Whether the document is in the situation this decision is about (a refusal at the
    same path may have another cause, e.g. an enum typo)."""

    def answers(self, problem: Problem, document: Document) -> bool:
        return problem.path in self.paths and self.when(document)


def _set(document: Document, path: str, value: str) -> str:
    return shlex.join([SET_OPTION, f"{document.name}:{path}={value}"])


def _one_replica(document: Document) -> str:
    """The options that make it one replica (no autoscaler), as a choice."""
    one = _set(document, "spec.availability.replicas", "1") + " (one replica)"
    if dig(document.spec, ["availability", "autoScaling", "enabled"]) is True:
        return f"{_set(document, 'spec.availability.autoScaling', 'null')} {one}"
    return one


def _image(document: Document) -> list[str]:
    running = (
        f"the digest running now: kubectl -n {document.namespace} get pods -l "
        f"app.kubernetes.io/instance={document.name} -o jsonpath='{{..imageID}}'"
    )
    return [
        "--image-tag TAG (e.g. --image-tag 2026.1106.0: every imported document without a "
        "usable pin)",
        f"{_set(document, 'spec.image.digest', 'sha256:DIGEST')} ({running})",
    ]


def _file_storage(document: Document) -> list[str]:
    bucket = "{provider: s3, bucket: BUCKET, region: REGION, credentialsSecretRef: {name: SECRET}}"
    return [
        f"{_set(document, 'spec.objectStorage', bucket)} (minio or r2 with endpoint: URL)",
        _one_replica(document),
    ]


def _database(document: Document) -> list[str]:
    external = "{mode: external, externalURLSecretRef: {name: SECRET, key: DATABASE_URL}}"
    return [
        f"{_set(document, 'spec.database', external)} (copy the embedded database there first: "
        "pg_dump from the running pod)",
        _one_replica(document),
    ]


def _controller_namespace(document: Document) -> list[str]:
    return [
        _set(document, "spec.security.networkPolicy.ingressControllerNamespaces", "[NAMESPACE]")
        + " (e.g. [ingress-nginx])",
        _set(document, "spec.security.networkPolicy.allowIngressCIDRs", "[CIDR]"),
    ]


def _restore(document: Document) -> list[str]:
    backup = '{schedule: "0 3 * * *", s3: {bucket: BUCKET}}'
    return [
        f"{_set(document, 'spec.restoreFrom', 'null')} (as the operator ran: it never "
        "implemented restoreFrom)",
        f"{_set(document, 'spec.restoreFrom', 'latest')} {_set(document, 'spec.backup', backup)}"
        " (the newest backup this tool writes to BUCKET)",
    ]


def _requests(document: Document) -> list[str]:
    found = [_set(document, "spec.resources.requests", "{cpu: 500m, memory: 1Gi}")]
    memory = "spec.availability.autoScaling.targetMemoryUtilizationPercentage"
    if dig(document.body, memory.split(".")):
        found.append(_set(document, memory, "null") + " (for the memory target)")
    return found


def _data_sharing(document: Document) -> list[str]:
    shared = "{accessModes: [ReadWriteMany], storageClass: CLASS}"
    return [
        f"{_set(document, 'spec.storage.persistence', shared)} (a class that provides "
        "ReadWriteMany; a claim's access modes cannot change, so this is a new, empty volume)",
        f"{_set(document, 'spec.storage.persistence.enabled', 'false')} (files in "
        "objectStorage, a database that is not embedded)",
        _one_replica(document),
    ]


def _database_url(document: Document) -> list[str]:
    return [
        _set(document, "spec.database.externalURLSecretRef", "{name: SECRET, key: DATABASE_URL}")
    ]


def _own_app(document: Document) -> list[str]:
    name = document.name
    return [
        shlex.join(["--instance", name, "--out", f"apps/{name}.yaml"]) + " (this Instance alone; "
        "the others in another run with their own --instance and --out)",
        f"{_set(document, 'spec.image.autoUpdate.enabled', 'false')} (keep the pinned image; "
        "update it in git by hand)",
    ]


def _mode(document: Document) -> object:
    return dig(document.spec, ["database", "mode"])


DECISIONS: tuple[Decision, ...] = (
    Decision(
        "image-version",
        ("spec.image", "spec.image.tag", "spec.image.digest", "spec.image.autoUpdate.enabled"),
        "which Paperclip image to run (the document pins none that can be pulled and "
        "reviewed, and its status names no digest)",
        _image,
    ),
    Decision(
        "file-storage-bucket",
        ("spec.objectStorage",),
        "where uploaded files live so that every replica sees them (a bucket), or one replica",
        _file_storage,
        lambda document: document.spec.get("objectStorage") is None,
    ),
    Decision(
        "database-for-replicas",
        ("spec.database.mode",),
        "where the database lives for several replicas (the embedded one is inside one pod), "
        "or one replica",
        _database,
        lambda document: _mode(document) == "embedded",
    ),
    Decision(
        "database-url-secret",
        ("spec.database",),
        "which Secret key holds the external database's URL",
        _database_url,
        lambda document: _mode(document) == "external",
    ),
    Decision(
        "ingress-controller-namespace",
        ("spec.security.networkPolicy.ingressControllerNamespaces",),
        "in which namespace the ingress controller runs (the server NetworkPolicy admits it)",
        _controller_namespace,
    ),
    Decision(
        "restore-source",
        ("spec.restoreFrom",),
        "what to restore, if anything",
        _restore,
    ),
    Decision(
        "resource-requests",
        (
            "spec.availability.autoScaling.targetCPUUtilizationPercentage",
            "spec.availability.autoScaling.targetMemoryUtilizationPercentage",
        ),
        "how much CPU and memory the server requests (the autoscaler measures utilization "
        "against the requests)",
        _requests,
    ),
    Decision(
        "data-volume-sharing",
        ("spec.storage.persistence.accessModes",),
        "how several replicas share the data volume, or one replica",
        _data_sharing,
    ),
    Decision(
        "image-automation-app",
        (),  # an app-level refusal: see decision_problem
        "which app file the auto-updated Instance goes to (image automation rewrites its "
        "repository everywhere in one app)",
        _own_app,
    ),
)
"""Every decision, by the refusals it answers."""


def decision_problem(document: Document, problem: Problem, decision: Decision | None) -> Problem:
    """``problem`` of ``document``, located; with a ``decision``, naming the choice and the
    options that give it."""
    located = problem.located(file=document.source, document=document.label)
    if decision is None:
        return located
    return replace(
        located,
        message=f"{problem.message} This needs your decision ({decision.name}): {decision.choice}.",
        fix="give it with " + ", or ".join(decision.options(document)) + ".",
    )


def decided(document: Document, problems: Sequence[Problem]) -> list[Problem]:
    """The document's refusals, located; each one a decision answers names the choice and
    the options that give it."""
    return [
        decision_problem(document, p, next((d for d in DECISIONS if d.answers(p, document)), None))
        for p in problems
    ]


def decision(name: str) -> Decision:
    return next(d for d in DECISIONS if d.name == name)


__all__ = ["DECISIONS", "Decision", "decided", "decision", "decision_problem"]
