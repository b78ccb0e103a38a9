#!/usr/bin/env bash
# Build Flux's source-controller, kustomize-controller and helm-controller (one Flux release)
# from their Go modules and cache them outside the repository, keyed by version; copy the
# same release's CRDs (config/crd/bases of each controller module) next to them.
#
# `go install module@version` refuses these modules (each go.mod replaces its ./api), so every
# controller is built in its own wrapper module whose go.mod is the controller's own go.mod
# (same dependency versions upstream releases with) minus its local `./` replace lines.
# Idempotent: with a warm cache it only checks the binaries and CRDs exist.
# Prints the cache directory (bin/ and crds/ below it) as its last line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The pins of constructs_lib/spec/crds.py FLUX_RELEASE (tests/flux/test_flux.py checks they agree).
FLUX_VERSION="${FLUX_VERSION:-v2.9.5}"
SOURCE_VERSION="${FLUX_SOURCE_VERSION:-v1.9.5}"
KUSTOMIZE_VERSION="${FLUX_KUSTOMIZE_VERSION:-v1.9.5}"
HELM_VERSION="${FLUX_HELM_VERSION:-v1.6.4}"

CACHE_ROOT="${PAPERCLIP_FLUX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/flux}"
KEY="flux-${FLUX_VERSION}-source-${SOURCE_VERSION}-kustomize-${KUSTOMIZE_VERSION}-helm-${HELM_VERSION}"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"
CRDS="$OUT/crds"
WORK="$OUT/work"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# One build at a time per cache key: concurrent runs wait for the first.
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

log() { printf '[flux] %s\n' "$*" >&2; }
now() { date +%s; }

ready() { # controller, version
  [ -x "$BIN/$1" ] && [ -f "$BIN/$1.version" ] && [ "$(cat "$BIN/$1.version")" = "$2" ] \
    && compgen -G "$CRDS/$1/*.yaml" >/dev/null
}

build() { # controller, version
  local name="$1" version="$2" module="github.com/fluxcd/$1" dir="$WORK/$1" start src
  start=$(now)
  log "$name $version: resolving $module"
  src=$(go mod download -json "$module@$version" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$dir"
  # The controller's own go.mod and go.sum, renamed, minus its local replace lines.
  awk -v mod="local/flux-$name" '
    /^module / { print "module " mod; next }
    /^replace .*=> *\.\.?\// { next }
    /^replace \($/ { inblock = 1; print; next }
    inblock && /^\)/ { inblock = 0; print; next }
    inblock && /=> *\.\.?\// { next }
    { print }
  ' "$src/go.mod" >"$dir/go.mod"
  cp "$src/go.sum" "$dir/go.sum"
  chmod u+w "$dir/go.mod" "$dir/go.sum"
  cd "$dir"
  go mod edit "-require=$module@$version"
  go get "$module@$version" || true  # may fail on a module version the proxy refuses
  # Module versions the proxy refuses: the nearest lower patch release instead (logged).
  local replaces=()
  while read -r arg; do replaces+=("$arg"); done < <(python3 "$HERE/proxy_fallback.py")
  if [ "${#replaces[@]}" -gt 0 ]; then
    go mod edit "${replaces[@]}"
    go get "$module@$version"
  fi
  log "$name: compiling (long on a cold cache)"
  nice -n 10 go build -trimpath -ldflags "-s -w" -o "$BIN/$name.tmp" "$module"
  mv "$BIN/$name.tmp" "$BIN/$name"
  rm -rf "${CRDS:?}/$name"
  mkdir -p "$CRDS/$name"
  cp "$src"/config/crd/bases/*.yaml "$CRDS/$name/"
  chmod u+w "$CRDS/$name"/*.yaml
  echo "$version" >"$BIN/$name.version"
  log "$name: built in $(( $(now) - start ))s"
}

mkdir -p "$BIN" "$CRDS"
total=$(now)
for pair in "source-controller:$SOURCE_VERSION" "kustomize-controller:$KUSTOMIZE_VERSION" \
            "helm-controller:$HELM_VERSION"; do
  name="${pair%%:*}"; version="${pair#*:}"
  if ready "$name" "$version"; then log "$name $version: cached"; else build "$name" "$version"; fi
  ready "$name" "$version" || { log "ERROR: $name $version is not in $OUT"; exit 1; }
done
log "Flux $FLUX_VERSION controllers ready in $(( $(now) - total ))s"
echo "$OUT"
