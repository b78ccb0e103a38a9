"""The API server's semantic validation rules, applied at synth time.

The OpenAPI schema says a field is a string or an integer; the API server says much more:
names are DNS labels or subdomains, label values have 63 characters, annotations total at
most 256 KiB, quantities parse and are not negative, env names are printable ASCII without
``=``, an int32 is an int32. Those rules live here as pure functions, so synth refuses what
the API server (and so Argo CD or Flux, later) would refuse.

Every check returns findings: ``(path, message)`` pairs, the path relative to the value given.
Being stricter than the API server is allowed (never the other way round); the control-plane
test ``tests/k8s/test_hostile_agreement.py`` holds synth to that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache, partial, wraps
from typing import Any, TypeGuard, TypeVar, cast

from constructs_lib.spec import bundled_schemas as kv
from constructs_lib.spec.patterns import (
    DNS1035_LABEL,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    INT32,
    INT64,
    LABEL_VALUE,
    QUALIFIED_NAME,
    QUANTITY,
)
from launcher.templates import image_reference_problem

Finding = tuple[str, str]

MAX_OBJECT_BYTES = 1536 * 1024
"""The largest object etcd stores by default (--max-request-bytes 1.5 MiB)."""
MAX_ANNOTATIONS_BYTES = 256 * 1024
"""Total size of an object's annotation keys and values (TotalAnnotationSizeLimitB)."""
MAX_CONFIG_BYTES = 1024 * 1024
"""Total size of a ConfigMap's or Secret's data (MaxSecretSize)."""
RELAXED_ENV_NAMES_SINCE = (1, 32)
"""RelaxedEnvironmentVariableValidation is on by default (beta) from 1.32, GA in 1.34."""

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_RELAXED_ENV_NAME = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")
# with a letter; no leading, trailing or double '-'
_PORT_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*")
_CONFIG_KEY = re.compile(r"(?!\.$|\.\.)[-._a-zA-Z0-9]+")  # not '.', not starting with '..'
_SUFFIX = {  # the decimal suffixes (milli, micro, nano; kilo to exa), then the binary ones
    "": Decimal(1),
    **{p: Decimal(f"1e-{3 * i}") for i, p in enumerate("mun", 1)},
    **{p: Decimal(10 ** (3 * i)) for i, p in enumerate("kMGTPE", 1)},
    **{f"{p}i": Decimal(2 ** (10 * i)) for i, p in enumerate("KMGTPE", 1)},
}
_ENV_VALUE_SOURCES = (
    "fieldRef",
    "resourceFieldRef",
    "configMapKeyRef",
    "secretKeyRef",
    "fileKeyRef",
)
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage", "pods"}
_WORKLOAD_POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _is_mapping(value: Any) -> TypeGuard[Mapping[Any, Any]]:
    """``isinstance(value, Mapping)``, without the ABC check for a plain dict (nearly every
    value checked here is one; the ABC check was a tenth of the checks' time)."""
    return type(value) is dict or isinstance(value, Mapping)


# --- primitive rules: a message, or None when the value is valid --------------------------

_Rule = TypeVar("_Rule", bound=Callable[..., Any])
_MEMO_LIMIT = 1 << 16


def _remembered(rule: _Rule) -> _Rule:
    """A primitive rule (or parse) remembered for string values: the same names, label keys
    and values recur in every object of every instance. Its results must be immutable."""
    remembered = lru_cache(maxsize=_MEMO_LIMIT)(rule)

    @wraps(rule)
    def check(value: Any, *args: Any, **kwargs: Any) -> Any:
        if type(value) is not str:
            return rule(value, *args, **kwargs)
        return remembered(value, *args, **kwargs)

    return cast(_Rule, check)


def _grammar(pattern: re.Pattern[str], longest: int, what: str) -> Callable[[Any], str | None]:
    """The rule of strings of at most ``longest`` characters that ``pattern`` matches whole;
    any other value ``is not`` ``what``."""

    @_remembered
    def rule(value: Any) -> str | None:
        if isinstance(value, str) and len(value) <= longest and pattern.fullmatch(value):
            return None
        return f"{_show(value)} is not {what}"

    return rule


dns_label = _grammar(
    DNS1123_LABEL,
    63,
    "a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending "
    "with a letter or digit",
)
"""RFC 1123 label: container, volume, port-less names; namespaces."""

dns1035_label = _grammar(
    DNS1035_LABEL,
    63,
    "a DNS-1035 label: at most 63 lower-case letters, digits and '-', starting with a letter "
    "and ending with a letter or digit",
)
"""RFC 1035 label (Service names): like a DNS-1123 label, but starting with a letter."""

dns_subdomain = _grammar(
    DNS1123_SUBDOMAIN,
    253,
    "a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and '.', starting and "
    "ending with a letter or digit",
)
"""RFC 1123 subdomain: most object names, Secret and ConfigMap references."""

label_value = _grammar(
    LABEL_VALUE,
    63,
    "a valid label value: at most 63 letters, digits, '-', '_' and '.', starting and ending "
    "with a letter or digit (or empty)",
)

port_name = _grammar(
    _PORT_NAME,
    15,
    "a valid port name: at most 15 lower-case letters, digits and '-', with at least one "
    "letter, no '--', not starting or ending with '-'",
)
"""IANA service name: at most 15 lower-case letters, digits and '-', with a letter."""

config_key = _grammar(
    _CONFIG_KEY,
    253,
    "a valid data key: at most 253 letters, digits, '-', '_' and '.', not '.' and not "
    "starting with '..'",
)
"""A ConfigMap or Secret data key."""


def path_segment_name(value: Any) -> str | None:
    """Names that only have to be a URL path segment (RBAC objects)."""
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value:
        return f"{_show(value)} is not a valid name: it must not be empty, '.', '..' or hold '/'"
    if "%" in value:
        return f"{_show(value)} is not a valid name: it must not hold '%'"
    return None


@_remembered
def qualified_name(value: Any, *, lower_prefix_only: bool = False) -> str | None:
    """A label or annotation key: an optional DNS-subdomain prefix and '/', then a name of at
    most 63 letters, digits, '-', '_' and '.'. Annotation keys are checked lower-cased."""
    if not isinstance(value, str):
        return f"{_show(value)} is not a string"
    text = value.lower() if lower_prefix_only else value
    prefix, slash, name = text.rpartition("/")
    if slash and (not prefix or dns_subdomain(prefix) is not None):
        return f"{_show(value)} has an invalid prefix: it must be a DNS subdomain before '/'"
    if text.count("/") > 1 or len(name) > 63 or not QUALIFIED_NAME.fullmatch(name):
        return (
            f"{_show(value)} is not a qualified name: an optional DNS prefix and '/', then "
            "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter "
            "or digit"
        )
    return None


@_remembered
def env_var_name(value: Any, version: str = "1.33") -> str | None:
    """An environment variable name as the API server of ``version`` accepts it."""
    if not isinstance(value, str) or not value:
        return "an environment variable name must not be empty"
    if _version(version) >= RELAXED_ENV_NAMES_SINCE:
        pattern, allowed = _RELAXED_ENV_NAME, "only printable ASCII characters other than '='"
    else:
        pattern, allowed = _ENV_NAME, "letters, digits, '_', '-' and '.', not starting with a digit"
    if not pattern.fullmatch(value):
        return f"{_show(value)} is not a valid environment variable name: {allowed}"
    return None


@_remembered
def parse_quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity (``5Gi``, ``500m``, ``1e3``, ``2``), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return Decimal(repr(value))
    if not isinstance(value, str):
        return None
    match = QUANTITY.fullmatch(value)
    if not match:
        return None
    suffix = match.group(3) or ""
    try:
        number = Decimal(value[: len(value) - len(suffix)])
        if suffix[:1] in ("e", "E"):
            exponent = int(suffix[1:])
            if abs(exponent) > 1000:
                return None
            return number.scaleb(exponent)
        return number * _SUFFIX[suffix]
    except (InvalidOperation, ValueError):
        return None


@_remembered
def quantity(value: Any, *, positive: bool = False) -> str | None:
    """A quantity that parses and is not negative (``positive``: greater than zero)."""
    amount = parse_quantity(value)
    if amount is None:
        return (
            f"{_show(value)} is not a Kubernetes quantity: a number with an optional suffix "
            "such as 5Gi, 512Mi, 500m or 2"
        )
    if amount > Decimal(INT64[1]):
        return f"{_show(value)} is too large for a Kubernetes quantity"
    if positive and amount <= 0:
        return f"{_show(value)} must be greater than zero"
    if amount < 0:
        return f"{_show(value)} must not be negative"
    return None


def integer(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{_show(value)} is not an integer"
    if not low <= value <= high:
        return f"{value} is out of range: it must be between {low} and {high}"
    return None


# --- structures -----------------------------------------------------------------------------


def metadata_problems(meta: Any, kind: str, path: str = "metadata") -> list[Finding]:
    """Name (as the kind requires), namespace, labels and annotations of an object."""
    if not _is_mapping(meta):
        return [(path, "metadata must be a mapping")]
    found: list[Finding] = []
    if "name" in meta or kind != "PodTemplate":
        found += _at(f"{path}.name", object_name(meta.get("name"), kind))
    if meta.get("namespace") is not None:
        found += _at(f"{path}.namespace", dns_label(meta["namespace"]))
    found += labels_problems(meta.get("labels"), f"{path}.labels")
    found += annotations_problems(meta.get("annotations"), f"{path}.annotations")
    return found


def object_name(name: Any, kind: str) -> str | None:
    """A ``metadata.name`` as the API server validates it for ``kind``."""
    if kind in ("Namespace", "StatefulSet"):
        return dns_label(name)
    if kind == "Service":
        return dns1035_label(name)
    if kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        return path_segment_name(name)
    if kind == "Job":  # the Job controller labels its pods job-name=<name>
        return dns_subdomain(name) or label_value(name)
    if kind == "CronJob":  # CronJob names leave room for the Job suffix
        problem = dns_subdomain(name)
        if problem is None and len(name) > 52:
            problem = f"{_show(name)} is longer than 52 characters"
        return problem
    return dns_subdomain(name)


def labels_problems(labels: Any, path: str) -> list[Finding]:
    if labels is None:
        return []
    if not _is_mapping(labels):
        return [(path, "labels must be a mapping of strings")]
    found: list[Finding] = []
    for key, value in labels.items():
        found += _at(f"{path}.{key}", qualified_name(key))
        found += _at(f"{path}.{key}", label_value(value))
    return found


def annotations_problems(annotations: Any, path: str) -> list[Finding]:
    if annotations is None:
        return []
    if not _is_mapping(annotations):
        return [(path, "annotations must be a mapping of strings")]
    found: list[Finding] = []
    total = 0
    for key, value in annotations.items():
        found += _at(f"{path}.{key}", qualified_name(key, lower_prefix_only=True))
        if not isinstance(value, str):
            found.append((f"{path}.{key}", f"{_show(value)} is not a string"))
            continue
        total += len(str(key).encode()) + len(value.encode())
    if total > MAX_ANNOTATIONS_BYTES:
        found.append(
            (
                path,
                f"annotations total {total} bytes; the API server allows at most "
                f"{MAX_ANNOTATIONS_BYTES} (256 KiB)",
            )
        )
    return found


def selector_problems(selector: Any, path: str) -> list[Finding]:
    if not _is_mapping(selector):
        return []
    found = labels_problems(selector.get("matchLabels"), f"{path}.matchLabels")
    for index, expression in enumerate(_list(selector.get("matchExpressions"))):
        if _is_mapping(expression):
            found += _at(
                f"{path}.matchExpressions[{index}].key", qualified_name(expression.get("key"))
            )
    return found


def env_problems(env: Any, path: str, version: str) -> list[Finding]:
    found: list[Finding] = []
    for index, item in enumerate(_list(env)):
        if _is_mapping(item) and not _is_mapping(item.get("valueFrom")):
            # a literal (the common case): only its name is checked, as env_var_problems does
            problem = env_var_name(item.get("name"), version)
            if problem is not None:
                found.append((f"{path}[{index}].name", problem))
            continue
        found += env_var_problems(item, f"{path}[{index}]", version)
    return found


def env_var_problems(item: Any, path: str, version: str) -> list[Finding]:
    if not _is_mapping(item):
        return []
    found = _at(f"{path}.name", env_var_name(item.get("name"), version))
    source = item.get("valueFrom")
    if _is_mapping(source):
        if item.get("value"):
            found.append((f"{path}.valueFrom", "may not be set together with a non-empty value"))
        if sum(source.get(k) is not None for k in _ENV_VALUE_SOURCES) != 1:
            found.append(
                (
                    f"{path}.valueFrom",
                    f"must set exactly one of {', '.join(_ENV_VALUE_SOURCES)}",
                )
            )
        for ref in ("configMapKeyRef", "secretKeyRef"):
            selector = source.get(ref)
            if _is_mapping(selector):
                found += _at(f"{path}.valueFrom.{ref}.key", config_key(selector.get("key")))
                found += _at(f"{path}.valueFrom.{ref}.name", dns_subdomain(selector.get("name")))
    return found


def env_from_source_problems(item: Any, path: str, version: str) -> list[Finding]:
    if not _is_mapping(item):
        return []
    found: list[Finding] = []
    if item.get("prefix"):
        found += _at(f"{path}.prefix", env_var_name(item["prefix"], version))
    refs = [k for k in ("configMapRef", "secretRef") if item.get(k) is not None]
    if len(refs) != 1:
        found.append((path, "must set exactly one of configMapRef or secretRef"))
    for ref in refs:
        if _is_mapping(item[ref]):
            found += _at(f"{path}.{ref}.name", dns_subdomain(item[ref].get("name")))
    return found


def resources_problems(resources: Any, path: str) -> list[Finding]:
    """Requests and limits: known resource names, quantities >= 0, requests <= limits."""
    if not _is_mapping(resources):
        return []
    found: list[Finding] = []
    amounts: dict[str, dict[str, Decimal]] = {}
    for section in ("requests", "limits"):
        values = resources.get(section)
        if not _is_mapping(values):
            continue
        for name, amount in values.items():
            where = f"{path}.{section}.{name}"
            found += _at(where, resource_name(name))
            problem = quantity(amount)
            found += _at(where, problem)
            if problem is None:
                amounts.setdefault(section, {})[str(name)] = parse_quantity(amount) or Decimal(0)
    for name, request in amounts.get("requests", {}).items():
        limit = amounts.get("limits", {}).get(name)
        if limit is not None and request > limit:
            found.append(
                (f"{path}.requests.{name}", f"the request is greater than the limit ({limit})")
            )
    return found


@_remembered
def resource_name(name: Any) -> str | None:
    if not isinstance(name, str):
        return f"{_show(name)} is not a resource name"
    if name in _STANDARD_RESOURCES or name.startswith(("hugepages-", "requests.")):
        return None
    if "/" not in name:
        return (
            f"{_show(name)} is not a standard resource name (cpu, memory, ephemeral-storage, "
            "hugepages-<size>) nor a fully qualified one (example.com/gpu)"
        )
    return qualified_name(name)


def container_problems(container: Any, path: str, version: str) -> list[Finding]:
    if not _is_mapping(container):
        return []
    found = _at(f"{path}.name", dns_label(container.get("name")))
    image = container.get("image")
    if image is not None and (not isinstance(image, str) or image != image.strip()):
        found.append((f"{path}.image", "must not have leading or trailing whitespace"))
    elif image is not None:  # stricter than the API server: the container tools' grammar
        found += _at(f"{path}.image", image_reference_problem(image))
    port_names: set[str] = set()
    for index, port in enumerate(_list(container.get("ports"))):
        where = f"{path}.ports[{index}]"
        if not _is_mapping(port):
            continue
        found += _at(f"{where}.containerPort", integer(port.get("containerPort"), 1, 65535))
        found += _integers(port, ("hostPort",), where, 0, 65535)
        if port.get("name") is not None:
            found += _at(f"{where}.name", port_name(port["name"]))
            if port["name"] in port_names:
                found.append((f"{where}.name", f"duplicate port name {_show(port['name'])}"))
            port_names.add(str(port["name"]))
        if port.get("protocol") not in (None, "TCP", "UDP", "SCTP"):
            found.append((f"{where}.protocol", "must be TCP, UDP or SCTP"))
    found += env_problems(container.get("env"), f"{path}.env", version)
    env_from = partial(env_from_source_problems, version=version)
    found += _each(container.get("envFrom"), f"{path}.envFrom", env_from)
    found += resources_problems(container.get("resources"), f"{path}.resources")
    mount_paths: set[str] = set()
    for index, mount in enumerate(_list(container.get("volumeMounts"))):
        found += volume_mount_problems(mount, f"{path}.volumeMounts[{index}]")
        if _is_mapping(mount) and isinstance(mount.get("mountPath"), str):
            if mount["mountPath"] in mount_paths:
                found.append((f"{path}.volumeMounts[{index}].mountPath", "duplicate mount path"))
            mount_paths.add(mount["mountPath"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        found += probe_problems(container.get(probe), f"{path}.{probe}")
    found += security_context_problems(container.get("securityContext"), f"{path}.securityContext")
    return found


_PROBE_INTEGERS = (
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
)


def probe_problems(probe: Any, path: str) -> list[Finding]:
    if not _is_mapping(probe):
        return []
    found = _integers(probe, _PROBE_INTEGERS, path, 0, INT32[1])
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(k) is not None]
    if len(handlers) > 1:
        found.append((path, "may set only one of exec, httpGet, tcpSocket, grpc"))
    for handler in ("httpGet", "tcpSocket"):
        action = probe.get(handler)
        if _is_mapping(action) and "port" in action:
            found += _at(f"{path}.{handler}.port", port_or_name(action["port"]))
    return found


def port_or_name(value: Any) -> str | None:
    if isinstance(value, str):
        return port_name(value)
    return integer(value, 1, 65535)


def volume_mount_problems(mount: Any, path: str) -> list[Finding]:
    if not _is_mapping(mount):
        return []
    found = _at(f"{path}.name", dns_label(mount.get("name")))
    if not mount.get("mountPath"):
        found.append((f"{path}.mountPath", "must not be empty"))
    return found


def volume_problems(volume: Any, path: str) -> list[Finding]:
    if not _is_mapping(volume):
        return []
    found = _at(f"{path}.name", dns_label(volume.get("name")))
    sources = [k for k, v in volume.items() if k != "name" and v is not None]
    if len(sources) != 1:
        found.append((path, "must set exactly one volume source (emptyDir, secret, ...)"))
    empty_dir = volume.get("emptyDir")
    if _is_mapping(empty_dir) and empty_dir.get("sizeLimit") is not None:
        found += _at(f"{path}.emptyDir.sizeLimit", quantity(empty_dir["sizeLimit"]))
    for source, field in (("secret", "secretName"), ("configMap", "name")):
        ref = volume.get(source)
        if _is_mapping(ref):
            if ref.get(field) is not None:
                found += _at(f"{path}.{source}.{field}", dns_subdomain(ref[field]))
            found += _integers(ref, ("defaultMode",), f"{path}.{source}", 0, 0o777)
            for index, item in enumerate(_list(ref.get("items"))):
                if _is_mapping(item):
                    found += _at(f"{path}.{source}.items[{index}].key", config_key(item.get("key")))
    claim = volume.get("persistentVolumeClaim")
    if _is_mapping(claim):
        found += _at(
            f"{path}.persistentVolumeClaim.claimName", dns_subdomain(claim.get("claimName"))
        )
    return found


def security_context_problems(context: Any, path: str) -> list[Finding]:
    if not _is_mapping(context):
        return []
    found = _integers(context, ("runAsUser", "runAsGroup", "fsGroup"), path, 0, INT32[1])
    for index, group in enumerate(_list(context.get("supplementalGroups"))):
        found += _at(f"{path}.supplementalGroups[{index}]", integer(group, 0, INT32[1]))
    return found


def toleration_problems(toleration: Any, path: str) -> list[Finding]:
    if not _is_mapping(toleration):
        return []
    found: list[Finding] = []
    if toleration.get("key"):
        found += _at(f"{path}.key", qualified_name(toleration["key"]))
    operator = toleration.get("operator")
    if operator not in (None, "", "Equal", "Exists"):
        found.append((f"{path}.operator", "must be Equal or Exists"))
    if operator == "Exists" and toleration.get("value"):
        found.append((f"{path}.value", "must be empty when the operator is Exists"))
    elif toleration.get("value"):
        found += _at(f"{path}.value", label_value(toleration["value"]))
    if toleration.get("effect") not in (None, "", "NoSchedule", "PreferNoSchedule", "NoExecute"):
        found.append((f"{path}.effect", "must be NoSchedule, PreferNoSchedule or NoExecute"))
    return found


def topology_spread_problems(constraint: Any, path: str) -> list[Finding]:
    if not _is_mapping(constraint):
        return []
    found = _at(f"{path}.maxSkew", integer(constraint.get("maxSkew"), 1, INT32[1]))
    found += _at(f"{path}.topologyKey", qualified_name(constraint.get("topologyKey")))
    if constraint.get("whenUnsatisfiable") not in ("DoNotSchedule", "ScheduleAnyway"):
        found.append((f"{path}.whenUnsatisfiable", "must be DoNotSchedule or ScheduleAnyway"))
    found += selector_problems(constraint.get("labelSelector"), f"{path}.labelSelector")
    return found


def pod_spec_problems(spec: Any, path: str, version: str) -> list[Finding]:
    """A pod spec as the API server validates it (the parts a user can pass through)."""
    if not _is_mapping(spec):
        return []
    found: list[Finding] = []
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(_list(spec.get(group))):
            where = f"{path}.{group}[{index}]"
            found += container_problems(container, where, version)
            name = container.get("name") if _is_mapping(container) else None
            if isinstance(name, str):
                if name in names:
                    found.append((f"{where}.name", f"duplicate container name {_show(name)}"))
                names.add(name)
    volumes: set[str] = set()
    for index, volume in enumerate(_list(spec.get("volumes"))):
        found += volume_problems(volume, f"{path}.volumes[{index}]")
        name = volume.get("name") if _is_mapping(volume) else None
        if isinstance(name, str):
            if name in volumes:
                found.append((f"{path}.volumes[{index}].name", f"duplicate volume {_show(name)}"))
            volumes.add(name)
    for group in ("initContainers", "containers"):
        for index, container in enumerate(_list(spec.get(group))):
            if not _is_mapping(container):
                continue
            for mount_index, mount in enumerate(_list(container.get("volumeMounts"))):
                if _is_mapping(mount) and mount.get("name") not in volumes:
                    found.append(
                        (
                            f"{path}.{group}[{index}].volumeMounts[{mount_index}].name",
                            f"{_show(mount.get('name'))} is not a volume of the pod",
                        )
                    )
    for field in ("serviceAccountName", "priorityClassName"):
        if spec.get(field):
            found += _at(f"{path}.{field}", dns_subdomain(spec[field]))
    for field in ("hostname", "subdomain"):
        if spec.get(field):
            found += _at(f"{path}.{field}", dns_label(spec[field]))
    for index, secret in enumerate(_list(spec.get("imagePullSecrets"))):
        if _is_mapping(secret):
            found += _at(
                f"{path}.imagePullSecrets[{index}].name", dns_subdomain(secret.get("name"))
            )
    found += labels_problems(spec.get("nodeSelector"), f"{path}.nodeSelector")
    found += _integers(spec, ("terminationGracePeriodSeconds",), path, 0, INT64[1])
    found += _integers(spec, ("activeDeadlineSeconds",), path, 1, INT64[1])
    found += _each(spec.get("tolerations"), f"{path}.tolerations", toleration_problems)
    found += _each(
        spec.get("topologySpreadConstraints"),
        f"{path}.topologySpreadConstraints",
        topology_spread_problems,
    )
    found += security_context_problems(spec.get("securityContext"), f"{path}.securityContext")
    return found


# --- integer ranges from the OpenAPI formats ------------------------------------------------


def _may_break_int_ranges(value: Any) -> bool:
    """Whether any number in ``value`` is a float or outside int32 — the only numbers an
    int32/int64 field can refuse. Most objects have none, and skip the schema walk."""
    stack = [value]
    low, high = INT32
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) or (
            isinstance(item, int) and not isinstance(item, bool) and not low <= item <= high
        ):
            return True
    return False


def _walk_ints(
    value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], path: str, depth: int
) -> Iterator[Finding]:
    if depth > 100:
        return
    schema = _resolve(schema, defs)
    for keyword in ("oneOf", "anyOf", "allOf"):
        if keyword in schema and isinstance(value, int | float) and not isinstance(value, bool):
            branches = [_resolve(s, defs) for s in schema[keyword]]
            if any("integer" in _types(b) for b in branches) and not any(
                "number" in _types(b) for b in branches
            ):  # IntOrString: an int32
                yield from _int_check(value, "int32", path)
            return
    types = _types(schema)
    if "integer" in types and isinstance(value, int | float) and not isinstance(value, bool):
        yield from _int_check(value, str(schema.get("format", "int64")), path)
        return
    if _is_mapping(value):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key) if _is_mapping(properties) else None
            if sub is None and _is_mapping(extra):
                sub = extra
            if sub is not None:
                yield from _walk_ints(item, sub, defs, join_path(path, str(key)), depth + 1)
    elif isinstance(value, list) and _is_mapping(schema.get("items")):
        for index, item in enumerate(value):
            yield from _walk_ints(item, schema["items"], defs, f"{path}[{index}]", depth + 1)


def _int_check(value: int | float, fmt: str, path: str) -> Iterator[Finding]:
    if isinstance(value, float):
        yield (path, f"{value!r} is not a whole number; write an integer")
        return
    low, high = INT32 if fmt == "int32" else INT64
    if not low <= value <= high:
        yield (
            path,
            f"{value} does not fit the field's {fmt if fmt == 'int32' else 'int64'} "
            f"type (between {low} and {high}); the API server would store another number",
        )


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    for _ in range(20):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        target = defs.get(ref.rsplit("/", 1)[-1])
        if not _is_mapping(target):
            return {}
        schema = target
    return schema


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    return [str(k) for k in kind] if isinstance(kind, list) else []


def _schema_dir(version: str) -> str:
    """The strict schemas of ``version``, else of the newest bundled version."""
    return kv.strict_dir(version) or kv.strict_dir(kv.all_versions()[-1]) or ""


@cache
def _definitions(schema_dir: str) -> Mapping[str, Any]:
    document = kv.definitions(schema_dir)
    defs = document.get("$defs") or document.get("definitions") or {}
    return defs if _is_mapping(defs) else {}


def _kind_schema(schema_dir: str, api_version: str, kind: str) -> Mapping[str, Any] | None:
    try:
        document = kv.kind_schema(schema_dir, api_version, kind)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return document if _is_mapping(document) else None


# --- lists merged by key: unique by that key (server-side apply) ---------------------------
#
# A list the OpenAPI schema marks ``x-kubernetes-list-type: map`` is merged by the item fields
# its ``x-kubernetes-list-map-keys`` name (env by name, ports by containerPort and protocol,
# ...), and a ``set`` by value. Server-side apply (Flux always, Argo CD with ServerSideApply)
# refuses the whole object when two items of such a list have the same key, though a plain
# create or update accepts it: synth refuses it first. The keys come from the bundled schemas,
# never from a list kept by hand.

_DEFAULTS_TO = re.compile(r'Defaults to "([^"]*)"')


def duplicate_items(
    items: list[Any], definition: str, field: str, version: str = "1.33"
) -> list[Finding]:
    """The items of ``items`` (the value of ``definition``.``field``, e.g. the env of a
    Container) that repeat an earlier item's merge key; paths relative to the list."""
    if len(items) < 2:  # nothing to repeat (checked on every validation of a spec)
        return []
    defs = _definitions(_schema_dir(version))
    owner = defs.get(definition)
    properties = owner.get("properties") if _is_mapping(owner) else None
    if not _is_mapping(properties) or field not in properties:
        return []
    return list(_duplicates(items, _resolve(properties[field], defs), defs, ""))


def _merge_keys(schema: Mapping[str, Any]) -> tuple[str, ...] | None:
    kind = schema.get("x-kubernetes-list-type")
    if kind == "set":
        return ()
    if kind == "map":
        keys = schema.get("x-kubernetes-list-map-keys")
        return tuple(str(k) for k in keys) if isinstance(keys, list) and keys else None
    return None


def _walk_keyed(
    value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any]
) -> Iterator[Finding]:
    """Depth-first along ``schema`` (an explicit stack: this runs on every object), only into
    the parts whose schema can hold a list merged by key."""
    stack = [(value, schema, "", 0)]
    while stack:
        node, node_schema, where, level = stack.pop()
        kind = type(node)
        if (kind is not dict and kind is not list) or level > 100:
            continue
        if not _may_hold_keyed(node_schema, defs):
            continue
        resolved = _resolve(node_schema, defs)
        if kind is list:
            yield from _duplicates(node, resolved, defs, where)
            items = resolved.get("items")
            if type(items) is dict:
                stack += [
                    (node[i], items, f"{where}[{i}]", level + 1)
                    for i in range(len(node) - 1, -1, -1)
                ]
            continue
        properties = resolved.get("properties") or {}
        extra = resolved.get("additionalProperties")
        for key, item in reversed(node.items()):
            sub = properties.get(key)
            if sub is None and type(extra) is dict:
                sub = extra
            if sub is not None and (type(item) is dict or type(item) is list):
                stack.append((item, sub, f"{where}.{key}" if where else str(key), level + 1))


def _duplicates(
    items: list[Any], schema: Mapping[str, Any], defs: Mapping[str, Any], path: str
) -> Iterator[Finding]:
    keys = _merge_keys(schema)
    if keys is None or len(items) < 2:
        return
    item_schema = _resolve(schema.get("items") or {}, defs)
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        parts: tuple[tuple[str, Any], ...]
        if keys:
            if not _is_mapping(item):
                continue
            parts = tuple((k, _key_value(item, k, item_schema, defs)) for k in keys)
            shown = ", ".join(f"{k}={v!r}" for k, v in parts if v is not None)
            where = f"{path}[{index}].{keys[0]}" if len(keys) == 1 else f"{path}[{index}]"
        else:
            parts = (("", item),)
            shown = _show(item)
            where = f"{path}[{index}]"
        identity: Any = parts
        try:
            hash(parts)
        except TypeError:  # a key that is not a plain value: compare its JSON
            identity = json.dumps(parts, sort_keys=True, default=str)
        first = seen.setdefault(identity, index)
        if first != index:
            yield (
                where,
                f"repeats the key {shown} of item [{first}]: server-side apply (Flux; Argo CD "
                "with ServerSideApply=true) refuses a list it merges by "
                f"{' and '.join(keys) if keys else 'value'} when a key is given twice; remove "
                "or rename one of them",
            )


def _key_value(item: Mapping[str, Any], key: str, schema: Mapping[str, Any], defs: Any) -> Any:
    """An item's value of a merge key; absent, the value the API server defaults it to (the
    schema's default, or the "Defaults to" of its description: a port's protocol is TCP)."""
    if item.get(key) is not None:
        return item[key]
    properties = schema.get("properties") or {}
    field = _resolve(properties.get(key) or {}, defs) if _is_mapping(properties) else {}
    if "default" in field:
        return field["default"]
    found = _DEFAULTS_TO.search(str(field.get("description", "")))
    return found.group(1) if found else None


_KEYED_MEMO: dict[int, tuple[Mapping[str, Any], bool]] = {}


def _may_hold_keyed(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> bool:
    """Whether a value of ``schema`` can hold a list merged by key (remembered per schema
    node: most of an object, e.g. a probe or resources, never does and is not walked)."""
    remembered = _KEYED_MEMO.get(id(schema))
    if remembered is not None and remembered[0] is schema:
        return remembered[1]
    _KEYED_MEMO[id(schema)] = (schema, True)  # a cycle is assumed to hold one
    node = _resolve(schema, defs)
    # the parts _walk_keyed descends into (never the branches of allOf, anyOf or oneOf)
    properties = node.get("properties")
    children = [
        *(properties.values() if _is_mapping(properties) else ()),
        node.get("items"),
        node.get("additionalProperties"),
    ]
    found = _merge_keys(node) is not None or any(
        _may_hold_keyed(child, defs) for child in children if _is_mapping(child)
    )
    _KEYED_MEMO[id(schema)] = (schema, found)
    return found


@cache
def _crd_schema(api_version: str, kind: str) -> Mapping[str, Any] | None:
    """The openAPIV3Schema of a pinned CRD kind (None when there is none or it cannot be
    read here: the schema validation that runs first reports that)."""
    from constructs_lib.spec import crds

    try:
        crd = crds.crd_for(api_version, kind)
        return crds.version_schema(crd, api_version) if crd is not None else None
    except Exception:  # reported by the schema validation
        return None


# --- entry points ---------------------------------------------------------------------------


def pass_through_problems(definition: str, value: Any, version: str = "1.33") -> list[Finding]:
    """Semantic problems of a pass-through value of the OpenAPI ``definition``
    (e.g. ``io.k8s.api.core.v1.Container``), paths relative to the value."""
    checks = {
        "Container": lambda v: container_problems(v, "", version),
        "EnvVar": lambda v: env_var_problems(v, "", version),
        "EnvFromSource": lambda v: env_from_source_problems(v, "", version),
        "Volume": lambda v: volume_problems(v, ""),
        "VolumeMount": lambda v: volume_mount_problems(v, ""),
        "ResourceRequirements": lambda v: resources_problems(v, ""),
        "Toleration": lambda v: toleration_problems(v, ""),
        "TopologySpreadConstraint": lambda v: topology_spread_problems(v, ""),
        "PodSecurityContext": lambda v: security_context_problems(v, ""),
        "SecurityContext": lambda v: security_context_problems(v, ""),
    }
    check = checks.get(definition.rsplit(".", 1)[-1])
    found: list[Finding] = check(value) if check is not None else []
    defs = _definitions(_schema_dir(version))
    schema = defs.get(definition)
    if _is_mapping(schema):
        if _may_break_int_ranges(value):
            found += _walk_ints(value, schema, defs, "", 0)
        found += _walk_keyed(value, schema, defs)
    return _unique([(p.lstrip("."), m) for p, m in found])


_JOB_COUNTS = ("backoffLimit", "parallelism", "completions", "ttlSecondsAfterFinished")


def object_problems(
    obj: Mapping[str, Any], version: str = "1.33", *, size_hint: int | None = None
) -> list[Finding]:
    """Semantic problems of one whole object, as the API server would report them."""
    kind = str(obj.get("kind", ""))
    found = metadata_problems(obj.get("metadata"), kind)
    raw_spec = obj.get("spec")
    spec: Mapping[str, Any] = raw_spec if _is_mapping(raw_spec) else {}
    pod_path = _WORKLOAD_POD_SPEC.get(kind)
    if pod_path is not None:
        found += pod_spec_problems(_dig(obj, pod_path), ".".join(pod_path), version)
        if kind != "Pod":
            template = _dig(obj, pod_path[:-1])
            if _is_mapping(template):
                meta = template.get("metadata") or {}
                where = ".".join((*pod_path[:-1], "metadata"))
                found += labels_problems(meta.get("labels"), f"{where}.labels")
                found += annotations_problems(meta.get("annotations"), f"{where}.annotations")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        found += selector_problems(spec.get("selector"), "spec.selector")
        found += _integers(spec, ("replicas",), "spec", 0, INT32[1])
        found += _each(
            spec.get("volumeClaimTemplates"), "spec.volumeClaimTemplates", claim_problems
        )
    if kind == "PersistentVolumeClaim":
        found += claim_problems(obj, "")
    if kind in ("Job", "CronJob"):
        base = "spec" if kind == "Job" else "spec.jobTemplate.spec"
        job = _dig(obj, tuple(base.split(".")))
        if _is_mapping(job):
            found += _integers(job, _JOB_COUNTS, base, 0, INT64[1])
            found += _integers(job, ("activeDeadlineSeconds",), base, 1, INT64[1])
    if kind in ("ConfigMap", "Secret"):
        found += config_data_problems(obj)
    if kind == "Service":
        found += service_problems(spec)
    if kind == "Ingress":
        found += _each(spec.get("rules"), "spec.rules", _ingress_rule_problems)
    schema_dir, api_version = _schema_dir(version), str(obj.get("apiVersion", ""))
    schema = _kind_schema(schema_dir, api_version, kind)
    defs = _definitions(schema_dir)
    if schema is not None and _may_break_int_ranges(obj):
        found += _walk_ints(obj, schema, defs, "", 0)
    keyed = schema if schema is not None else _crd_schema(api_version, kind)
    if keyed is not None:
        found += _walk_keyed(obj, keyed, defs)
    # The exact (JSON) size only when an estimate (the object's YAML text, whose length is
    # within a small factor of its JSON) says it may be near the limit.
    near = size_hint is None or size_hint * 2 > MAX_OBJECT_BYTES
    size = len(json.dumps(obj, separators=(",", ":"), default=str).encode()) if near else 0
    if size > MAX_OBJECT_BYTES:
        found.append(
            (
                "",
                f"the object is {size} bytes; the API server stores at most "
                f"{MAX_OBJECT_BYTES} (1.5 MiB)",
            )
        )
    return _unique(found)


def _ingress_rule_problems(rule: Any, path: str) -> list[Finding]:
    """An Ingress rule's host: a DNS-1123 subdomain (lower case), "*." allowed in front."""
    host = rule.get("host") if _is_mapping(rule) else None
    if not isinstance(host, str) or not host:
        return []
    return _at(f"{path}.host", dns_subdomain(host.removeprefix("*.")))


def claim_problems(claim: Any, path: str) -> list[Finding]:
    if not _is_mapping(claim):
        return []
    prefix = f"{path}." if path else ""
    found: list[Finding] = []
    if path:
        found += metadata_problems(
            claim.get("metadata"), "PersistentVolumeClaim", f"{path}.metadata"
        )
    storage = _dig(claim, ("spec", "resources", "requests", "storage"))
    if storage is None:
        found.append((f"{prefix}spec.resources.requests.storage", "is required"))
    else:
        found += _at(f"{prefix}spec.resources.requests.storage", quantity(storage, positive=True))
    class_name = _dig(claim, ("spec", "storageClassName"))
    if class_name:
        found += _at(f"{prefix}spec.storageClassName", dns_subdomain(class_name))
    return found


def config_data_problems(obj: Mapping[str, Any]) -> list[Finding]:
    found: list[Finding] = []
    total = 0
    seen: set[str] = set()
    for section in ("data", "binaryData", "stringData"):
        values = obj.get(section)
        if not _is_mapping(values):
            continue
        for key, value in values.items():
            found += _at(f"{section}.{key}", config_key(key))
            if key in seen and section != "stringData":
                found.append((f"{section}.{key}", "the key is also in another data section"))
            seen.add(str(key))
            total += len(str(value).encode())
    if total > MAX_CONFIG_BYTES:
        found.append(("data", f"the data totals {total} bytes; at most {MAX_CONFIG_BYTES} (1 MiB)"))
    return found


def service_problems(spec: Mapping[str, Any]) -> list[Finding]:
    found = labels_problems(spec.get("selector"), "spec.selector")
    ports = _list(spec.get("ports"))
    for index, port in enumerate(ports):
        if not _is_mapping(port):
            continue
        where = f"spec.ports[{index}]"
        found += _at(f"{where}.port", integer(port.get("port"), 1, 65535))
        if port.get("targetPort") is not None:
            found += _at(f"{where}.targetPort", port_or_name(port["targetPort"]))
        found += _integers(port, ("nodePort",), where, 0, 65535)
        if port.get("name") or len(ports) > 1:
            found += _at(f"{where}.name", dns_label(port.get("name")))
    return found


# --- helpers --------------------------------------------------------------------------------


def _at(path: str, problem: str | None) -> list[Finding]:
    return [] if problem is None else [(path, problem)]


def _integers(
    mapping: Mapping[str, Any], fields: tuple[str, ...], path: str, low: int, high: int
) -> list[Finding]:
    """The ``fields`` of ``mapping`` that are set, each an integer from ``low`` to ``high``."""
    return [
        (f"{path}.{field}", problem)
        for field in fields
        if mapping.get(field) is not None
        and (problem := integer(mapping[field], low, high)) is not None
    ]


def _each(items: Any, path: str, check: Callable[[Any, str], list[Finding]]) -> list[Finding]:
    """``check(item, its path)`` of every item of the list ``items`` (none when no list)."""
    return [f for i, item in enumerate(_list(items)) for f in check(item, f"{path}[{i}]")]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dig(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        value = value.get(part) if _is_mapping(value) else None
    return value


def join_path(path: str, key: str) -> str:
    """The path of field ``key`` inside ``path`` (``a.b``; ``b`` at the top)."""
    return f"{path}.{key}" if path else key


def _unique(found: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(found))


@lru_cache(maxsize=64)
def _version(version: str) -> tuple[int, int]:
    parts = re.findall(r"\d+", version)
    return (int(parts[0]), int(parts[1])) if len(parts) >= 2 else (1, 99)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "Finding",
    "annotations_problems",
    "config_key",
    "container_problems",
    "dns1035_label",
    "dns_label",
    "dns_subdomain",
    "duplicate_items",
    "env_var_name",
    "label_value",
    "labels_problems",
    "object_name",
    "object_problems",
    "parse_quantity",
    "pass_through_problems",
    "port_name",
    "qualified_name",
    "quantity",
]
