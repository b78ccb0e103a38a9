"""cdk8s constructs, one module per concern, composed by :class:`PaperclipInstance`."""

import os

# jsii prints an end-of-life banner for Node 20 on every start; the project runs on Node 20
# (the only Node in the machine's apt sources). Set before cdk8s/constructs load jsii.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from constructs_lib.constructs.instance import PaperclipInstance, Plan, plan

__all__ = ["PaperclipInstance", "Plan", "plan"]
