"""Rendering: cdk8s synthesis, strict validation, the Kustomize tree and atomic writes."""
