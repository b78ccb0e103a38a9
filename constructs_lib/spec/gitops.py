"""The GitOps config: where this repository lives and how Argo CD and Flux sync ``dist/``.

Read from ``apps/_gitops.yaml`` (``apps/`` discovery skips names starting with ``_``); without
that file no ``dist/gitops/`` is written. Every field documents its default.
"""

import difflib
import re
import urllib.parse
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from constructs_lib.errors import Problem, UserError
from constructs_lib.spec.base import Namespace, ObjectName, SpecModel, StrictBool
from constructs_lib.spec.instance_errors import known_fields
from constructs_lib.spec.yaml_safety import decode, read_app_file, yaml_documents

CONFIG_FILE = "_gitops.yaml"
"""The config's file name inside the apps directory."""
GITOPS_DIR = "gitops"
"""Its output directory under ``dist/`` (so no app may be named ``gitops``)."""

Duration = Annotated[str, Field(pattern=r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")]
"""A Go duration such as 5m or 1h30m."""
AppName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class ArgoCDConfig(SpecModel):
    """The Argo CD objects: an AppProject and an ApplicationSet (and optional Helm
    Applications)."""

    enabled: StrictBool = True
    """Write the Argo CD objects (dist/gitops/argocd/). Default: true."""
    namespace: Namespace = "argocd"
    """Namespace Argo CD runs in (its Applications live there). Default: argocd."""
    project: ObjectName = "paperclip"
    """Name of the AppProject. Default: paperclip."""
    server: Annotated[str, Field(pattern=r"^https://[^\s]+$")] = "https://kubernetes.default.svc"
    """Destination cluster API URL. Default: https://kubernetes.default.svc (the cluster Argo
    CD runs in)."""
    helm_applications: StrictBool = False
    """Also write one Application per app with a Helm source (dist/<app>/helm) instead of the
    ApplicationSet's Kustomize sources (apply one or the other, never both). Default: false."""


class FluxConfig(SpecModel):
    """The Flux objects: a GitRepository, a Kustomization per app, and the alternative
    HelmRelease per app."""

    enabled: StrictBool = True
    """Write the Flux objects (dist/gitops/flux/). Default: true."""
    namespace: Namespace = "flux-system"
    """Namespace of the Flux objects. Default: flux-system."""
    interval: Duration = "5m"
    """How often Flux fetches and reconciles. Default: 5m."""
    timeout: Duration = "10m"
    """How long a Kustomization waits for health (and a HelmRelease for its hooks). Default:
    10m."""
    kube_config_secret: ObjectName | None = None
    """A Secret holding a kubeconfig (key value) for a remote target cluster. Default: unset
    (the cluster Flux runs in)."""
    helm_releases: StrictBool = True
    """Also write the alternative HelmRelease per app (dist/gitops/flux/helm/; apply it
    instead of the Kustomizations). Default: true."""


def entry_name(app: str) -> str:
    """The name of an app's entry objects (its Application, Kustomization or HelmRelease)."""
    return f"paperclip-{app}"


class GitOpsConfig(SpecModel):
    """Where this repository lives and which apps Argo CD and Flux sync."""

    repo_url: Annotated[str, Field(alias="repoURL", min_length=1)]
    """The Git URL of this repository: https://host/path, ssh://user@host/path or
    user@host:path. It must hold no credentials (use secretRef). Required."""
    revision: Annotated[str, Field(min_length=1)] = "main"
    """The branch Argo CD and Flux follow. Default: main."""
    path: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")] | None = None
    """Where the generated tree lives in the repository, from its root with no '.' or '..'
    segments, e.g. deploy/paperclip/dist in a monorepo. Default: the synth output directory
    relative to the repository's root (the directory holding .git), which is dist for `make
    synth`."""
    secret_ref: ObjectName | None = Field(default=None, alias="secretRef")
    """A Secret with the repository's credentials, by name (never the credentials): Flux's
    GitRepository secretRef in its namespace (https: username and password; ssh: identity and
    known_hosts). Argo CD finds credentials by URL: create its repository Secret for repoURL
    (docs/argocd.md, "Repository credentials"). Default: none (a public repository)."""
    name: ObjectName = "paperclip-gitops"
    """Name of the Flux GitRepository (and prefix of the generated objects). Default:
    paperclip-gitops."""
    apps: list[AppName] | None = None
    """Which apps to sync. Default: every app in apps/."""
    depends_on: dict[AppName, list[AppName]] = {}
    """Apps that need another app first (Flux dependsOn), e.g. {team-b: [shared-db]}. Default:
    none."""
    argocd: ArgoCDConfig = ArgoCDConfig()
    """Argo CD settings. Default: enabled, namespace argocd, project paperclip."""
    flux: FluxConfig = FluxConfig()
    """Flux settings. Default: enabled, namespace flux-system, interval 5m, timeout 10m."""

    @field_validator("repo_url")
    @classmethod
    def _repo_url(cls, url: str) -> str:
        """Refuse what cannot be the repository URL. A URL that holds a credential is refused:
        the URL is written into the AppProject, the ApplicationSet and the GitRepository, all
        committed to dist/."""
        if any(c.isspace() for c in url):
            raise ValueError("must not contain spaces")
        if _SCP_LIKE.match(url):
            return url
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("https", "http", "ssh") or not parsed.hostname:
            raise ValueError(
                "must be https://host/path, ssh://user@host/path or user@host:path (got a "
                f"{parsed.scheme or 'scheme-less'} URL)"
            )
        if parsed.password is not None or (parsed.scheme != "ssh" and parsed.username):
            raise ValueError(
                "holds a credential (user:token@): it would be committed to dist/; remove it, "
                "put the credential in a Secret and name it in secretRef"
            )
        if parsed.query or parsed.fragment:
            raise ValueError(
                "has a query or fragment, where tokens hide: it would be committed to dist/; "
                "remove it, put any credential in a Secret and name it in secretRef"
            )
        return url

    @property
    def helm_root(self) -> str:
        """The Helm flavour's root Application and Kustomization."""
        return f"{self.name}-helm"

    @property
    def namespaces_root(self) -> str:
        """The Flux Kustomization of the apps' Namespaces."""
        return f"{self.name}-namespaces"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        # the GitRepository's ignore rules name the tree literally: with ./dist or ops/../dist
        # they would keep none of its files (and the entry objects' paths need the plain form)
        if value is not None and any(part in (".", "..") for part in value.split("/")):
            raise ValueError(
                "must name the directory from the repository's root with no '.' or '..' "
                "segments, e.g. dist or deploy/paperclip/dist"
            )
        return value

    @model_validator(mode="after")
    def _known_dependencies(self) -> Self:
        for app, needs in self.depends_on.items():
            if app in needs:
                raise ValueError(f"dependsOn: app {app!r} cannot depend on itself")
        return self


_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s:][^\s]*)$"
)
PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net", "example.invalid")


def flux_url(url: str) -> str:
    """The URL as Flux's GitRepository takes it (its CRD wants a scheme): user@host:path
    becomes ssh://user@host/path."""
    match = _SCP_LIKE.match(url)
    return f"ssh://{match['user']}@{match['host']}/{match['path'].lstrip('/')}" if match else url


def config_warnings(config: GitOpsConfig, file: str) -> list[Problem]:
    """What synthesizes but will not sync as it stands."""
    # host names are case-insensitive: urlsplit lowers them (user@host:path as ssh://)
    url = flux_url(config.repo_url)
    host = urllib.parse.urlsplit(url).hostname or ""
    warnings = [  # (whether it applies, message, fix)
        (
            any(host == h or host.endswith("." + h) for h in PLACEHOLDER_HOSTS),
            f"is the placeholder {config.repo_url!r}: Argo CD and Flux cannot fetch it.",
            "set repoURL to this repository's URL.",
        ),
        (
            url.startswith("ssh://") and config.secret_ref is None,
            "is an ssh URL but no secretRef names the key: Flux cannot clone it.",
            "create a Secret with identity and known_hosts in the Flux namespace and "
            "set secretRef (Argo CD: its repository Secret for this URL).",
        ),
    ]
    return [Problem(m, path="repoURL", fix=fix, file=file) for found, m, fix in warnings if found]


def _problems(error: ValidationError, file: str) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"] if not str(p).startswith("function-")]
        path = ".".join(loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        fix = "see the field list in constructs_lib/spec/gitops.py (every default is stated)."
        if item["type"] == "extra_forbidden":
            message = "is not a field of the GitOps config."
            known = sorted(known_fields(GitOpsConfig, loc[:-1]))
            close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
            fix = f"did you mean {close[0]!r}?" if close else "known fields: " + ", ".join(known)
        elif item["type"] == "missing":
            message = "is required."
        elif loc and loc[-1] == "repoURL":
            # never echoed: a repository URL may hold a credential
            message, fix = f"{message}.", "write the repository's URL without credentials."
        else:
            message = f"{message} (got {item.get('input')!r})."
        problems.append(Problem(message=message, path=path, fix=fix, file=file))
    return problems


def load_config(apps_dir: Path) -> GitOpsConfig | None:
    """The config in ``<apps_dir>/_gitops.yaml``, or None when there is none."""
    path = apps_dir / CONFIG_FILE
    if not path.is_file():
        return None
    file = str(path)
    # the app files' reader: the same YAML checks (tags, keys, aliases), size limit and messages
    documents = yaml_documents(decode(read_app_file(path), file), file)
    data = documents[0] if len(documents) == 1 else None
    if not isinstance(data, dict):
        raise UserError.single(
            "must hold one mapping.",
            file=file,
            fix="write e.g. `repoURL: https://git.example.com/platform/paperclip-gitops.git`.",
        )
    try:
        return GitOpsConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(_problems(exc, file)) from None


def check_apps(config: GitOpsConfig, app_names: list[str], file: str) -> list[Problem]:
    """Problems with the app names the config refers to (in ``file``)."""
    problems = []
    known = set(app_names)
    named = [("apps", a) for a in config.apps or []]
    for app, needs in config.depends_on.items():
        named += [(f"dependsOn.{app}", n) for n in (app, *needs)]
    for path, app in named:
        if app not in known:
            close = difflib.get_close_matches(app, sorted(known), n=1)
            problems.append(
                Problem(
                    message=f"names the app {app!r}, which is not in the apps directory.",
                    path=path,
                    fix=f"did you mean {close[0]!r}?" if close else f"use one of {sorted(known)}.",
                )
            )
    selected = set(config.apps) if config.apps is not None else known
    problems += [
        Problem(
            message=f"app {app!r} depends on {need!r}, which is not synced.",
            path=f"dependsOn.{app}",
            fix=f"add {need!r} to apps.",
        )
        for app, needs in config.depends_on.items()
        if app in selected
        for need in needs
        if need not in selected and need in known
    ]
    problems += [
        Problem(
            message=f"is a cycle ({' -> '.join(cycle)}): Flux would hold each of these apps "
            "back forever, waiting for the next one to be ready.",
            path=f"dependsOn.{cycle[0]}",
            fix=f"remove one of the dependencies, e.g. {cycle[-2]!r} on {cycle[-1]!r}.",
        )
        for cycle in dependency_cycles(config.depends_on)
    ]
    # the names of the entry objects that are not an app's (an app's are paperclip-<app>), each
    # with what it names
    taken = {
        config.name: "the root Application and Kustomization and the GitRepository",
        config.helm_root: "the Helm flavour's root Application and Kustomization",
        config.namespaces_root: "the Flux Kustomization of the apps' Namespaces",
    }
    problems += [
        Problem(
            message=f"app {app!r} would get the entry objects named {entry_name(app)!r}, the name "
            f"of {taken[entry_name(app)]}: one would replace the other.",
            path="name",
            fix="rename the app file (or set name, the prefix of the root objects, to another "
            "value).",
        )
        for app in sorted(selected)
        if entry_name(app) in taken
    ]
    return [p.located(file=file) for p in problems]


def dependency_cycles(depends_on: dict[str, list[str]]) -> list[list[str]]:
    """Every cycle of ``depends_on`` found by a depth-first walk from each app in name order,
    each as the apps on it with the first repeated at the end (a -> b -> a)."""
    cycles: list[list[str]] = []
    done: set[str] = set()

    def walk(app: str, path: list[str]) -> None:
        if app in path:
            cycles.append([*path[path.index(app) :], app])
            return
        if app in done:
            return
        for need in depends_on.get(app, []):
            walk(need, [*path, app])
        done.add(app)

    for app in sorted(depends_on):
        walk(app, [])
    return cycles
