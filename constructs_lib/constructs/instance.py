"""The PaperclipInstance construct: one Paperclip server and everything around it, in a
cdk8s app."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from constructs_lib.constructs.build import Plan, instance_objects, plan
from constructs_lib.constructs.kube import KubeObject
from constructs_lib.constructs.package_files import Sources
from constructs_lib.spec import Instance


class PaperclipInstance(Construct):
    """Every object one Instance needs, as ``cdk8s.ApiObject`` children of this construct:
    in any cdk8s ``Chart``, ``app.synth()`` (and ``Testing.synth``) writes them beside the
    chart's other objects, and the usual escape hatches work on them (``ApiObject.of``,
    ``add_json_patch``). Each child's id is ``<Kind>-<name>``.

    Takes a validated spec; reads no files or clock (the package's adapter and scripts come
    from ``sources``, by default the installed package's). The objects are built by
    :func:`constructs_lib.constructs.build.instance_objects`, as ``paperclip-gitops`` builds
    them; :meth:`manifests` gives them as data."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance: Instance,
        planned: Plan | None = None,
        sources: Sources | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.instance = instance
        self.plan = planned or plan(instance)
        self.objects: list[KubeObject] = instance_objects(self.plan, sources)
        self._add_api_objects()

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
            for key, value in obj.body.items():
                api_object.add_json_patch(cdk8s.JsonPatch.add(f"/{key}", value))
