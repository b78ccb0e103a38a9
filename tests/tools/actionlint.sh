#!/usr/bin/env bash
# Install actionlint (the GitHub Actions workflow linter) from the Go module proxy into a cache
# directory keyed by its version. Idempotent; prints the path of the binary as its last line.
set -euo pipefail
VERSION="${ACTIONLINT_VERSION:-1.7.12}"
DIR="${PAPERCLIP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/tools}/actionlint-$VERSION"
BIN="$DIR/actionlint"

# One install at a time (concurrent `make` targets): a waiter then finds it cached.
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [ -x "$BIN" ]; then
  echo "[tools] cached: actionlint $VERSION" >&2
  echo "$BIN"; exit 0
fi
echo "[tools] building actionlint v$VERSION from the Go module proxy" >&2
mkdir -p "$DIR.tmp"
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$DIR.tmp" \
  go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$VERSION" >&2
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
"$BIN" -version >&2
echo "$BIN"
