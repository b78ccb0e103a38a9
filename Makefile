# paperclip-gitops — every target installs what it needs (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TOOLS_STAMP := $(VENV)/.tools-dir
CP_STAMP := $(VENV)/.controlplane-dir
PC_STAMP := $(VENV)/.paperclip-dir
CDK8S_STAMP := $(VENV)/.cdk8s-cli
FLUX_STAMP := $(VENV)/.flux-dir

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE :=

.PHONY: setup synth check test test-unit test-k8s lint bench cluster clean controlplane tools paperclip-server data-tools flux-controllers flux

## setup: virtualenv, Python packages, pinned CRDs, helm and kubectl (idempotent)
setup: $(STAMP) $(TOOLS_STAMP)

$(STAMP): pyproject.toml constructs_lib/spec/crds.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(PY) -m constructs_lib.spec.prefetch  # pinned CRDs of non-core kinds (see README, Schemas)
	@touch $@

$(TOOLS_STAMP): tests/tools/kube-tools.sh
	@mkdir -p $(VENV)
	bash tests/tools/kube-tools.sh | tail -n 1 > $@.tmp && mv $@.tmp $@

$(CDK8S_STAMP): tests/tools/cdk8s-cli.sh
	@mkdir -p $(VENV)
	bash tests/tools/cdk8s-cli.sh | tail -n 1 > $@.tmp && mv $@.tmp $@

tools: $(TOOLS_STAMP) $(CDK8S_STAMP)

## controlplane: build (or reuse) kube-apiserver, kcm, scheduler, etcd and kwok
controlplane: $(STAMP)
	bash tests/controlplane/build.sh | tail -n 1 > $(CP_STAMP).tmp && mv $(CP_STAMP).tmp $(CP_STAMP)

## flux-controllers: build (or reuse) Flux's source-, kustomize- and helm-controller and CRDs
flux-controllers: $(STAMP)
	bash tests/flux/build.sh | tail -n 1 > $(FLUX_STAMP).tmp && mv $(FLUX_STAMP).tmp $(FLUX_STAMP)

## paperclip-server: install (or reuse) the real Paperclip server the e2e tests run
paperclip-server:
	bash tests/paperclip/install.sh | tail -n 1 > $(PC_STAMP).tmp && mv $(PC_STAMP).tmp $(PC_STAMP)

## data-tools: PostgreSQL 17 and the S3 tools (aws CLI v1, moto) of the data-tier tests (cached)
data-tools:
	PIP="$(PYTHON) -m pip" bash tests/tools/postgres.sh >/dev/null
	bash tests/tools/s3-tools.sh >/dev/null

## synth: synthesize every app in apps/ into dist/
synth: $(STAMP)
	$(VENV)/bin/paperclip-gitops synth

## check: fail with a diff when dist/ differs from a fresh synth
check: $(STAMP)
	$(VENV)/bin/paperclip-gitops check

## test: the whole suite (unit, snapshot, kubectl/helm, control plane) and the dist/ check
test: setup controlplane flux-controllers $(CDK8S_STAMP) paperclip-server data-tools
	$(MAKE) --no-print-directory lint
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) \
	  PAPERCLIP_CDK8S_CLI=$$(cat $(CDK8S_STAMP)) PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) \
	  PAPERCLIP_FLUX_DIR=$$(cat $(FLUX_STAMP)) \
	  $(PY) -m pytest
	$(MAKE) --no-print-directory check

test-unit: setup $(CDK8S_STAMP) data-tools
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CDK8S_CLI=$$(cat $(CDK8S_STAMP)) \
	  $(PY) -m pytest -m 'not k8s and not paperclip'

test-k8s: setup controlplane flux-controllers paperclip-server
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) \
	  PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) PAPERCLIP_FLUX_DIR=$$(cat $(FLUX_STAMP)) \
	  $(PY) -m pytest -m 'k8s or paperclip'

SHELL_SCRIPTS = $$(find . -name '*.sh' -not -path './.venv/*' -not -path './.git/*' -not -path '*/node_modules/*') .ci/run

## lint: ruff, mypy, hadolint (launcher image), shellcheck (every shell script)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check constructs_lib launcher tests apps
	$(VENV)/bin/mypy constructs_lib launcher apps tests
	node --check launcher/client/paperclip-launch.mjs
	$(VENV)/bin/hadolint launcher/Dockerfile
	$(VENV)/bin/shellcheck $(SHELL_SCRIPTS)

## bench: synth time and memory; launcher submit latency, relay throughput, 200 concurrent runs
bench: setup controlplane data-tools paperclip-server
	$(PY) tests/bench/synth_bench.py
	$(PY) tests/bench/validate_bench.py
	$(PY) tests/bench/helm_bench.py
	$(PY) tests/bench/data_tier_bench.py
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) \
	  $(PY) tests/bench/launcher_bench.py
	PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) $(PY) -m tests.paperclip.bench

## cluster: run the test control plane in the foreground (Ctrl-C stops it)
cluster: setup controlplane
	PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) $(PY) -m tests.controlplane.cluster

## flux: the control plane with Flux and a loopback git server in the foreground (Ctrl-C stops)
flux: setup controlplane flux-controllers
	PAPERCLIP_CONTROLPLANE_BIN=$$(cat $(CP_STAMP)) PAPERCLIP_FLUX_DIR=$$(cat $(FLUX_STAMP)) \
	  $(PY) -m tests.flux.fluxenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
