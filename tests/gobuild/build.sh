#!/usr/bin/env bash
# Build every Go binary the test suite runs, from Go modules, in ONE wrapper module and one
# `go build`, and cache them outside the repository keyed by the pinned versions:
#   the control plane: kube-apiserver, kube-controller-manager, kube-scheduler
#     (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), kwok (sigs.k8s.io/kwok);
#   Flux: source-controller, kustomize-controller, helm-controller (github.com/fluxcd), with
#     the same release's CRDs (each controller module's config/crd/bases) under crds/.
#
# Why one module: the pins share one Kubernetes minor (k8s.io/* v0.36), so with one build list
# every shared package (client-go, apimachinery, controller-runtime, helm, grpc, ...) compiles
# once for all eight binaries instead of once per binary family.
# The wrapper's go.mod is the union of the Flux controllers', etcd's and kwok's requirements
# (highest version of each) and their non-local replaces, plus k8s.io/kubernetes with its
# staging modules replaced by their published versions. A module version the Go proxy refuses
# is replaced by the nearest lower patch release it serves (gomod.py; the log names each one).
#
# Idempotent: with a warm cache it only checks the manifest and each binary's `--version`.
# One build at a time per cache key (flock). Prints the output directory (bin/, crds/) last.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

K8S_VERSION="${K8S_VERSION:-1.36.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
# The pins of constructs_lib/spec/crds.py FLUX_RELEASE (tests/flux/test_flux.py checks they agree).
FLUX_VERSION="${FLUX_VERSION:-v2.9.5}"
FLUX_SOURCE_VERSION="${FLUX_SOURCE_VERSION:-v1.9.5}"
FLUX_KUSTOMIZE_VERSION="${FLUX_KUSTOMIZE_VERSION:-v1.9.5}"
FLUX_HELM_VERSION="${FLUX_HELM_VERSION:-v1.6.4}"
RECIPE=1  # bump when the build below changes what it produces

CACHE_ROOT="${PAPERCLIP_GOBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/go}"
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}-flux-${FLUX_VERSION}-r${RECIPE}"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"
WORK="$OUT/work"

FLUX_CONTROLLERS=(
  "source-controller:$FLUX_SOURCE_VERSION"
  "kustomize-controller:$FLUX_KUSTOMIZE_VERSION"
  "helm-controller:$FLUX_HELM_VERSION"
)
MANIFEST="k8s=$K8S_VERSION etcd=$ETCD_VERSION kwok=$KWOK_VERSION flux=$FLUX_VERSION"
MANIFEST+=" source=$FLUX_SOURCE_VERSION kustomize=$FLUX_KUSTOMIZE_VERSION helm=$FLUX_HELM_VERSION"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# shellcheck source=tests/gobuild/common.sh
source "$HERE/common.sh" gobuild

verify() { # directory: every binary reports its pinned version, every Flux CRD is there
  local dir="$1" b pair name
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    reports "v$K8S_VERSION" "$dir/bin/$b" --version \
      || { log "$b does not report v$K8S_VERSION"; return 1; }
  done
  reports "$ETCD_VERSION" "$dir/bin/etcd" --version \
    || { log "etcd does not report $ETCD_VERSION"; return 1; }
  reports "$KWOK_VERSION" "$dir/bin/kwok" --version \
    || { log "kwok does not report $KWOK_VERSION"; return 1; }
  for pair in "${FLUX_CONTROLLERS[@]}"; do
    name="${pair%%:*}"
    [ -x "$dir/bin/$name" ] && [ "$(cat "$dir/bin/$name.version" 2>/dev/null)" = "${pair#*:}" ] \
      || { log "$name ${pair#*:} is missing"; return 1; }
    compgen -G "$dir/crds/$name/*.yaml" >/dev/null || { log "no CRDs of $name"; return 1; }
  done
}

use_cache_or_build

total=$(now)
gomod_of() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'; }
dir_of() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
go mod init local/paperclip-gitops-test-binaries >/dev/null 2>&1

step=$(now)
log "resolving modules: $MANIFEST"
mains=(
  "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  "sigs.k8s.io/kwok@v$KWOK_VERSION"
)
for pair in "${FLUX_CONTROLLERS[@]}"; do mains+=("github.com/fluxcd/${pair%%:*}@${pair#*:}"); done
gomods=()
for module in "${mains[@]}"; do gomods+=("$(gomod_of "$module")"); done
mapfile -t edits < <(python3 "$HERE/gomod.py" merge "${gomods[@]}")
go mod edit "${edits[@]}"

# k8s.io/kubernetes: its staging modules (replaced by ./staging/src/... in its own go.mod) at
# their published versions, and its godebug defaults.
staging="v0.${K8S_VERSION#*.}"
kgomod=$(gomod_of "k8s.io/kubernetes@v$K8S_VERSION")
edits=("-require=k8s.io/kubernetes@v$K8S_VERSION")
while read -r module; do
  edits+=("-replace=$module=$module@$staging")
done < <(awk '$0 ~ /=> *\.\/staging\/src\// { for (i = 1; i <= NF; i++) if ($i == "=>") print $(i-1) }' "$kgomod" | sort -u)
while read -r kv; do
  edits+=("-godebug=$kv")
done < <(awk '/^godebug /{print $2} /^godebug \($/{inblock=1; next} inblock && /^\)/{inblock=0} inblock{print $1}' "$kgomod")
for module in "${mains[@]}"; do edits+=("-require=$module"); done
go mod edit "${edits[@]}"

mapfile -t edits < <(python3 "$HERE/gomod.py" fallback)
if [ "${#edits[@]}" -gt 0 ]; then go mod edit "${edits[@]}"; fi

packages=(
  "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION"
  "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION"
  "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION"
  "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
)
for pair in "${FLUX_CONTROLLERS[@]}"; do packages+=("github.com/fluxcd/${pair%%:*}@${pair#*:}"); done
go get "${packages[@]}" 2>&1 | { grep -v '^go: downloading\|is deprecated' || true; } >&2
log "modules resolved in $(( $(now) - step ))s"

step=$(now)
k8s_minor="${K8S_VERSION#*.}"; k8s_minor="${k8s_minor%%.*}"
ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  ld+=" -X $pkg.gitTreeState=clean"
done
staged="$OUT/staged"
rm -rf "$staged"
mkdir -p "$staged/bin" "$staged/crds"
log "compiling ${#packages[@]} binaries in one build (long on a cold cache; ~18 CPU-minutes)"
go build -trimpath -ldflags "$ld" -o "$staged/bin/" "${packages[@]%@*}"
mv "$staged/bin/server" "$staged/bin/etcd"
log "compiled in $(( $(now) - step ))s"

for pair in "${FLUX_CONTROLLERS[@]}"; do
  name="${pair%%:*}"
  src=$(dir_of "github.com/fluxcd/$name@${pair#*:}")
  mkdir -p "$staged/crds/$name"
  cp "$src"/config/crd/bases/*.yaml "$staged/crds/$name/"
  chmod u+w "$staged/crds/$name"/*.yaml
  echo "${pair#*:}" >"$staged/bin/$name.version"
done
verify "$staged" || { log "ERROR: the build did not produce the pinned versions"; exit 1; }

rm -rf "$BIN" "$OUT/crds"
mv "$staged/bin" "$BIN"
mv "$staged/crds" "$OUT/crds"
rmdir "$staged"
echo "$MANIFEST" >"$OUT/manifest"
log "all binaries ready in $(( $(now) - total ))s"
echo "$OUT"
