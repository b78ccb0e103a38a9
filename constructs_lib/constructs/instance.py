"""The PaperclipInstance construct: one Paperclip server and everything around it, in a
cdk8s app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from constructs import Construct, IValidation

from constructs_lib.constructs.build import (
    Plan,
    feature_errors,
    instance_errors,
    instance_objects,
    plan,
)
from constructs_lib.constructs.kube import KubeObject
from constructs_lib.constructs.package_files import Sources
from constructs_lib.errors import Problem, UserError
from constructs_lib.spec import Instance
from constructs_lib.spec.instance_errors import parse_instance


class PaperclipInstance(Construct):
    """Every object one Instance needs, as ``cdk8s.ApiObject`` children of this construct:
    in any cdk8s ``Chart``, ``app.synth()`` (and ``Testing.synth``) writes them beside the
    chart's other objects, and the usual escape hatches work on them (``ApiObject.of``,
    ``add_json_patch``). Each child's id is ``<Kind>-<name>``.

    ``instance``: a validated :class:`~constructs_lib.spec.Instance`, or an Instance document
    (a mapping, e.g. a decoded YAML file), validated as ``paperclip-gitops`` validates it. An
    Instance that ``paperclip-gitops synth`` refuses (its synth-time rules, the features'
    errors) raises a :class:`~constructs_lib.errors.UserError` naming each field, before
    anything is added to ``scope``. The objects keep the Instance's namespace (a Chart's
    ``namespace`` is only the default of objects that name none); cluster-scoped ones have
    none.

    Reads no files or clock (the package's adapter and scripts come from ``sources``, by
    default the installed package's). The objects are built by
    :func:`constructs_lib.constructs.build.instance_objects`, as ``paperclip-gitops`` builds
    them; :meth:`manifests` gives them as data."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance: Instance | Mapping[str, Any],
        planned: Plan | None = None,
        sources: Sources | None = None,
    ) -> None:
        # Whatever fails leaves ``scope`` as it was.
        checked = _as_instance(instance)
        if planned is not None and planned.instance != checked:
            raise ValueError(
                f"planned is the plan of Instance {planned.instance.name}, not of the "
                f"instance given ({checked.name}): pass plan(instance), or no plan."
            )
        planned = planned or plan(checked)
        problems = instance_errors(checked, planned)
        if problems:
            raise UserError(_located(checked, problems))
        objects = instance_objects(planned, sources)
        super().__init__(scope, id)
        self.instance = checked
        self.plan = planned
        self.objects: list[KubeObject] = objects
        try:
            clashes = _clashes(self)  # (cdk8s refuses a scope outside any Chart)
            if clashes:
                raise UserError(_located(checked, clashes))
        except Exception:
            scope.node.try_remove_child(self.node.id)
            raise
        self._add_api_objects()
        # objects the user adds to the chart afterwards: checked by app.synth()
        self.node.add_validation(_NoClash(self))

    def manifests(self) -> list[dict[str, Any]]:
        return [o.to_json() for o in self.objects]

    def _add_api_objects(self) -> None:
        import cdk8s

        for obj in self.objects:
            api_object = cdk8s.ApiObject(
                self,
                f"{obj.kind}-{obj.name}",
                api_version=obj.api_version,
                kind=obj.kind,
                metadata=cdk8s.ApiObjectMetadata(
                    name=obj.name,
                    namespace=obj.namespace,
                    labels=obj.labels or None,
                    annotations=obj.annotations or None,
                ),
            )
            if obj.namespace is None and api_object.metadata.namespace is not None:
                # cdk8s gives an object without a namespace its Chart's: not a
                # cluster-scoped one (a ClusterRole, a ClusterRoleBinding).
                api_object.add_json_patch(cdk8s.JsonPatch.remove("/metadata/namespace"))
            for key, value in obj.body.items():
                api_object.add_json_patch(cdk8s.JsonPatch.add(f"/{key}", value))


def _identity(api_version: str, kind: str, namespace: str | None, name: str) -> tuple[str, ...]:
    """What names one object in a cluster: group (not version), kind, namespace, name."""
    return (api_version.rpartition("/")[0], kind, namespace or "", name)


def _clashes(construct: PaperclipInstance) -> list[Problem]:
    """Objects of the construct's chart, outside it, that are one of its objects: applied, one
    would replace the other (``paperclip-gitops synth`` refuses two instances of an app whose
    objects share a kind and name)."""
    import cdk8s

    chart = cdk8s.Chart.of(construct)
    path = construct.node.path
    ours = {_identity(o.api_version, o.kind, o.namespace, o.name): o for o in construct.objects}
    found = []
    for node in chart.node.find_all():
        if (
            not isinstance(node, cdk8s.ApiObject)
            or f"{node.node.path}/".startswith(f"{path}/")
            or cdk8s.Chart.of(node) is not chart
        ):
            continue
        meta = node.metadata
        obj = ours.get(_identity(node.api_version, node.kind, meta.namespace, meta.name or ""))
        if obj is not None:
            where = f" in namespace {obj.namespace}" if obj.namespace else ""
            found.append(
                Problem(
                    f"{obj.kind} {obj.name}{where} of the PaperclipInstance at {path} is also "
                    f"the object at {node.node.path}: applied, one would replace the other.",
                    "metadata.name",
                    fix="give the Instance another metadata.name or namespace (an instance X "
                    "also owns X-config, X-data, ...), or rename the other object.",
                )
            )
    return found


@jsii.implements(IValidation)
class _NoClash:
    """Fails ``app.synth()`` when the chart has an object the instance generates too."""

    def __init__(self, construct: PaperclipInstance) -> None:
        self.construct = construct

    def validate(self) -> list[str]:
        return [p.render() for p in _located(self.construct.instance, _clashes(self.construct))]


def _located(instance: Instance, problems: list[Problem]) -> list[Problem]:
    """``problems`` located in the construct's Instance (how its errors name it)."""
    label = f"Instance {instance.name} (namespace {instance.namespace})"
    return [p.located(document=label) for p in problems]


def _as_instance(instance: Instance | Mapping[str, Any]) -> Instance:
    """An Instance as given, or a document validated as the command line validates it."""
    if isinstance(instance, Instance):
        return instance
    if isinstance(instance, Mapping):
        return parse_instance(dict(instance), checks=(feature_errors,))
    raise TypeError(
        "PaperclipInstance(instance=...) takes an Instance (constructs_lib.spec.Instance, e.g. "
        "Instance.model_validate(document)) or an Instance document as a mapping, not "
        f"{type(instance).__name__}."
    )
