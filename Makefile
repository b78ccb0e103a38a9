# paperclip-gitops — every target installs what it needs (see README.md and docs/contributing.md).
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TOOLS_STAMP := $(VENV)/.tools-dir
GO_STAMP := $(VENV)/.go-binaries-dir
ARGOCD_STAMP := $(VENV)/.argocd-dir
# the code before the pure build (issue 25): what distinct_bench.py compares with
BENCH_BASE ?= ba31c9d
PC_STAMP := $(VENV)/.paperclip-dir
CDK8S_STAMP := $(VENV)/.cdk8s-cli
ACTIONLINT_STAMP := $(VENV)/.actionlint

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE :=

.PHONY: setup venv go-binaries docs synth check test test-unit test-k8s lint bench cluster clean controlplane tools paperclip-server data-tools flux-controllers flux argocd-binaries argocd

## setup: virtualenv, Python packages, pinned CRDs, helm and kubectl (idempotent)
setup: $(STAMP) $(TOOLS_STAMP)

## venv: the virtualenv with the Python packages and pinned CRDs only
venv: $(STAMP)

$(STAMP): pyproject.toml constructs_lib/spec/crds.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(PY) -m constructs_lib.spec.prefetch  # pinned CRDs of non-core kinds (see docs/cli.md, "Schemas: how objects are validated")
	@touch $@

$(TOOLS_STAMP): tests/tools/kube-tools.sh
	@mkdir -p $(VENV)
	bash tests/tools/kube-tools.sh | tail -n 1 > $@.tmp && mv $@.tmp $@

$(CDK8S_STAMP): tests/tools/cdk8s-cli.sh
	@mkdir -p $(VENV)
	bash tests/tools/cdk8s-cli.sh | tail -n 1 > $@.tmp && mv $@.tmp $@

$(ACTIONLINT_STAMP): tests/tools/actionlint.sh
	@mkdir -p $(VENV)
	bash tests/tools/actionlint.sh | tail -n 1 > $@.tmp && mv $@.tmp $@

tools: $(TOOLS_STAMP) $(CDK8S_STAMP) $(ACTIONLINT_STAMP)

## go-binaries: build (or reuse) the control plane (kube-apiserver, kcm, scheduler, etcd, kwok)
## and Flux's source-, kustomize- and helm-controller (with CRDs), in one Go build
go-binaries:
	@mkdir -p $(VENV)
	bash tests/gobuild/build.sh | tail -n 1 > $(GO_STAMP).tmp && mv $(GO_STAMP).tmp $(GO_STAMP)
controlplane flux-controllers: go-binaries

## argocd-binaries: build (or reuse) Argo CD's application and ApplicationSet controllers and
## repo server (one binary), its Redis (miniredis), kustomize and the Argo CD CRDs
argocd-binaries:
	@mkdir -p $(VENV)
	set -o pipefail; bash tests/argocd/build.sh | tail -n 1 > $(ARGOCD_STAMP).tmp && mv $(ARGOCD_STAMP).tmp $(ARGOCD_STAMP)

## paperclip-server: install (or reuse) the real Paperclip server the e2e tests run
paperclip-server:
	@mkdir -p $(VENV)
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

## test: the whole suite (unit, snapshot, kubectl/helm, control plane, Flux, Paperclip) and the
## dist/ check; cold builds run beside the tests that need no cluster; ends with where the time went
test:
	$(PYTHON) tests/run_suite.py

test-unit: setup $(CDK8S_STAMP) data-tools
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_CDK8S_CLI=$$(cat $(CDK8S_STAMP)) \
	  $(PY) -m pytest -m 'not k8s and not paperclip'

test-k8s: setup go-binaries paperclip-server
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_GO_BINARIES=$$(cat $(GO_STAMP)) \
	  PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) \
	  $(PY) -m pytest -m 'k8s or paperclip'

SHELL_SCRIPTS = $$(find . -name '*.sh' -not -path './.venv/*' -not -path './.git/*' -not -path '*/node_modules/*') .ci/run

## lint: ruff, mypy, hadolint (launcher image), shellcheck (every shell script), actionlint
lint: $(STAMP) $(ACTIONLINT_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check constructs_lib launcher tests apps examples
	$(VENV)/bin/mypy constructs_lib launcher apps tests examples
	for f in launcher/adapter/*.mjs launcher/adapter/*.cjs; do node --check "$$f" || exit 1; done
	$(VENV)/bin/hadolint launcher/Dockerfile
	$(VENV)/bin/shellcheck -x $(SHELL_SCRIPTS)
	for f in constructs_lib/scripts/*.mjs; do node --check "$$f" || exit 1; done
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $$(cat $(ACTIONLINT_STAMP)) .github/workflows/*.yml

## bench: synth time and memory (same-spec copies; distinct instances against BENCH_BASE); launcher submit latency, relay throughput, 200 concurrent runs
bench: setup go-binaries data-tools paperclip-server
	$(PY) tests/bench/synth_bench.py
	$(PY) tests/bench/distinct_bench.py --base $(BENCH_BASE)
	$(PY) tests/bench/validate_bench.py
	$(PY) tests/bench/helm_bench.py
	$(PY) tests/bench/data_tier_bench.py
	PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_GO_BINARIES=$$(cat $(GO_STAMP)) \
	  $(PY) tests/bench/launcher_bench.py
	PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) $(PY) -m tests.paperclip.bench
	PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) PAPERCLIP_GO_BINARIES=$$(cat $(GO_STAMP)) \
	  $(PY) -m tests.paperclip.adapter_bench

## cluster: run the test control plane in the foreground (Ctrl-C stops it)
cluster: setup go-binaries
	PAPERCLIP_GO_BINARIES=$$(cat $(GO_STAMP)) $(PY) -m tests.controlplane.cluster

## argocd: the control plane with Argo CD and a loopback git server in the foreground (Ctrl-C)
argocd: setup go-binaries argocd-binaries paperclip-server
	PAPERCLIP_GO_BINARIES=$$(cat $(GO_STAMP)) PAPERCLIP_ARGOCD_DIR=$$(cat $(ARGOCD_STAMP)) \
	  PAPERCLIP_TOOLS_DIR=$$(cat $(TOOLS_STAMP)) PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) \
	  $(PY) -m tests.argocd.argoenv

## flux: the control plane with Flux and a loopback git server in the foreground (Ctrl-C stops)
flux: setup go-binaries paperclip-server
	PAPERCLIP_GO_BINARIES=$$(cat $(GO_STAMP)) PAPERCLIP_SERVER_DIR=$$(cat $(PC_STAMP)) \
	  $(PY) -m tests.flux.fluxenv

## docs: build the documentation site strictly into site/ (`make test` builds it too)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
