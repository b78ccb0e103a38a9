"""cdk8s constructs, one module per concern, composed by :class:`PaperclipInstance`."""

from constructs_lib.constructs.instance import PaperclipInstance

__all__ = ["PaperclipInstance"]
