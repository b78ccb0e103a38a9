"""CRD fields that this generator does not build yet.

Each such field is declared on its group as :data:`NotBuiltYet`. A block that asks for
nothing — absent, empty (``adapters: {}``) or switched off (``tailscale: {enabled: false}``,
as ``kubectl get -o yaml`` exports it with the API server's defaults filled in) — is a
no-op and accepted. Anything else is an error at its own path (reported with every other
error in the document), never silently ignored. Later work replaces these declarations with
real models, one feature at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

NOT_BUILT_YET = "not_supported_yet"


def not_built_yet(what: str = "") -> PydanticCustomError:
    return PydanticCustomError(
        NOT_BUILT_YET,
        "{what}is not built by paperclip-gitops yet",
        {"what": f"{what} " if what else ""},
    )


def asks_for_nothing(value: Any) -> bool:
    """Absent, empty, or a block whose ``enabled`` is false."""
    if value is None or value == {} or value == [] or value == "":
        return True
    return isinstance(value, dict) and value.get("enabled") is False


def _reject(value: Any) -> Any:
    if not asks_for_nothing(value):
        raise not_built_yet()
    return None


NotBuiltYet = Annotated[
    SkipJsonSchema[Any], AfterValidator(_reject), Field(default=None, exclude=True)
]
