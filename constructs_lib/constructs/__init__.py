"""An instance's parts, one module per concern, built as plain Python (:mod:`.build`), and
:class:`PaperclipInstance`, the cdk8s construct over them.

Importing this package (or any module but ``instance``) does not start the jsii kernel:
:class:`PaperclipInstance` loads cdk8s on first use; the build (:mod:`.build`) never does.
"""

import os
from typing import Any

# jsii prints an end-of-life banner for Node 20 on every start; the project runs on Node 20
# (the only Node in the machine's apt sources). Set before cdk8s/constructs load jsii.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

__all__ = ["PaperclipInstance"]


def __getattr__(name: str) -> Any:
    if name == "PaperclipInstance":
        from constructs_lib.constructs import instance

        return instance.PaperclipInstance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
