"""The Helm chart beside the Kustomize tree, generated from the typed model."""

from constructs_lib.render.helm.chart import HelmWriter, build_chart
from constructs_lib.render.helm.registry import PARAMS, Param

__all__ = ["PARAMS", "HelmWriter", "Param", "build_chart"]
