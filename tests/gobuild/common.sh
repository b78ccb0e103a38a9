# shellcheck shell=bash
# Shared by the Go build scripts (tests/gobuild/build.sh, tests/argocd/build.sh); sourced after
# they set OUT (the cache entry of their pins) and MANIFEST, with the tag of their log lines as
# its argument; they define verify() before calling use_cache_or_build.

LOG_TAG="$1"

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
now() { date +%s; }

# `binary args...` prints the text. The output is captured whole first and then matched: a
# reader that stops at the first match would leave the binary writing into a closed pipe
# (SIGPIPE), and pipefail would turn the match into a failure, a race loaded machines lose.
reports() { # expected substring, binary, args...
  local want="$1" out
  shift
  [ -x "$1" ] || return 1
  out=$("$@" 2>/dev/null) || return 1
  [[ $out == *"$want"* ]]
}

# One build at a time per cache entry; with a complete entry, print it and stop here.
use_cache_or_build() {
  mkdir -p "$OUT"
  exec 9>"$OUT/.lock"
  flock 9
  if [ "$(cat "$OUT/manifest" 2>/dev/null)" = "$MANIFEST" ] && verify "$OUT" 2>/dev/null; then
    log "cached: $MANIFEST"
    echo "$OUT"
    exit 0
  fi
}
