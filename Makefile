# paperclip-gitops — every target installs what it needs (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TOOLS_STAMP := $(VENV)/.tools-dir
CP_STAMP := $(VENV)/.controlplane-dir

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE :=

.PHONY: setup synth check test test-unit test-k8s lint bench cluster clean controlplane tools

## setup: virtualenv, Python packages, helm and kubectl (idempotent)
setup: $(STAMP) $(TOOLS_STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

$(TOOLS_STAMP): tests/tools/kube-tools.sh
	@mkdir -p $(VENV)
	bash tests/tools/kube-tools.sh | tail -n 1 > $@.tmp && mv $@.tmp $@

tools: $(TOOLS_STAMP)

## controlplane: build (or reuse) kube-apiserver, kcm, scheduler, etcd and kwok
controlplane: $(STAMP)
	bash tests/controlplane/build.sh | tail -n 1 > $(CP_STAMP).tmp && mv $(CP_STAMP).tmp $(CP_STAMP)

## synth: synthesize every app in apps/ into dist/
synth: $(STAMP)
	$(VENV)/bin/paperclip-gitops synth

## check: fail with a diff when dist/ differs from a fresh synth
check: $(STAMP)
	$(VENV)/bin/paperclip-gitops check

## test: the whole suite (unit, snapshot, kubectl/helm, control plane) and the dist/ check
test: setup controlplane
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) \
	  $(PY) -m pytest
	$(MAKE) --no-print-directory check

test-unit: setup
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) $(PY) -m pytest -m 'not k8s'

test-k8s: setup controlplane
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) \
	  $(PY) -m pytest -m k8s

## lint: ruff and mypy
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check constructs_lib launcher tests apps
	$(VENV)/bin/mypy constructs_lib launcher apps tests
	node --check launcher/client/paperclip-launch.mjs

## bench: synth time and memory; launcher submit latency, relay throughput, 50 concurrent runs
bench: setup controlplane
	$(PY) tests/bench/synth_bench.py
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) \
	  $(PY) tests/bench/launcher_bench.py

## cluster: run the test control plane in the foreground (Ctrl-C stops it)
cluster: setup controlplane
	PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) $(PY) -m tests.controlplane.cluster

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
