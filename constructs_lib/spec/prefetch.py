"""``python -m constructs_lib.spec.prefetch [--list]``: fetch and verify every pinned CRD.

``make setup`` runs it so that ``make synth`` and ``make test`` need no network afterwards.
(A module of its own: ``constructs_lib.spec`` imports :mod:`constructs_lib.spec.crds`, which
``python -m`` would otherwise run a second time.)
"""

from __future__ import annotations

import sys

from constructs_lib.spec.crds import main

if __name__ == "__main__":
    sys.exit(main(["--prefetch", *sys.argv[1:]]))
