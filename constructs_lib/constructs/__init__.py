"""cdk8s constructs, one module per concern, composed by :class:`PaperclipInstance`.

Importing this package (or any of its pure modules, e.g. ``names``) does not start the jsii
kernel: :class:`PaperclipInstance` and :func:`plan` load on first use, so a helper process
that only needs the pure parts stays free of Node.
"""

import os
from typing import Any

# jsii prints an end-of-life banner for Node 20 on every start; the project runs on Node 20
# (the only Node in the machine's apt sources). Set before cdk8s/constructs load jsii.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

__all__ = ["PaperclipInstance", "Plan", "plan"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from constructs_lib.constructs import instance

        return getattr(instance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
