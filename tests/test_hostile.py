"""A hostile-input corpus: malformed, out-of-range and malicious apps (YAML and Python).

Every case must end with exit status 2, name the field path (or the file-level cause), print
no traceback, return (the test has a hang guard), and leave the output directory
byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.spec.loader import APP_TIMEOUT_ENV, MAX_ALIASES, MAX_DEPTH
from tests.conftest import MINIMAL, merge, tree_bytes

Case = tuple[str, str, str | bytes, str]
"""(case id, app file name, file content, text the error must contain)."""


def doc(spec: dict[str, Any] | None = None, **top: object) -> str:
    return yaml.safe_dump(merge(merge(MINIMAL, {"spec": spec or {}}), dict(top)))


def meta(**fields: object) -> dict[str, object]:
    return {"metadata": {"name": "demo", "namespace": "team", **fields}}


def sidecar(**fields: object) -> dict[str, Any]:
    return {"sidecars": [{"name": "side", "image": "busybox:1.36", **fields}]}


GOOD = doc()
HEAD = GOOD.rstrip("\n")

# --- YAML structure: parsers accept these, Kubernetes (or memory) does not -------------------
_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
STRUCTURE: list[Case] = [
    ("dup-top-key", "a.yaml", GOOD + "kind: Instance\n", "the key 'kind' appears twice"),
    ("dup-spec-key", "a.yaml", GOOD + "spec: {}\n", "the key 'spec' appears twice"),
    (
        "dup-nested-key",
        "a.yaml",
        GOOD.replace("  image:\n    tag: 2026.1106.0\n", "  image: {tag: '1', tag: '2'}\n"),
        "spec.image.tag",
    ),
    (
        "dup-key-in-list-item",
        "a.yaml",
        doc({"env": [{"name": "A", "value": "1"}]}).replace(
            "value: '1'", "value: '1'\n    name: B"
        ),
        "spec.env[0].name",
    ),
    ("dup-key-line-numbers", "a.yaml", GOOD + "metadata: {}\n", "(lines 3 and 13)"),
    ("alias-bomb", "a.yaml", _BOMB, "alias bomb"),
    ("alias-self-reference", "a.yaml", "a: &a [*a]\n", "refers to a node that contains it"),
    (
        "too-many-aliases",
        "a.yaml",
        "x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n",
        f"more than {MAX_ALIASES} aliases",
    ),
    ("deep-flow-nesting", "a.yaml", "a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting"),
    (
        "deep-block-nesting",
        "a.yaml",
        "a:\n" + "".join("  " * i + "- \n" for i in range(1, MAX_DEPTH + 10)),
        "nesting is deeper",
    ),
    ("tag-binary", "a.yaml", HEAD + "\n  suspended: !!binary aGk=\n", "spec.suspended"),
    ("tag-python-object", "a.yaml", "!!python/object/apply:os.system ['true']\n", "tag"),
    ("tag-custom", "a.yaml", HEAD + "\n  workload: !custom StatefulSet\n", "spec.workload"),
    ("tag-set", "a.yaml", HEAD + "\n  env: !!set {a, b}\n", "spec.env"),
    ("complex-key", "a.yaml", "? [a, b]\n: c\n", "mapping key"),
    ("alias-as-key", "a.yaml", "x: &k name\n*k : v\n", "mapping key"),
    ("non-utf8-byte", "a.yaml", GOOD.encode() + b"# \xff\n", "byte offset"),
    ("latin1-file", "a.yaml", GOOD.replace("demo", "d\u00e9mo").encode("latin-1"), "byte offset"),
    ("utf16-file", "a.yaml", GOOD.encode("utf-16"), "byte offset"),
    ("nul-byte", "a.yaml", GOOD + "\x00\n", "not valid YAML"),
    ("bell-control-char", "a.yaml", GOOD.replace("team", '"te\\x07am"'), "metadata.namespace"),
    ("raw-control-char", "a.yaml", GOOD.replace("team", "te\x07am"), "not valid YAML"),
    ("only-separator", "a.yaml", "---\n---\n", "holds no documents"),
    ("scalar-document", "a.yaml", "just text\n", "not a mapping"),
    ("list-document", "a.yaml", "- 1\n- 2\n", "not a mapping"),
    ("huge-file", "a.yaml", GOOD + "#" + "x" * (4 * 1024 * 1024) + "\n", "limited to"),
    ("tab-indentation", "a.yaml", GOOD.replace("  image:", "\timage:"), "not valid YAML"),
    ("unterminated-quote", "a.yaml", GOOD.replace("team", '"team'), "not valid YAML"),
    ("second-document-bad", "a.yaml", GOOD + "---\n" + doc({"workload": "x"}), "spec.workload"),
    ("spec-is-list", "a.yaml", doc(spec=None).replace("spec:", "spec: [1]\nx:"), "spec"),
]

# --- types: strict, never coerced -------------------------------------------------------------
TYPES: list[Case] = [
    ("replicas-true", "a.yaml", doc({"availability": {"replicas": True}}), "replicas"),
    ("replicas-string", "a.yaml", doc({"availability": {"replicas": "3"}}), "replicas"),
    ("replicas-float", "a.yaml", doc({"availability": {"replicas": 1.5}}), "replicas"),
    ("replicas-list", "a.yaml", doc({"availability": {"replicas": [1]}}), "replicas"),
    ("suspended-off-string", "a.yaml", doc({"suspended": "off"}), "spec.suspended"),
    ("suspended-int", "a.yaml", doc({"suspended": 1}), "spec.suspended"),
    ("suspended-null-string", "a.yaml", doc({"suspended": "null"}), "spec.suspended"),
    ("port-string", "a.yaml", doc({"networking": {"service": {"port": "80"}}}), "service.port"),
    ("port-float", "a.yaml", doc({"networking": {"service": {"port": 80.5}}}), "service.port"),
    ("name-int", "a.yaml", doc(metadata={"name": 123}), "metadata.name"),
    ("namespace-list", "a.yaml", doc(metadata={"name": "d", "namespace": ["a"]}), "namespace"),
    ("labels-int-value", "a.yaml", doc(metadata={"name": "d", "labels": {"a": 1}}), "labels"),
    ("labels-list", "a.yaml", doc(metadata={"name": "d", "labels": ["a"]}), "metadata.labels"),
    ("env-mapping", "a.yaml", doc({"env": {"A": "1"}}), "spec.env"),
    ("env-item-string", "a.yaml", doc({"env": ["A=1"]}), "spec.env[0]"),
    ("sidecars-string", "a.yaml", doc({"sidecars": "busybox"}), "spec.sidecars"),
    ("image-list", "a.yaml", doc({"image": ["x"]}), "spec.image"),
    ("metadata-string", "a.yaml", doc(metadata="demo"), "metadata"),
    ("enum-case", "a.yaml", doc({"workload": "statefulset"}), "spec.workload"),
    ("heartbeat-enabled-yes-string", "a.yaml", doc({"heartbeat": {"enabled": "yes"}}), "enabled"),
    ("agents-enabled-string", "a.yaml", doc({"agents": {"enabled": "true"}}), "agents.enabled"),
    ("nan-replicas", "a.yaml", HEAD + "\n  availability: {replicas: .nan}\n", "replicas"),
    (
        "inf-grace",
        "a.yaml",
        HEAD + "\n  availability: {terminationGracePeriodSeconds: .inf}\n",
        "terminationGracePeriodSeconds",
    ),
]

# --- integer bounds: nothing the API server would wrap --------------------------------------
BOUNDS: list[Case] = [
    ("replicas-2pow32", "a.yaml", doc({"availability": {"replicas": 2**32}}), "replicas"),
    ("replicas-2pow70", "a.yaml", doc({"availability": {"replicas": 2**70}}), "replicas"),
    ("replicas-negative", "a.yaml", doc({"availability": {"replicas": -1}}), "replicas"),
    ("replicas-zero", "a.yaml", doc({"availability": {"replicas": 0}}), "replicas"),
    (
        "grace-2pow63",
        "a.yaml",
        doc({"availability": {"terminationGracePeriodSeconds": 2**63}}),
        "terminationGracePeriodSeconds",
    ),
    (
        "grace-negative",
        "a.yaml",
        doc({"availability": {"terminationGracePeriodSeconds": -1}}),
        "terminationGracePeriodSeconds",
    ),
    ("port-zero", "a.yaml", doc({"networking": {"service": {"port": 0}}}), "service.port"),
    ("port-65536", "a.yaml", doc({"networking": {"service": {"port": 65536}}}), "service.port"),
    ("heartbeat-2pow64", "a.yaml", doc({"heartbeat": {"intervalMS": 2**64}}), "intervalMS"),
    (
        "drain-negative",
        "a.yaml",
        doc({"availability": {"serverDrain": {"timeoutSeconds": -5}}}),
        "timeoutSeconds",
    ),
    (
        "probe-period-2pow31",
        "a.yaml",
        doc({"probes": {"liveness": {"periodSeconds": 2**31}}}),
        "periodSeconds",
    ),
    (
        "probe-period-zero",
        "a.yaml",
        doc({"probes": {"liveness": {"periodSeconds": 0}}}),
        "periodSeconds",
    ),
    (
        "launcher-replicas-2pow31",
        "a.yaml",
        doc({"agents": {"enabled": True, "launcher": {"replicas": 2**31}}}),
        "launcher.replicas",
    ),
    (
        "pending-timeout-zero",
        "a.yaml",
        doc({"agents": {"enabled": True, "launcher": {"pendingTimeoutSeconds": 0}}}),
        "pendingTimeoutSeconds",
    ),
    (
        "huge-int-literal",
        "a.yaml",
        HEAD + "\n  availability: {replicas: " + "9" * 5000 + "}\n",
        "replicas",
    ),
]

# --- names, labels, annotations: injection and the API server's syntax ---------------------
NAMES: list[Case] = [
    ("name-newline", "a.yaml", doc(metadata={"name": "demo\nkind: Secret"}), "metadata.name"),
    ("name-shell", "a.yaml", doc(metadata={"name": "a;rm -rf /"}), "metadata.name"),
    ("name-unicode", "a.yaml", doc(metadata={"name": "d\u00e9mo"}), "metadata.name"),
    ("name-path-traversal", "a.yaml", doc(metadata={"name": "../../etc"}), "metadata.name"),
    ("name-64", "a.yaml", doc(metadata={"name": "a" * 64}), "metadata.name"),
    ("name-empty", "a.yaml", doc(metadata={"name": ""}), "metadata.name"),
    (
        "namespace-space",
        "a.yaml",
        doc(metadata={"name": "d", "namespace": "Kube System"}),
        "metadata.namespace",
    ),
    (
        "namespace-64",
        "a.yaml",
        doc(metadata={"name": "d", "namespace": "n" * 64}),
        "metadata.namespace",
    ),
    (
        "label-key-space",
        "a.yaml",
        doc(metadata={"name": "d", "labels": {"a b": "x"}}),
        "metadata.labels",
    ),
    (
        "label-value-64",
        "a.yaml",
        doc(metadata={"name": "d", "labels": {"a": "x" * 64}}),
        "metadata.labels",
    ),
    (
        "label-value-newline",
        "a.yaml",
        doc(metadata={"name": "d", "labels": {"a": "x\ny"}}),
        "metadata.labels",
    ),
    (
        "label-key-upper-prefix",
        "a.yaml",
        doc(metadata={"name": "d", "labels": {"Example.com/a": "x"}}),
        "metadata.labels",
    ),
    (
        "label-key-two-slashes",
        "a.yaml",
        doc(metadata={"name": "d", "labels": {"a/b/c": "x"}}),
        "metadata.labels",
    ),
    (
        "annotation-key-dash",
        "a.yaml",
        doc(metadata={"name": "d", "annotations": {"-bad": "x"}}),
        "metadata.annotations",
    ),
    (
        "annotations-over-256k",
        "a.yaml",
        doc({"podAnnotations": {f"k{i}": "v" * 70_000 for i in range(4)}}),
        "annotations total",  # refused on the generated StatefulSet (SPEC_PATHS: at the spec path)
    ),
    ("pod-annotation-key-bad", "a.yaml", doc({"podAnnotations": {"a b": "x"}}), "podAnnotations"),
    (
        "service-annotation-key-bad",
        "a.yaml",
        doc({"networking": {"service": {"annotations": {"x/y/z": "1"}}}}),
        "service.annotations",
    ),
    (
        "node-selector-value-newline",
        "a.yaml",
        doc({"availability": {"nodeSelector": {"pool": "a\nb"}}}),
        "nodeSelector",
    ),
    (
        "storage-class-underscore",
        "a.yaml",
        doc({"storage": {"persistence": {"storageClass": "Fast_SSD"}}}),
        "storageClass",
    ),
    (
        "pull-secret-upper",
        "a.yaml",
        doc({"image": {"tag": "1", "pullSecrets": [{"name": "Bad"}]}}),
        "pullSecrets[0].name",
    ),
    (
        "secret-ref-key-slash",
        "a.yaml",
        doc({"auth": {"secretRef": {"name": "a", "key": "a/b"}}}),
        "auth.secretRef.key",
    ),
    (
        "secret-ref-name-empty",
        "a.yaml",
        doc({"auth": {"secretRef": {"name": "", "key": "k"}}}),
        "auth.secretRef.name",
    ),
    ("image-tag-injection", "a.yaml", doc({"image": {"tag": "1;rm -rf /"}}), "spec.image.tag"),
    ("image-tag-newline", "a.yaml", doc({"image": {"tag": "1\nx"}}), "spec.image.tag"),
    (
        "image-repository-upper",
        "a.yaml",
        doc({"image": {"repository": "Evil/X", "tag": "1"}}),
        "spec.image.repository",
    ),
    ("image-digest-short", "a.yaml", doc({"image": {"digest": "sha256:abc"}}), "image.digest"),
    (
        "public-url-javascript",
        "a.yaml",
        doc({"deployment": {"publicURL": "javascript:alert(1)"}}),
        "publicURL",
    ),
    (
        "allowed-hostname-path",
        "a.yaml",
        doc({"deployment": {"allowedHostnames": ["evil.com/x"]}}),
        "allowedHostnames[0]",
    ),
    (
        "cidr-garbage",
        "a.yaml",
        doc({"security": {"networkPolicy": {"allowEgressCIDRs": ["0.0.0.0/0; drop"]}}}),
        "allowEgressCIDRs[0]",
    ),
    (
        "template-name-upper",
        "a.yaml",
        doc({"agents": {"enabled": True, "templates": {"Bad Name": {"image": "x:1"}}}}),
        "agents.templates",
    ),
]

# --- pass-through Kubernetes structures: the API server's semantic rules ----------------------
PASS_THROUGH: list[Case] = [
    ("env-name-empty", "a.yaml", doc({"env": [{"name": "", "value": "x"}]}), "spec.env[0].name"),
    (
        "env-name-equals",
        "a.yaml",
        doc({"env": [{"name": "A=B", "value": "x"}]}),
        "spec.env[0].name",
    ),
    (
        "env-name-newline",
        "a.yaml",
        doc({"env": [{"name": "A\nB", "value": "x"}]}),
        "spec.env[0].name",
    ),
    (
        "env-name-non-ascii",
        "a.yaml",
        doc({"env": [{"name": "\u00c9T\u00c9", "value": "x"}]}),
        "spec.env[0].name",
    ),
    (
        "env-value-and-value-from",
        "a.yaml",
        doc(
            {
                "env": [
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            }
        ),
        "spec.env[0].valueFrom",
    ),
    (
        "env-secret-key-bad",
        "a.yaml",
        doc({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a b"}}}]}),
        "spec.env[0].valueFrom.secretKeyRef.key",
    ),
    (
        "env-from-prefix-equals",
        "a.yaml",
        doc({"envFrom": [{"prefix": "A=", "configMapRef": {"name": "c"}}]}),
        "spec.envFrom[0]",
    ),
    (
        "sidecar-env-name-equals",
        "a.yaml",
        doc(sidecar(env=[{"name": "A=B", "value": "x"}])),
        "spec.sidecars[0].env[0].name",
    ),
    (
        "sidecar-name-underscore",
        "a.yaml",
        doc({"sidecars": [{"name": "Bad_Name", "image": "b"}]}),
        "spec.sidecars[0].name",
    ),
    (
        "sidecar-name-64",
        "a.yaml",
        doc({"sidecars": [{"name": "s" * 64, "image": "b"}]}),
        "spec.sidecars[0].name",
    ),
    (
        "sidecar-image-whitespace",
        "a.yaml",
        doc({"sidecars": [{"name": "s", "image": " b "}]}),
        "spec.sidecars[0].image",
    ),
    (
        "sidecar-port-name-upper",
        "a.yaml",
        doc(sidecar(ports=[{"containerPort": 80, "name": "HTTP"}])),
        "spec.sidecars[0].ports[0]",
    ),
    (
        "sidecar-port-70000",
        "a.yaml",
        doc(sidecar(ports=[{"containerPort": 70000}])),
        "spec.sidecars[0].ports[0].containerPort",
    ),
    (
        "sidecar-port-2pow40",
        "a.yaml",
        doc(sidecar(ports=[{"containerPort": 2**40}])),
        "spec.sidecars[0].ports[0].containerPort",
    ),
    (
        "sidecar-cpu-negative",
        "a.yaml",
        doc(sidecar(resources={"requests": {"cpu": "-1"}})),
        "spec.sidecars[0].resources.requests.cpu",
    ),
    (
        "sidecar-request-over-limit",
        "a.yaml",
        doc(sidecar(resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}})),
        "spec.sidecars[0].resources.requests.memory",
    ),
    (
        "sidecar-run-as-user-negative",
        "a.yaml",
        doc(sidecar(securityContext={"runAsUser": -1})),
        "spec.sidecars[0].securityContext.runAsUser",
    ),
    (
        "sidecar-probe-negative",
        "a.yaml",
        doc(sidecar(livenessProbe={"tcpSocket": {"port": 80}, "periodSeconds": -1})),
        "spec.sidecars[0].livenessProbe.periodSeconds",
    ),
    (
        "resources-cpu-negative",
        "a.yaml",
        doc({"resources": {"requests": {"cpu": "-100m"}}}),
        "spec.resources.requests.cpu",
    ),
    (
        "resources-unknown-name",
        "a.yaml",
        doc({"resources": {"limits": {"gpu": "1"}}}),
        "spec.resources.limits.gpu",
    ),
    (
        "resources-quantity-huge-exponent",
        "a.yaml",
        doc({"resources": {"limits": {"memory": "1e1000"}}}),
        "spec.resources",
    ),
    (
        "volume-name-upper",
        "a.yaml",
        doc({"extraVolumes": [{"name": "Data", "emptyDir": {}}]}),
        "spec.extraVolumes[0].name",
    ),
    (
        "volume-two-sources",
        "a.yaml",
        doc({"extraVolumes": [{"name": "d", "emptyDir": {}, "secret": {"secretName": "s"}}]}),
        "spec.extraVolumes[0]",
    ),
    (
        "volume-size-negative",
        "a.yaml",
        doc({"extraVolumes": [{"name": "d", "emptyDir": {"sizeLimit": "-1Gi"}}]}),
        "spec.extraVolumes[0].emptyDir.sizeLimit",
    ),
    (
        "volume-mount-name-upper",
        "a.yaml",
        doc({"extraVolumeMounts": [{"name": "Data", "mountPath": "/d"}]}),
        "spec.extraVolumeMounts[0].name",
    ),
    (
        "storage-size-zero",
        "a.yaml",
        doc({"storage": {"persistence": {"size": "0"}}}),
        "must be greater than zero",  # on the generated PVC (SPEC_PATHS: at the spec path)
    ),
    (
        "storage-size-negative",
        "a.yaml",
        doc({"storage": {"persistence": {"size": "-5Gi"}}}),
        "must be greater than zero",  # on the generated PVC (SPEC_PATHS: at the spec path)
    ),
    (
        "workspace-size-zero",
        "a.yaml",
        doc({"agents": {"enabled": True, "workspace": {"size": "0"}}}),
        "must be greater than zero",  # on the generated PVC (SPEC_PATHS: at the spec path)
    ),
    (
        "toleration-operator",
        "a.yaml",
        doc({"availability": {"tolerations": [{"key": "k", "operator": "Maybe"}]}}),
        "spec.availability.tolerations[0]",
    ),
    (
        "topology-max-skew-zero",
        "a.yaml",
        doc(
            {
                "availability": {
                    "topologySpreadConstraints": [
                        {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
                    ]
                }
            }
        ),
        "spec.availability.topologySpreadConstraints[0].maxSkew",
    ),
    (
        "pod-security-fsgroup-2pow40",
        "a.yaml",
        doc({"security": {"podSecurityContext": {"fsGroup": 2**40}}}),
        "spec.security.podSecurityContext.fsGroup",
    ),
]

# --- Python apps: no exit, no output, no hang, no bypass --------------------------------------
IMPORTS = "from constructs_lib.spec import *\nimport os, sys, time\n"
GOOD_PY = (
    IMPORTS
    + "def good():\n"
    + "    return Instance(metadata=ObjectMetadata(name='demo', namespace='team'),\n"
    + "        spec=InstanceSpec(image=ImageSpec(tag='1'),\n"
    + "            deployment=DeploymentSpec(mode='local_trusted'),\n"
    + "            database=DatabaseSpec(mode='embedded')))\n"
)


def app(body: str) -> str:
    return GOOD_PY + body


PYTHON: list[Case] = [
    ("py-sys-exit-0-import", "p.py", app("sys.exit(0)\n"), "called sys.exit(0)"),
    ("py-sys-exit-0-call", "p.py", app("def instances():\n    sys.exit(0)\n"), "sys.exit(0)"),
    ("py-sys-exit-1", "p.py", app("def instances():\n    sys.exit(1)\n"), "sys.exit(1)"),
    ("py-raise-systemexit", "p.py", app("raise SystemExit\n"), "sys.exit(None)"),
    ("py-os-exit-0", "p.py", app("os._exit(0)\n"), "exited with status 0"),
    ("py-os-exit-3", "p.py", app("def instances():\n    os._exit(3)\n"), "exited with status 3"),
    (
        "py-kill-self",
        "p.py",
        app("import signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
        "killed by signal 9",
    ),
    (
        "py-print-import",
        "p.py",
        app("print('hello')\ndef instances():\n    return [good()]\n"),
        "wrote to stdout or stderr",
    ),
    (
        "py-print-call",
        "p.py",
        app("def instances():\n    print('x')\n    return [good()]\n"),
        "wrote to stdout or stderr",
    ),
    (
        "py-dunder-stderr",
        "p.py",
        app("sys.__stderr__.write('x')\ndef instances():\n    return [good()]\n"),
        "wrote to stdout or stderr",
    ),
    (
        "py-fd-write",
        "p.py",
        app("os.write(1, b'x')\ndef instances():\n    return [good()]\n"),
        "wrote to stdout or stderr",
    ),
    ("py-hang", "p.py", app("def instances():\n    time.sleep(3600)\n"), "did not finish within"),
    ("py-busy-loop", "p.py", app("while True:\n    pass\n"), "did not finish within"),
    (
        "py-read-stdin",
        "p.py",
        app("x = input()\ndef instances():\n    return [good()]\n"),
        "EOFError",
    ),
    (
        "py-raise",
        "p.py",
        app("def instances():\n    raise ValueError('nope')\n"),
        "raised ValueError (line",
    ),
    ("py-keyboard-interrupt", "p.py", app("raise KeyboardInterrupt\n"), "KeyboardInterrupt"),
    (
        "py-recursion",
        "p.py",
        app("def f():\n    return f()\ndef instances():\n    return f()\n"),
        "RecursionError",
    ),
    (
        "py-hostile-str",
        "p.py",
        app(
            "class E(Exception):\n    def __str__(self):\n        raise RuntimeError\n"
            "def instances():\n    raise E()\n"
        ),
        "raised E",
    ),
    (
        "py-returns-dicts",
        "p.py",
        app("def instances():\n    return [{'kind': 'Instance'}]\n"),
        "returned dict objects",
    ),
    ("py-returns-empty", "p.py", app("def instances():\n    return []\n"), "no instances"),
    ("py-no-function", "p.py", app(""), "defines no instances()"),
    ("py-syntax-error", "p.py", app("def instances(:\n"), "SyntaxError"),
    (
        "py-construct-replicas",
        "p.py",
        app(
            "def instances():\n    g = good()\n"
            "    s = g.spec.model_copy(update={'availability': AvailabilitySpec.model_construct("
            "replicas=2**32)})\n"
            "    return [g.model_copy(update={'spec': s})]\n"
        ),
        "spec.availability.replicas",
    ),
    (
        "py-model-copy-suspended",
        "p.py",
        app(
            "def instances():\n    g = good()\n"
            "    s = g.spec.model_copy(update={'suspended': 'off'})\n"
            "    return [g.model_copy(update={'spec': s})]\n"
        ),
        "spec.suspended",
    ),
    (
        "py-construct-name",
        "p.py",
        app(
            "def instances():\n    g = good()\n"
            "    return [g.model_copy(update={'metadata': ObjectMetadata.model_construct("
            "name='Bad Name!', namespace='team')})]\n"
        ),
        "metadata.name",
    ),
    (
        "py-construct-env",
        "p.py",
        app(
            "def instances():\n    g = good()\n"
            "    s = g.spec.model_copy(update={'env': [{'name': 'A=B', 'value': 'x'}]})\n"
            "    return [g.model_copy(update={'spec': s})]\n"
        ),
        "spec.env[0].name",
    ),
    (
        "py-disable-rules",
        "p.py",
        app(
            "from constructs_lib.spec import rules\nrules.errors = lambda i: []\n"
            "def instances():\n    g = good()\n"
            "    d = g.spec.deployment.model_copy(update={'exposure': 'public'})\n"
            "    s = g.spec.model_copy(update={'deployment': d})\n"
            "    return [g.model_copy(update={'spec': s})]\n"
        ),
        "spec.deployment.exposure",
    ),
    (
        "py-unserializable",
        "p.py",
        app(
            "def instances():\n"
            "    return [Instance.model_construct(metadata=object(), spec=object())]\n"
        ),
        "p.py",
    ),
]

# --- file names -------------------------------------------------------------------------------
FILE_NAMES: list[Case] = [
    ("file-dot", "..yaml", GOOD, "cannot be a directory name"),
    ("file-dotdot", "...yaml", GOOD, "cannot be a directory name"),
    ("file-space", "my app.yaml", GOOD, "cannot be a directory name"),
    ("file-leading-dash", "-x.yaml", GOOD, "cannot be a directory name"),
    ("file-dot-py", "..py", GOOD_PY, "cannot be a directory name"),
]

CASES = STRUCTURE + TYPES + BOUNDS + NAMES + PASS_THROUGH + PYTHON + FILE_NAMES

# Cases refused at their spec path by the spec types (before, only on generated objects).
SPEC_PATHS: list[Case] = [
    # urlsplit drops the newline: without the spec's check the URL would reach DATABASE_URL
    (
        "external-url-newline",
        "a.yaml",
        doc({"database": {"mode": "external", "externalURL": "postgres://db/x\nEVIL=1"}}),
        "spec.database",
    ),
    # the spec types carry the rule, so the spec path is named (Annotations: total size through
    # semantic.annotations_problems; storage and workspace sizes: semantic.quantity(positive=True))
    (
        "annotations-over-256k-spec-path",
        "a.yaml",
        doc({"podAnnotations": {f"k{i}": "v" * 70_000 for i in range(4)}}),
        "spec.podAnnotations",
    ),
    (
        "storage-size-zero-spec-path",
        "a.yaml",
        doc({"storage": {"persistence": {"size": "0"}}}),
        "spec.storage.persistence.size",
    ),
    (
        "workspace-size-zero-spec-path",
        "a.yaml",
        doc({"agents": {"enabled": True, "workspace": {"size": "0"}}}),
        "spec.agents.workspace.size",
    ),
]
CASES = CASES + SPEC_PATHS


def _ids(cases: list[Case]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "content", "expected"), [c[1:] for c in CASES], ids=_ids(CASES))
def test_hostile_input_exits_2_with_path_and_leaves_output_untouched(
    tmp_path: Path,
    dist_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content: str | bytes,
    expected: str,
) -> None:
    monkeypatch.setenv(APP_TIMEOUT_ENV, "2")
    source = tmp_path / "in"
    source.mkdir()
    app_file = source / name
    if isinstance(content, bytes):
        app_file.write_bytes(content)
    else:
        app_file.write_text(content, encoding="utf-8")
    before = tree_bytes(dist_copy)
    result = CliRunner().invoke(main, ["synth", str(app_file), "--out", str(dist_copy)])
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert name in result.output or str(app_file) in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert tree_bytes(dist_copy) == before


def test_the_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 100
    assert len(set(_ids(CASES))) == len(CASES)


@pytest.mark.parametrize("argument", [".", "..", "./", "../", "apps/.", "a/../..", "/"])
def test_dot_app_arguments_are_refused_cleanly(dist_copy: Path, argument: str) -> None:
    before = tree_bytes(dist_copy)
    result = CliRunner().invoke(main, ["synth", argument, "--out", str(dist_copy)])
    assert result.exit_code == 2, result.output
    assert f"no app named {argument!r}" in result.output or f"no app file at {argument}" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert tree_bytes(dist_copy) == before
