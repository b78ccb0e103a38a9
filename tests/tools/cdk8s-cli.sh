#!/usr/bin/env bash
# Install the npm cdk8s-cli (pinned) into a cache directory keyed by its version, for the test
# that runs `cdk8s synth`. Idempotent; prints the path of the `cdk8s` executable as its last
# line.
set -euo pipefail
VERSION="${CDK8S_CLI_VERSION:-2.207.60}"
DIR="${PAPERCLIP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/tools}/cdk8s-cli-$VERSION"
BIN="$DIR/node_modules/.bin/cdk8s"

# One install at a time (concurrent `make` targets): a waiter then finds it cached.
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [ -x "$BIN" ]; then
  echo "[tools] cached: cdk8s-cli@$VERSION" >&2
  echo "$BIN"; exit 0
fi
echo "[tools] installing cdk8s-cli@$VERSION from npm into $DIR" >&2
mkdir -p "$DIR.tmp"
(cd "$DIR.tmp" && npm install --silent --no-audit --no-fund --no-package-lock \
  "cdk8s-cli@$VERSION" >&2)
rm -rf "$DIR"
mv "$DIR.tmp" "$DIR"
"$BIN" --version >&2
echo "$BIN"
