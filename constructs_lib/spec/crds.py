"""Pinned CustomResourceDefinitions of the non-core kinds the generator emits.

The CRDs are the upstream projects' own files, taken from their Go modules as served by the
Go module proxy (``$GOPROXY``, first entry; default https://proxy.golang.org): a module zip is
downloaded with plain Python, only the files listed here are extracted, and each is checked
against the sha256 pinned below before it is cached under
``$XDG_CACHE_HOME/paperclip-gitops/crds/`` (default ``~/.cache``). The repository holds only
versions, paths and hashes, never the CRD files. The same files serve synth-time validation
(:mod:`constructs_lib.spec.kubeschema`) and installation into the test control plane
(``tests/controlplane/crds.py``).

The image automation controllers' modules are not on the proxy (only their ``/api``
modules are), so their CRDs are generated from the API module with controller-gen, exactly as
the upstream Makefiles do (``controller-gen crd paths=./...``); that step needs the Go
toolchain and runs only when an image automation kind is validated or prefetched. Its output
is pinned by sha256 like the downloaded files.

Schemas are fetched lazily: an app that emits no non-core kind needs no network.
``python -m constructs_lib.spec.prefetch`` fetches everything (``make setup`` runs it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_GOPROXY = "https://proxy.golang.org"

# One Flux release: the controller versions that Flux v2.9.5 ships (its go.mod), recorded in
# one place so the controllers built later (issue 13) match these CRDs.
FLUX_RELEASE: dict[str, str] = {
    "flux2": "v2.9.5",
    "source-controller": "v1.9.5",
    "kustomize-controller": "v1.9.5",
    "helm-controller": "v1.6.4",
    "image-reflector-controller": "v1.2.5",
    "image-automation-controller": "v1.2.5",
}
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
GATEWAY_API_VERSION = "v1.7.0"  # standard channel
ARGO_CD_VERSION = "v3.6.1"
CONTROLLER_TOOLS_VERSION = "v0.23.0"  # controller-gen for the image automation CRDs


class SchemaUnavailable(Exception):
    """A pinned CRD could not be fetched or did not match its pin."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(f"{message} Fix: {fix}" if fix else message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class CrdFile:
    """One CRD file: where it comes from, its pinned sha256 and the kinds it defines."""

    group: str
    kinds: tuple[str, ...]
    module: str
    version: str
    path: str
    """Path inside the module zip (downloaded) or controller-gen's output file (generated)."""
    sha256: str
    generate: tuple[str, ...] = ()
    """Package patterns for controller-gen; empty when the file is downloaded as it is."""

    @property
    def source(self) -> str:
        return f"{self.module}@{self.version}"


_FLUX = "github.com/fluxcd"

PINNED: tuple[CrdFile, ...] = (
    *(
        CrdFile(
            "monitoring.coreos.com",
            (kind,),
            "github.com/prometheus-operator/prometheus-operator",
            PROMETHEUS_OPERATOR_VERSION,
            f"jsonnet/prometheus-operator/{kind.lower()}s-crd.json",
            sha,
        )
        for kind, sha in (
            ("ServiceMonitor", "1b18bda6874b042d55a2f7bd2aee34971ff29f2d5c4acee754a4e7eed26b1b6d"),
            ("PodMonitor", "45a69ecc02db50af3a94f180faf46c7a19a27ed0d536965f00e8834df2d67948"),
            ("PrometheusRule", "840428e35371a41f4d2380bc35b9321b8d1080ffff27670fc376efd333750816"),
        )
    ),
    CrdFile(
        "gateway.networking.k8s.io",
        ("HTTPRoute",),
        "sigs.k8s.io/gateway-api",
        GATEWAY_API_VERSION,
        "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
        "ac4c1e0ad475793728a3c599cdac602cc658a633787a2fa568339e98aae93674",
    ),
    *(
        CrdFile(
            "argoproj.io",
            (kind,),
            "github.com/argoproj/argo-cd/v3",
            ARGO_CD_VERSION,
            f"manifests/crds/{kind.lower()}-crd.yaml",
            sha,
        )
        for kind, sha in (
            ("Application", "9fd0da3e7097ad6d1af614fabd5c960bc7ddb00d768c3ef485a2fda6e9460df8"),
            ("ApplicationSet", "980128848a8d2152b946aec6a11cdd1174b38b04587f4fba94537c040fd84202"),
            ("AppProject", "084150a2feccd188a1dee09cd8a3a259dfacecdfb7e10037df78900f60816482"),
        )
    ),
    CrdFile(
        "source.toolkit.fluxcd.io",
        ("GitRepository",),
        f"{_FLUX}/source-controller",
        FLUX_RELEASE["source-controller"],
        "config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
        "bd0c08183287b2eea0d885751fc686bc4b2b583e919de6bd57859170b8d1727f",
    ),
    CrdFile(
        "kustomize.toolkit.fluxcd.io",
        ("Kustomization",),
        f"{_FLUX}/kustomize-controller",
        FLUX_RELEASE["kustomize-controller"],
        "config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "da23ca0e6b4c80d3d26a91583137491e147ef4ef1e2208aece0d0af4ef851974",
    ),
    CrdFile(
        "helm.toolkit.fluxcd.io",
        ("HelmRelease",),
        f"{_FLUX}/helm-controller",
        FLUX_RELEASE["helm-controller"],
        "config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml",
        "aa8638ac68465ceac1f93a617baf5be833c589c51fd78a7384a4a274c252becc",
    ),
)


_IMAGE = "image.toolkit.fluxcd.io"
_REFLECTOR = f"{_FLUX}/image-reflector-controller/api"
_AUTOMATION = f"{_FLUX}/image-automation-controller/api"

GENERATED: tuple[CrdFile, ...] = (
    CrdFile(
        _IMAGE,
        ("ImageRepository",),
        _REFLECTOR,
        FLUX_RELEASE["image-reflector-controller"],
        f"{_IMAGE}_imagerepositories.yaml",
        "95c5d3ed925090aed672cc00295069c08f8b413d44f6b3c3672fc9e945aca543",
        generate=(f"{_REFLECTOR}/...",),
    ),
    CrdFile(
        _IMAGE,
        ("ImagePolicy",),
        _REFLECTOR,
        FLUX_RELEASE["image-reflector-controller"],
        f"{_IMAGE}_imagepolicies.yaml",
        "3706952f236061d7aa1c158c5dac6b59e3bfa29da5ca28116c13b82c3aa30e0f",
        generate=(f"{_REFLECTOR}/...",),
    ),
    CrdFile(
        _IMAGE,
        ("ImageUpdateAutomation",),
        _AUTOMATION,
        FLUX_RELEASE["image-automation-controller"],
        f"{_IMAGE}_imageupdateautomations.yaml",
        "36cc97a7c3105f298e51dbbd31b17befa5565b092614d9cebe4525a9b0d428a9",
        generate=(f"{_AUTOMATION}/...",),
    ),
)


@cache
def _by_kind() -> dict[tuple[str, str], CrdFile]:
    return {(f.group, kind): f for f in pinned_files() for kind in f.kinds}


def pinned_files() -> tuple[CrdFile, ...]:
    return PINNED + GENERATED


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def pinned_kinds() -> list[tuple[str, str]]:
    """(apiVersion, kind) of every served version of every pinned CRD (fetches them)."""
    return sorted(
        (f"{crd['spec']['group']}/{version['name']}", crd_kind(crd))
        for crd_file in pinned_files()
        for crd in _load(crd_file)
        for version in crd["spec"]["versions"]
        if version.get("served")
    )


def crd_kind(crd: dict[str, Any]) -> str:
    return str(crd["spec"]["names"]["kind"])


def is_pinned(api_version: str, kind: str) -> bool:
    """Whether a pinned CRD defines this kind's group (without fetching anything)."""
    return (group_of(api_version), kind) in _by_kind()


def crd_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """The pinned CRD object defining (apiVersion, kind), or None when no pin covers it.

    Fetches the CRD file on first use; raises :class:`SchemaUnavailable` when that fails.
    """
    crd_file = _by_kind().get((group_of(api_version), kind))
    if crd_file is None:
        return None
    return next((crd for crd in _load(crd_file) if crd_kind(crd) == kind), None)


def version_schema(crd: dict[str, Any], api_version: str) -> dict[str, Any] | None:
    """The openAPIV3Schema of the served CRD version named by ``api_version``."""
    name = api_version.rpartition("/")[2]
    for version in crd["spec"]["versions"]:
        if version["name"] == name and version.get("served"):
            schema = version.get("schema", {}).get("openAPIV3Schema")
            return dict(schema) if schema is not None else None
    return None


# --- fetching -----------------------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paperclip-gitops" / "crds"


def goproxy() -> str:
    """The first entry of $GOPROXY (default https://proxy.golang.org)."""
    value = os.environ.get("GOPROXY", "").strip() or DEFAULT_GOPROXY
    return value.replace("|", ",").split(",")[0].strip().rstrip("/")


def escape_module_path(path: str) -> str:
    """The Go module proxy's case encoding: each capital letter becomes '!' + lower case."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in path)


def _cached_path(crd_file: CrdFile) -> Path:
    return cache_root() / escape_module_path(crd_file.source) / crd_file.path


_failed: dict[str, SchemaUnavailable] = {}


@cache
def _load(crd_file: CrdFile) -> tuple[dict[str, Any], ...]:
    data = _fetch(crd_file)
    # Parsing YAML is slow (the ApplicationSet CRD is 1.5 MB: ~1 s); keep a JSON copy of the
    # parsed documents beside the verified file, keyed by its hash.
    parsed = Path(f"{_cached_path(crd_file)}.parsed.json")
    try:
        stored = json.loads(parsed.read_bytes())
        if stored.get("sha256") == crd_file.sha256:
            return tuple(stored["documents"])
    except (OSError, ValueError, AttributeError):
        pass
    if crd_file.path.endswith(".json"):
        documents = [json.loads(data)]
    else:
        documents = list(yaml.load_all(data, Loader=yaml.CSafeLoader))
    found = tuple(
        d for d in documents if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
    )
    with contextlib.suppress(OSError):
        temporary = parsed.with_name(f".{parsed.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"sha256": crd_file.sha256, "documents": found}))
        temporary.replace(parsed)
    return found


def _fetch(crd_file: CrdFile) -> bytes:
    """The verified bytes of one pinned file, from the cache or fetched into it."""
    target = _cached_path(crd_file)
    if target.is_file():
        data = target.read_bytes()
        if hashlib.sha256(data).hexdigest() == crd_file.sha256:
            return data
    if crd_file.source in _failed:
        raise _failed[crd_file.source]
    try:
        (_generate_module if crd_file.generate else _download_module)(crd_file)
    except SchemaUnavailable as exc:
        _failed[crd_file.source] = exc
        raise
    return target.read_bytes()


def _write_verified(crd_file: CrdFile, data: bytes, origin: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != crd_file.sha256:
        raise SchemaUnavailable(
            f"{crd_file.path} from {origin} has sha256 {digest}, but "
            f"constructs_lib/spec/crds.py pins {crd_file.sha256} for {crd_file.source}: "
            "the file is not the one the generator was reviewed against.",
            "check that GOPROXY points to a trustworthy proxy; if the module was re-published "
            "on purpose, review the new CRD and update the pin in constructs_lib/spec/crds.py.",
        )
    target = _cached_path(crd_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)


def _download_module(crd_file: CrdFile) -> None:
    """Download one module zip and cache every pinned file of that module version from it."""
    proxy = goproxy()
    url = f"{proxy}/{escape_module_path(crd_file.module)}/@v/{crd_file.version}.zip"

    def unavailable(problem: str, fix: str) -> SchemaUnavailable:
        return SchemaUnavailable(f"cannot fetch the CRDs of {crd_file.source}: {problem}.", fix)

    if not proxy.startswith(("https://", "http://", "file://")):
        raise unavailable(
            f"GOPROXY's first entry is {proxy!r}, not a proxy URL",
            f"set GOPROXY={DEFAULT_GOPROXY} (or another proxy URL) and run `make setup`.",
        )
    fix = (
        "connect to the network (or set GOPROXY to a reachable Go module proxy that serves "
        "this module version) and run `make setup`, which prefetches every pinned CRD into "
        f"{cache_root()}."
    )
    import urllib.error  # only to fetch a CRD (make setup): a synth reads the cache
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise unavailable(f"{url} answered {exc.code} {exc.reason}", fix) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise unavailable(f"downloading {url} failed ({reason})", fix) from None
    prefix = f"{crd_file.source}/"
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        for sibling in pinned_files():
            if sibling.source == crd_file.source and not sibling.generate:
                _write_verified(sibling, archive.read(prefix + sibling.path), url)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise unavailable(f"{url} is not the module zip expected ({exc})", fix) from None


def _generate_module(crd_file: CrdFile) -> None:
    """Run controller-gen over an API module (Go toolchain needed) and cache its CRDs."""
    go = shutil.which("go")
    what = f"the CRDs of {crd_file.source}"
    if go is None:
        raise SchemaUnavailable(
            f"cannot build {what}: they are generated with controller-gen from the API module "
            "(the controller module is not on the Go module proxy), which needs the Go "
            "toolchain, and `go` is not on PATH.",
            "install Go 1.26 (the control plane build needs it too) and run `make setup`.",
        )
    tools = cache_root() / "bin" / f"controller-gen-{CONTROLLER_TOOLS_VERSION}"
    controller_gen = tools / "controller-gen"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    with tempfile.TemporaryDirectory(prefix="paperclip-crdgen-") as work:

        def run(*command: str) -> None:
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise SchemaUnavailable(
                    f"cannot build {what}: `{' '.join(command)}` failed: {' | '.join(tail)}.",
                    "check that the Go module proxy (GOPROXY) is reachable and serves "
                    f"{crd_file.source} and sigs.k8s.io/controller-tools@"
                    f"{CONTROLLER_TOOLS_VERSION}, then run `make setup`.",
                )

        if not controller_gen.is_file():
            tools.mkdir(parents=True, exist_ok=True)
            env["GOBIN"] = str(tools)
            run(
                go,
                "install",
                f"sigs.k8s.io/controller-tools/cmd/controller-gen@{CONTROLLER_TOOLS_VERSION}",
            )
        run(go, "mod", "init", "local/crdgen")
        run(go, "get", crd_file.source)
        out = Path(work) / "out"
        siblings = [f for f in pinned_files() if f.source == crd_file.source]
        for paths in sorted({";".join(f.generate) for f in siblings}):
            run(str(controller_gen), "crd", f"paths={paths}", f"output:crd:dir={out}")
        for sibling in siblings:
            path = out / sibling.path
            if not path.is_file():
                raise SchemaUnavailable(
                    f"cannot build {what}: controller-gen wrote no {sibling.path}.",
                    "check CONTROLLER_TOOLS_VERSION and the pins in constructs_lib/spec/crds.py.",
                )
            _write_verified(sibling, path.read_bytes(), f"controller-gen over {what}")


def prefetch() -> int:
    """Fetch every pinned CRD into the cache; returns how many files are cached."""
    for crd_file in pinned_files():
        _load(crd_file)
    return len(pinned_files())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m constructs_lib.spec.prefetch",
        description="Fetch and verify the pinned CRDs of the non-core kinds.",
    )
    parser.add_argument("--prefetch", action="store_true", help="fetch every pinned CRD")
    parser.add_argument("--list", action="store_true", help="print the pinned kinds")
    args = parser.parse_args(argv)
    try:
        if args.prefetch:
            print(f"{prefetch()} pinned CRD files verified in {cache_root()}")
        if args.list:
            for api_version, kind in pinned_kinds():
                print(f"{api_version} {kind}")
    except SchemaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
