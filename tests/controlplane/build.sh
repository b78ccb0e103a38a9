#!/usr/bin/env bash
# Build the binaries of a real Kubernetes control plane from Go modules and cache
# them outside the repository, keyed by version:
#   kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3) and kwok (sigs.k8s.io/kwok/cmd/kwok).
# Idempotent: with a warm cache it only checks `--version` of each binary.
# Prints the binary directory as its last line.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"

CACHE_ROOT="${PAPERCLIP_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/controlplane}"
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-kwok-${KWOK_VERSION}"
BIN="$CACHE_ROOT/$KEY/bin"
WORK="$CACHE_ROOT/$KEY/work"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# One build at a time per cache key: concurrent `make controlplane` runs wait for the first.
mkdir -p "$CACHE_ROOT/$KEY"
exec 9>"$CACHE_ROOT/$KEY/.lock"
flock 9

log() { printf '[controlplane] %s\n' "$*" >&2; }
now() { date +%s; }

k8s_minor="${K8S_VERSION#*.}"; k8s_minor="${k8s_minor%%.*}"
staging_version="v0.${K8S_VERSION#*.}"

have_version() { # binary, expected substring
  [ -x "$BIN/$1" ] && "$BIN/$1" --version 2>/dev/null | grep -q -- "$2"
}

build_k8s() {
  local dir="$WORK/k8s" start; start=$(now)
  mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init local/k8s-bins >/dev/null 2>&1
  log "k8s v$K8S_VERSION: resolving k8s.io/kubernetes and its staging modules ($staging_version)"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  # Generate the replace list from k/k's own go.mod: every module replaced into ./staging/src/.
  local args=("-require=k8s.io/kubernetes@v$K8S_VERSION")
  while read -r mod; do
    args+=("-replace=$mod=$mod@$staging_version")
  done < <(awk '$0 ~ /=> *\.\/staging\/src\// { for (i = 1; i <= NF; i++) if ($i == "=>") print $(i-1) }' "$gomod" | sort -u)
  while read -r kv; do
    args+=("-godebug=$kv")
  done < <(awk '/^godebug /{print $2} /^godebug \($/{inblock=1; next} inblock && /^\)/{inblock=0} inblock{print $1}' "$gomod")
  log "k8s: ${#args[@]} go.mod edits (require, replaces, godebug)"
  go mod edit "${args[@]}"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
         "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
         "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" >/dev/null 2>&1 || \
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
           "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
           "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION"
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
  done
  log "k8s: compiling kube-apiserver, kube-controller-manager, kube-scheduler (long on a cold cache)"
  go build -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  log "k8s: built in $(( $(now) - start ))s"
}

build_etcd() {
  local dir="$WORK/etcd" start; start=$(now)
  mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init local/etcd-bin >/dev/null 2>&1
  log "etcd v$ETCD_VERSION: go get go.etcd.io/etcd/server/v3 (own wrapper module)"
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  log "etcd: built in $(( $(now) - start ))s"
}

build_kwok() {
  local start; start=$(now)
  log "kwok v$KWOK_VERSION: go install sigs.k8s.io/kwok/cmd/kwok"
  GOBIN="$BIN" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  log "kwok: built in $(( $(now) - start ))s"
}

mkdir -p "$BIN"
total=$(now)
if have_version kube-apiserver "v$K8S_VERSION" \
  && have_version kube-controller-manager "v$K8S_VERSION" \
  && have_version kube-scheduler "v$K8S_VERSION"; then
  log "k8s v$K8S_VERSION: cached"
else
  build_k8s
fi
if have_version etcd "$ETCD_VERSION"; then log "etcd v$ETCD_VERSION: cached"; else build_etcd; fi
if have_version kwok "$KWOK_VERSION"; then log "kwok v$KWOK_VERSION: cached"; else build_kwok; fi

for b in kube-apiserver kube-controller-manager kube-scheduler; do
  have_version "$b" "v$K8S_VERSION" || { log "ERROR: $b does not report v$K8S_VERSION"; exit 1; }
done
have_version etcd "$ETCD_VERSION" || { log "ERROR: etcd does not report $ETCD_VERSION"; exit 1; }
have_version kwok "$KWOK_VERSION" || { log "ERROR: kwok does not report $KWOK_VERSION"; exit 1; }
log "all binaries ready in $(( $(now) - total ))s"
echo "$BIN"
