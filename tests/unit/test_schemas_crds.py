"""Pinned CRDs: fetching (from a real local HTTP module proxy), pins, the structural-schema
translation, and unknown kinds as errors."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.render.validate import validate_objects
from constructs_lib.spec import crds, kubeschema
from constructs_lib.spec.crds import SchemaUnavailable
from constructs_lib.spec.kubeschema import (
    DEFAULT_KUBERNETES_VERSION,
    UnknownKind,
    crd_json_schema,
    object_validator,
)
from tests.controlplane.crds import crd_manifests
from tests.unit.test_schemas_samples import INVALID, SAMPLES, STRICTER, VALID_VARIANTS, sample

VERSION = DEFAULT_KUBERNETES_VERSION


def errors(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return object_validator(VERSION, obj["apiVersion"], obj["kind"]).errors(obj)


# --- pins and samples -----------------------------------------------------------------------


def test_pins_are_complete_and_consistent() -> None:
    files = crds.pinned_files()
    assert len({(f.source, f.path) for f in files}) == len(files)
    assert all(len(f.sha256) == 64 and int(f.sha256, 16) >= 0 for f in files)
    flux = {f.module.split("/")[2]: f.version for f in files if "fluxcd" in f.module}
    assert flux == {k: v for k, v in crds.FLUX_RELEASE.items() if k != "flux2"}
    kinds = {k for _, k in crds.pinned_kinds()}
    assert {
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "HTTPRoute",
        "Application",
        "ApplicationSet",
        "AppProject",
        "GitRepository",
        "Kustomization",
        "HelmRelease",
        "ImageRepository",
        "ImagePolicy",
        "ImageUpdateAutomation",
    } == kinds
    assert ("gateway.networking.k8s.io/v1", "HTTPRoute") in crds.pinned_kinds()
    assert ("helm.toolkit.fluxcd.io/v2", "HelmRelease") in crds.pinned_kinds()


def test_crd_manifests_are_the_real_crds() -> None:
    manifests = crd_manifests(
        [("monitoring.coreos.com/v1", "ServiceMonitor"), ("argoproj.io/v1alpha1", "AppProject")] * 2
    )
    assert [m["metadata"]["name"] for m in manifests] == [
        "appprojects.argoproj.io",
        "servicemonitors.monitoring.coreos.com",
    ]
    assert all(m["kind"] == "CustomResourceDefinition" for m in manifests)
    with pytest.raises(KeyError, match=r"example\.com/v1 Widget"):
        crd_manifests([("example.com/v1", "Widget")])


def test_samples_are_valid_and_invalid_variants_are_reported_at_their_path() -> None:
    for obj in SAMPLES + [v for _, v in VALID_VARIANTS]:
        assert errors(obj) == [], obj["kind"]
    paths = {what: [p for p, _ in errors(obj)] for what, obj in INVALID}
    assert paths == {
        "an int32 field above 2^31-1": ["spec.rules[0].filters[0].cors.maxAge"],
        "unknown field in a ServiceMonitor endpoint": ["spec.endpoints[0]"],
        "a number where GitRepository wants a string": ["spec.ref.branch"],
        "an HTTPRoute backend port above 65535": ["spec.rules[0].backendRefs[0].port"],
        "a Kustomization sourceRef kind outside the enum": ["spec.sourceRef.kind"],
        "an unknown metadata field": ["metadata"],
        "a missing required field": ["spec"],
    }
    stricter = {what: [p for p, _ in errors(obj)] for what, obj in STRICTER}
    assert stricter == {
        "a null for a non-nullable field": ["spec.ref.branch"],
    }


def test_the_served_version_is_checked() -> None:
    wrong = sample("GitRepository") | {"apiVersion": "source.toolkit.fluxcd.io/v1beta2"}
    with pytest.raises(UnknownKind, match=r"serves source\.toolkit\.fluxcd\.io/v1"):
        errors(wrong)


# --- structural schema translation ----------------------------------------------------------

STRUCTURAL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "format": "int32", "minimum": 0},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "level": {"type": "string", "pattern": "^(?i)(low|high)$"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "ratio": {"type": "number", "maximum": 1, "exclusiveMaximum": True},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
                "checked": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self != 'x'"}],
                },
            },
        }
    },
}


def _widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, **spec},
    }


@pytest.fixture(scope="module")
def widget() -> kubeschema.SchemaValidator:
    _, compiler = kubeschema._registry(VERSION)
    schema = crd_json_schema(STRUCTURAL, "example.com/v1", "Widget")
    return kubeschema.SchemaValidator(schema, compiler)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({}, None),
        ({"port": 8080}, None),
        ({"port": "http"}, None),
        ({"port": 1.5}, "spec.port"),
        ({"note": None}, None),
        ({"mode": None}, "spec.mode"),
        ({"mode": "c"}, "spec.mode"),
        ({"level": "HIGH"}, None),
        ({"level": "high\n"}, "spec.level"),  # Go's $ is the end of the text
        ({"size": 2**31 - 1}, None),
        ({"size": 2**31}, "spec.size"),
        ({"size": -1}, "spec.size"),
        ({"free": {"anything": {"goes": [1]}}}, None),
        ({"labels": {"a": "b"}}, None),
        ({"labels": {"a": 1}}, "spec.labels.a"),
        ({"ratio": 0.5}, None),
        ({"ratio": 1}, "spec.ratio"),
        ({"unknown": 1}, "spec"),
        ({"template": {"apiVersion": "v1", "kind": "Pod", "spec": {"x": 1}}}, None),
        ({"template": {"kind": "Pod"}}, "spec.template"),
        (
            {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"nam": "x"}}},
            "spec.template.metadata",  # validated as ObjectMeta: 'nam' is unknown
        ),
        ({"checked": "x"}, None),  # CEL: not evaluated here, by the API server only
    ],
)
def test_structural_schema_rules(
    widget: kubeschema.SchemaValidator, spec: dict[str, Any], problem: str | None
) -> None:
    found = {path for path, _ in widget.errors(_widget(**spec))}
    assert found == ({problem} if problem else set())


def test_top_level_metadata_is_object_meta_and_apiversion_kind_are_fixed(
    widget: kubeschema.SchemaValidator,
) -> None:
    obj = _widget()
    obj["metadata"]["annotations"] = {"a": 1}
    obj["apiVersion"] = "example.com/v2"
    assert [p for p, _ in widget.errors(obj)] == ["apiVersion", "metadata.annotations.a"]


# --- unknown kinds --------------------------------------------------------------------------


def test_an_unknown_kind_is_an_error_naming_it() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(UnknownKind):
        object_validator(VERSION, "example.com/v1", "Widget")
    [problem] = validate_objects([obj], VERSION, file="apps/a.yaml", instance="a")
    assert problem.path == "apiVersion"
    assert "Widget w" in problem.message
    assert "not a kind the generator knows a pinned schema for" in problem.message
    assert "constructs_lib/spec/crds.py" in problem.fix
    assert problem.file == "apps/a.yaml"


# --- fetching from a module proxy -------------------------------------------------------------


class _Proxy(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        body = type(self).files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body if body is not None else b"not found")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[_Proxy]]:
    """A real HTTP module proxy on the loopback, an empty cache, and clean module caches."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Proxy.files, _Proxy.requests = {}, []
    monkeypatch.setenv("GOPROXY", f"http://127.0.0.1:{server.server_address[1]},direct")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def clear() -> None:
        crds._load.cache_clear()
        crds._failed.clear()
        object_validator.cache_clear()

    clear()
    yield _Proxy
    server.shutdown()
    server.server_close()
    clear()


GITREPO = next(f for f in crds.PINNED if "GitRepository" in f.kinds)
ZIP_URL = f"/{GITREPO.module}/@v/{GITREPO.version}.zip"


def _module_zip(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{GITREPO.source}/{GITREPO.path}", content)
        archive.writestr(f"{GITREPO.source}/go.mod", b"module x\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def real_gitrepository_crd() -> bytes:
    """The pinned file from the real cache (prefetched by `make setup`), read before the
    ``proxy`` fixture points the cache elsewhere."""
    data = crds._fetch(GITREPO)
    assert hashlib.sha256(data).hexdigest() == GITREPO.sha256
    return data


def test_core_kinds_need_no_network(proxy: type[_Proxy]) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    assert validate_objects([obj], VERSION, file="f", instance="i") == []
    assert proxy.requests == []


def test_a_download_is_verified_cached_and_used(
    real_gitrepository_crd: bytes, proxy: type[_Proxy], tmp_path: Path
) -> None:
    proxy.files[ZIP_URL] = _module_zip(real_gitrepository_crd)
    obj = sample("GitRepository")
    assert validate_objects([obj], VERSION, file="f", instance="i") == []
    cached = crds._cached_path(GITREPO)
    assert cached.is_relative_to(tmp_path / "cache" / "paperclip-gitops" / "crds")
    assert cached.read_bytes() == real_gitrepository_crd
    assert proxy.requests == [ZIP_URL]
    crds._load.cache_clear()
    object_validator.cache_clear()
    bad = sample("GitRepository")
    bad["spec"]["ref"]["branch"] = 1
    assert [p.path for p in validate_objects([bad], VERSION, file="f", instance="i")] == [
        "spec.ref.branch"
    ]
    assert proxy.requests == [ZIP_URL]  # the second load came from the cache


def test_download_failure_is_one_clear_problem(proxy: type[_Proxy]) -> None:
    obj = sample("GitRepository")
    problems = validate_objects([obj, obj], VERSION, file="apps/a.py", instance="a")
    assert len(problems) == 2
    message = problems[0].render()
    assert f"{GITREPO.source}" in message
    assert f"{ZIP_URL}" in message and "404" in message
    assert "GOPROXY" in message and "make setup" in message
    assert len(proxy.requests) == 1  # the failure is remembered, not retried per object


def test_a_file_that_does_not_match_its_pin_is_refused(proxy: type[_Proxy]) -> None:
    proxy.files[ZIP_URL] = _module_zip(b"kind: CustomResourceDefinition\n")
    with pytest.raises(SchemaUnavailable) as caught:
        crds.crd_for("source.toolkit.fluxcd.io/v1", "GitRepository")
    assert "sha256" in caught.value.message and GITREPO.sha256 in caught.value.message
    assert not crds._cached_path(GITREPO).exists()


def test_prefetch_cli_exits_2_with_a_message(
    proxy: type[_Proxy], capsys: pytest.CaptureFixture[str]
) -> None:
    assert crds.main(["--prefetch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot fetch the CRDs of")
    assert "Traceback" not in err and "Fix:" in err


def test_goproxy_off_is_explained(proxy: type[_Proxy], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "off")
    with pytest.raises(SchemaUnavailable, match="not a proxy URL") as caught:
        crds.crd_for("source.toolkit.fluxcd.io/v1", "GitRepository")
    assert "GOPROXY=https://proxy.golang.org" in caught.value.fix


def test_escaped_module_paths() -> None:
    assert crds.escape_module_path("github.com/Azure/go") == "github.com/!azure/go"


def test_generated_crds_without_go_are_explained(
    proxy: type[_Proxy], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `go` here
    with pytest.raises(SchemaUnavailable) as caught:
        crds.crd_for("image.toolkit.fluxcd.io/v1", "ImagePolicy")
    assert "github.com/fluxcd/image-reflector-controller/api@" in caught.value.message
    assert "`go` is not on PATH" in caught.value.message
    assert "install Go" in caught.value.fix
    assert proxy.requests == []
