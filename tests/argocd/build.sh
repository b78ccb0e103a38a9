#!/usr/bin/env bash
# Build the Argo CD the test suite runs, from Go modules, and cache it outside the repository
# keyed by the pinned versions (and a hash of the wrapper's own sources):
#   bin/argocd               application-controller, applicationset-controller, repo-server and
#                            git-ask-pass in one binary, the role chosen by $ARGOCD_BINARY_NAME
#                            (wrapper/argocd/main.go: upstream's cmd/main.go with only the roles
#                            the tests run, so the API server, CLI, Dex and notifications are
#                            not compiled)
#   bin/miniredis            the disposable Redis Argo CD needs (github.com/alicebob/miniredis/v2,
#                            from the same module graph; wrapper/miniredis/main.go)
#   bin/kustomize            what the repo server runs to render a Kustomize directory
#   bin/git-verify-wrapper.sh  the repo server runs it from its PATH for every revision
#   crds/                    Application, ApplicationSet and AppProject CRDs of the same release
#
# Recipe: a wrapper module whose go.mod is Argo CD's own go.mod, renamed and without its local
# `./gitops-engine` replace (the proxy then serves github.com/argoproj/argo-cd/gitops-engine/v3 at
# the same tag), then one `go build` of both wrapper programs. Argo CD v3.6 needs Go 1.27, which
# the go command fetches from the module proxy as a toolchain module (GOTOOLCHAIN, this script
# only). kustomize is `go install`ed at its own pin.
#
# Idempotent: with a warm cache it only checks the manifest and each binary's version. One build
# at a time per cache key (flock). Prints the output directory (bin/, crds/) last.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ARGOCD_VERSION="${ARGOCD_VERSION:-v3.6.2}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
GO_TOOLCHAIN="${ARGOCD_GO_TOOLCHAIN:-go1.27.3}"
RECIPE=1  # bump when the build below changes what it produces

sources=$(cat "$HERE"/wrapper/*/main.go | sha256sum)
CACHE_ROOT="${PAPERCLIP_ARGOCD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/argocd}"
KEY="argocd-${ARGOCD_VERSION}-kustomize-${KUSTOMIZE_VERSION}-${GO_TOOLCHAIN}-${sources:0:12}-r${RECIPE}"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"
WORK="$OUT/work"
MANIFEST="argocd=$ARGOCD_VERSION kustomize=$KUSTOMIZE_VERSION go=$GO_TOOLCHAIN"
CRDS=(application applicationset appproject)

export GOTOOLCHAIN="$GO_TOOLCHAIN" CGO_ENABLED=0

# shellcheck source=tests/gobuild/common.sh
source "$HERE/../gobuild/common.sh" argocd

verify() { # directory: every binary reports its pinned version, every CRD is there
  local dir="$1" crd
  reports "github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION" "$dir/bin/argocd" --version \
    || { log "argocd does not report $ARGOCD_VERSION"; return 1; }
  reports "github.com/argoproj/argo-cd/gitops-engine/v3 $ARGOCD_VERSION" "$dir/bin/argocd" --version \
    || { log "argocd was not built with gitops-engine $ARGOCD_VERSION"; return 1; }
  reports "miniredis v" "$dir/bin/miniredis" --version || { log "miniredis is missing"; return 1; }
  reports "$KUSTOMIZE_VERSION" "$dir/bin/kustomize" version \
    || { log "kustomize does not report $KUSTOMIZE_VERSION"; return 1; }
  [ -x "$dir/bin/git-verify-wrapper.sh" ] || { log "git-verify-wrapper.sh is missing"; return 1; }
  for crd in "${CRDS[@]}"; do
    [ -s "$dir/crds/$crd-crd.yaml" ] || { log "the $crd CRD is missing"; return 1; }
  done
}

use_cache_or_build

total=$(now)
module_json() { go mod download -json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"

step=$(now)
log "resolving modules: $MANIFEST (the $GO_TOOLCHAIN toolchain comes from the module proxy)"
src=$(module_json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" Dir)
cp "$src/go.mod" go.mod
chmod u+w go.mod
go mod edit -module=local/paperclip-gitops-argocd \
  -dropreplace=github.com/argoproj/argo-cd/gitops-engine/v3 \
  "-require=github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION"
cp -r "$HERE/wrapper/argocd" "$HERE/wrapper/miniredis" .
chmod -R u+w argocd miniredis
GOFLAGS=-mod=mod go get "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" \
  2>&1 | { grep -v '^go: downloading\|is deprecated' || true; } >&2
# every module the build needs is downloaded here, so the compile step below only compiles
GOFLAGS=-mod=mod go list -deps ./argocd ./miniredis 2>&1 >/dev/null \
  | { grep -v '^go: downloading' || true; } >&2
log "modules resolved in $(( $(now) - step ))s"

step=$(now)
staged="$OUT/staged"
rm -rf "$staged"
mkdir -p "$staged/bin" "$staged/crds"
pkg=github.com/argoproj/argo-cd/v3/common
# the version the controllers log at start (v3.6.2+unknown: the module zip carries no commit)
ld="-s -w -X $pkg.version=${ARGOCD_VERSION#v}"
log "compiling argocd and miniredis in one build (long on a cold cache; ~9 CPU-minutes)"
GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$staged/bin/" ./argocd ./miniredis
log "compiled in $(( $(now) - step ))s"

step=$(now)
# outside the wrapper module: kustomize's own go.mod decides its dependencies
(cd "$staged" && GOFLAGS='' GOBIN="$staged/bin" \
  go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION")
log "kustomize compiled in $(( $(now) - step ))s"

install -m 0755 "$src/hack/git-verify-wrapper.sh" "$staged/bin/git-verify-wrapper.sh"
for crd in "${CRDS[@]}"; do
  install -m 0644 "$src/manifests/crds/$crd-crd.yaml" "$staged/crds/$crd-crd.yaml"
done
verify "$staged" || { log "ERROR: the build did not produce the pinned versions"; exit 1; }

rm -rf "$BIN" "$OUT/crds"
mv "$staged/bin" "$BIN"
mv "$staged/crds" "$OUT/crds"
rmdir "$staged"
echo "$MANIFEST" >"$OUT/manifest"
rm -rf "$WORK"
log "all binaries ready in $(( $(now) - total ))s"
echo "$OUT"
