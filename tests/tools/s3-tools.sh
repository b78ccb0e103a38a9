#!/usr/bin/env bash
# Install the S3 tools of the data-tier tests into their own virtualenv (botocore pins
# python-dateutil<3 while the kubernetes client needs >=3, so they cannot share .venv):
# the aws CLI v1 (the same `aws s3`/`aws s3api` commands the backup script runs with the
# aws-cli v2 image in-cluster) and moto's S3 server. Cached under a directory keyed by the
# pinned versions; idempotent. Prints the virtualenv directory as its last line.
set -euo pipefail
PINS=(
  "awscli==1.46.2"
  "moto[s3]==5.2.5"
  "flask==3.1.3"
  "flask-cors==6.0.5"
)
key=$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-12)
CACHE="${PAPERCLIP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/paperclip-gitops/tools}"
DIR="$CACHE/s3-tools-$key"

# One install at a time (concurrent `make` targets): a waiter then finds it cached.
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [ -f "$DIR/.complete" ]; then
  echo "[tools] cached: S3 tools $key" >&2
  echo "$DIR"; exit 0
fi
echo "[tools] installing ${PINS[*]} into $DIR" >&2
# a venv's scripts name their interpreter by path, so it is built in place; .complete marks
# a finished install (an interrupted one is rebuilt)
rm -rf "$DIR"
python3 -m venv "$DIR"
"$DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
"$DIR/bin/python" -c "import moto.server"
"$DIR/bin/aws" --version >&2
touch "$DIR/.complete"
echo "$DIR"
