"""The Helm chart beside the Kustomize tree, generated from the typed model.

The writer lives in :mod:`constructs_lib.render.helm.chart`; the modules that run in the
synthesis helper process (``share``, ``templates``, ``probe``) do not load jsii.
"""
