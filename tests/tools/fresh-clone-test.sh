#!/usr/bin/env bash
# `make test` as a new machine runs it: a fresh clone of this repository's HEAD (or REV) with
# every cache empty — paperclip-gitops' builds, Go's build and module caches, pip and npm —
# timed; the caches of your own machine stay untouched (the clone gets its own, under WORKDIR).
#
#   tests/tools/fresh-clone-test.sh [WORKDIR] [REV]     (default WORKDIR: a new /tmp directory)
#
# Prints the commit, the exit status and wall time, then the suite's "where the time went"
# table; the whole log is WORKDIR/make-test.log. Needs ~15 GB of disk in WORKDIR.
set -uo pipefail

repo="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
work="${1:-$(mktemp -d /tmp/fresh-clone-XXXXXX)}"
rev="${2:-HEAD}"
mkdir -p "$work/cache" "$work/go" "$work/npm"
git clone --quiet --no-checkout "$repo" "$work/repo"
git -C "$work/repo" checkout --quiet "$(git -C "$repo" rev-parse "$rev")"
cd "$work/repo" || exit 2
echo "commit $(git rev-parse --short HEAD), started $(date -u +%H:%M:%S) UTC, in $work"
export XDG_CACHE_HOME="$work/cache" GOPATH="$work/go" npm_config_cache="$work/npm"
start=$(date +%s)
make test >"$work/make-test.log" 2>&1
status=$?
echo "make test exited $status after $(($(date +%s) - start)) s"
sed -n '/=== where the time went ===/,$p' "$work/make-test.log"
exit "$status"
