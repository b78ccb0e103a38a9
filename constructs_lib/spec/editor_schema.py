"""The JSON Schema of an Instance document for editors and linters (``paperclip-gitops
schema``): the spec models' schema, accepting what the command line accepts (an exported
Instance's status and server-set metadata), with ``$schema`` and ``$id``."""

from __future__ import annotations

from typing import Any

from constructs_lib.spec.instance import API_VERSION, KIND, Instance, ObjectMetadata
from launcher.schema_docs import json_schema

DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema version pydantic writes."""
SCHEMA_ID = f"urn:paperclip-gitops:schema:{API_VERSION}:{KIND}"
IGNORED = (
    "Set by the API server or the operator on an exported Instance; accepted and ignored "
    "(`paperclip-gitops import` removes it)."
)


def instance_schema() -> dict[str, Any]:
    """The editor schema of an Instance document."""
    document: dict[str, Any] = json_schema(Instance)
    metadata = document["$defs"][ObjectMetadata.__name__]
    for model, schema in ((ObjectMetadata, metadata), (Instance, document)):
        # the fields a model accepts only to ignore them (excluded from dumps and the schema)
        for name in sorted((f.alias or n) for n, f in model.model_fields.items() if f.exclude):
            schema["properties"][name] = {"description": IGNORED}
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **document}


__all__ = ["DIALECT", "SCHEMA_ID", "instance_schema"]
