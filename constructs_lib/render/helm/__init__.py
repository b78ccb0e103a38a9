"""The Helm chart beside the Kustomize tree, generated from the typed model.

The writer lives in :mod:`constructs_lib.render.helm.chart`; where each value lands is found
by :mod:`~constructs_lib.render.helm.analysis` (with :mod:`~constructs_lib.render.helm.probe`),
and :mod:`~constructs_lib.render.helm.templates` writes the template files.
"""
