"""A cdk8s app of your own with a Paperclip instance in it, next to your own objects.

    cd examples/cdk8s-app && cdk8s synth     # writes dist/team.k8s.yaml

(with paperclip-gitops installed in the Python that runs it: `pip install -e ../..`)."""

from cdk8s import ApiObject, App, Chart, JsonPatch
from constructs import Construct

from constructs_lib.constructs import PaperclipInstance
from constructs_lib.spec import Instance


class TeamChart(Chart):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id, disable_resource_name_hashes=True)
        instance = Instance.model_validate(
            {
                "apiVersion": "paperclip.inc/v1alpha1",
                "kind": "Instance",
                "metadata": {"name": "team", "namespace": "team"},
                "spec": {
                    "image": {"tag": "2026.1106.0"},
                    "database": {"mode": "embedded"},
                },
            }
        )
        paperclip = PaperclipInstance(self, "paperclip", instance=instance)
        # your own objects beside it
        ApiObject(
            self,
            "team-notes",
            api_version="v1",
            kind="ConfigMap",
            metadata={"name": "team-notes", "namespace": "team"},
        ).add_json_patch(JsonPatch.add("/data", {"owner": "platform"}))
        # the escape hatch: every generated object is an ApiObject child named <Kind>-<name>
        service = ApiObject.of(paperclip.node.find_child("Service-team"))
        service.add_json_patch(JsonPatch.add("/metadata/annotations", {"team.example/tier": "1"}))


app = App()
TeamChart(app, "team")
app.synth()
