"""Kubernetes' name and value grammars, defined once (the spec models, the semantic checks of
generated objects and the Helm values schema use these). ASCII only, as the API server:
``[0-9]``, never ``\\d`` (which matches other scripts' digits)."""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""RFC 1123 label (container, volume and port-less names; namespaces), at most 63 long."""
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
"""RFC 1035 label (Service names; instance names, which name a Service): starts with a letter."""
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_PATTERN)
"""RFC 1123 subdomain (most object names), at most 253 long."""
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
"""The name part of a label or annotation key, at most 63 long."""
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
"""A label value (may be empty), at most 63 long."""

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
"""The ranges of the API's int32 and int64 fields (bounds included)."""

QUANTITY_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
"""resource.Quantity (5Gi, 500m, 1.5, 1e3), as a JSON Schema pattern too; group 3 is the
suffix."""
QUANTITY = re.compile(QUANTITY_PATTERN)

IMAGE_REPOSITORY_PATTERN = r"^[a-z0-9][a-z0-9._:/-]*$"
"""An image repository (no tag or digest; the container tools' grammar is checked besides)."""
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
IMAGE_DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
