"""The features an instance can have, in the order their constructs are built."""

from __future__ import annotations

from constructs_lib.constructs.agents import AgentsFeature
from constructs_lib.constructs.feature import Feature

FEATURES: tuple[type[Feature], ...] = (AgentsFeature,)
"""Every optional feature. The secrets bootstrap is not listed: it is built last, whenever
any contribution registers a Secret (see :class:`PaperclipInstance`)."""
