#!/bin/sh
# paperclip-gitops admin bootstrap: creates the first admin of a Paperclip instance and makes
# it the CEO through the bootstrap invite. Run by the Job <name>-bootstrap in the server image.
#
# Idempotent and restartable: every step either finds its work done or does it again.
#   1. wait until the server answers on $SVC_URL (any HTTP status counts as up)
#   2. sign up $ADMIN_EMAIL; when that is refused, sign in (the user exists)
#   3. GET /api/health: bootstrapStatus "ready" means already bootstrapped -> exit 0
#      (never /api/health/details: it is 404 on shipping servers)
#   4. pnpm paperclipai auth bootstrap-ceo -> a pcp_bootstrap_ invite token
#      ("already has an admin user" -> exit 0)
#   5. accept the invite as the signed-in admin
#
# Inputs (environment): SVC_URL, SERVER_URL, ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_NAME (Admin),
# BOOTSTRAP_WAIT_ATTEMPTS (60), BOOTSTRAP_WAIT_SECONDS (5), BOOTSTRAP_HTTP_TIMEOUT (10).
# Neither the password nor the invite token is ever printed or passed on a command line
# (request bodies come from stdin, the invite URL from a curl config file).
set -eu

: "${SVC_URL:?SVC_URL is not set}"
: "${SERVER_URL:?SERVER_URL is not set}"
: "${ADMIN_EMAIL:?ADMIN_EMAIL is not set}"
: "${ADMIN_PASSWORD:?ADMIN_PASSWORD is not set (check the passwordSecretRef Secret)}"
ADMIN_NAME=${ADMIN_NAME:-Admin}
WAIT_ATTEMPTS=${BOOTSTRAP_WAIT_ATTEMPTS:-60}
WAIT_SECONDS=${BOOTSTRAP_WAIT_SECONDS:-5}
HTTP_TIMEOUT=${BOOTSTRAP_HTTP_TIMEOUT:-10}
SVC_URL=${SVC_URL%/}
SERVER_URL=${SERVER_URL%/}

log() {
  printf 'admin-bootstrap: %s\n' "$*"
}

fail() {
  printf 'admin-bootstrap: error: %s\n' "$*" >&2
  exit 1
}

case $ADMIN_PASSWORD in
  *"
"*) fail "the admin password contains a line break (a trailing newline in the Secret?)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/admin-bootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT
jar="$work/cookies"
body="$work/body"
: >"$jar"

# A JSON string literal of $1 (backslash and quote escaped, tabs as \t). The tab is made
# at run time so this script has none: it stays readable as a block in its ConfigMap.
tab=$(printf '\t')
json_string() {
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/${tab}/\\\\t/g")"
}

# JSON escapes every control character; json_string escapes only the tab: refuse the others
# (a CR in a password made a body the server refused, reported as a wrong password). The value
# itself is never printed.
printable() {
  case $(printf '%s' "$2" | tr -d "$tab") in
    *[[:cntrl:]]*) fail "$1 contains a control character (only a tab is allowed); check the Secret" ;;
  esac
}
printable ADMIN_EMAIL "$ADMIN_EMAIL"
printable ADMIN_PASSWORD "$ADMIN_PASSWORD"
printable ADMIN_NAME "$ADMIN_NAME"

# post PATH: sends the JSON document on stdin to $SERVER_URL/PATH with the cookie jar;
# prints the HTTP status (000 when there was no answer) and keeps the body in $body.
post() {
  printf 'url = "%s%s"\n' "$SERVER_URL" "$1" >"$work/request"
  curl --silent --show-error --max-time "$HTTP_TIMEOUT" \
    --cookie "$jar" --cookie-jar "$jar" \
    --header "Origin: $SERVER_URL" --header 'Content-Type: application/json' \
    --output "$body" --write-out '%{http_code}' \
    --data-binary @- --config "$work/request" || true
}

is_2xx() {
  case $1 in 2??) return 0 ;; *) return 1 ;; esac
}

# 1. Wait for the server.
attempt=1
while :; do
  code=$(curl --silent --output /dev/null --max-time "$HTTP_TIMEOUT" \
    --write-out '%{http_code}' "$SVC_URL/" || true)
  if [ -n "$code" ] && [ "$code" != "000" ]; then
    log "server is up at $SVC_URL (HTTP $code)"
    break
  fi
  if [ "$attempt" -ge "$WAIT_ATTEMPTS" ]; then
    fail "the server did not answer at $SVC_URL after $WAIT_ATTEMPTS attempts"
  fi
  log "waiting for the server at $SVC_URL ($attempt/$WAIT_ATTEMPTS)"
  attempt=$((attempt + 1))
  sleep "$WAIT_SECONDS"
done

# 2. Sign up, else sign in.
email=$(json_string "$ADMIN_EMAIL")
password=$(json_string "$ADMIN_PASSWORD")
name=$(json_string "$ADMIN_NAME")
code=$(printf '{"name":%s,"email":%s,"password":%s}' "$name" "$email" "$password" |
  post /api/auth/sign-up/email)
if is_2xx "$code"; then
  log "signed up $ADMIN_EMAIL"
else
  log "sign-up answered HTTP $code; signing in $ADMIN_EMAIL instead"
  code=$(printf '{"email":%s,"password":%s}' "$email" "$password" |
    post /api/auth/sign-in/email)
  is_2xx "$code" || fail "sign-in of $ADMIN_EMAIL answered HTTP $code (wrong password in the Secret, or sign-up disabled?)"
  log "signed in $ADMIN_EMAIL"
fi

# 3. Already bootstrapped?
code=$(curl --silent --max-time "$HTTP_TIMEOUT" --cookie "$jar" \
  --header "Origin: $SERVER_URL" --output "$body" --write-out '%{http_code}' \
  "$SERVER_URL/api/health" || true)
status=""
if is_2xx "$code"; then
  status=$(tr -d '\n' <"$body" |
    sed -n 's/.*"bootstrapStatus"[[:space:]]*:[[:space:]]*"\([A-Za-z_]*\)".*/\1/p')
fi
if [ "$status" = "ready" ]; then
  log "the instance is already bootstrapped (bootstrapStatus ready); nothing to do"
  exit 0
fi
log "bootstrapStatus: ${status:-not reported}; creating the CEO bootstrap invite"

# 4. The bootstrap invite (the CLI talks to the database). `onboard --yes` records
# local_trusted in the instance config, and the CLI refuses the invite for that mode; the
# server runs authenticated (its env says so), so the CLI reads a copy of the config that does.
set -- auth bootstrap-ceo --base-url "$SERVER_URL"
config=${PAPERCLIP_CONFIG:-${PAPERCLIP_HOME:-/paperclip}/instances/${PAPERCLIP_INSTANCE_ID:-default}/config.json}
if [ -f "$config" ] && [ "${PAPERCLIP_DEPLOYMENT_MODE:-}" = authenticated ]; then
  node -e '
    const fs = require("fs");
    const [source, target] = process.argv.slice(1);
    const config = JSON.parse(fs.readFileSync(source, "utf8"));
    config.server = { ...(config.server || {}), deploymentMode: "authenticated" };
    fs.writeFileSync(target, JSON.stringify(config, null, 2), { mode: 0o600 });
  ' "$config" "$work/config.json" || fail "could not read the instance config $config"
  if [ -f "${config%/*}/.env" ]; then
    cp "${config%/*}/.env" "$work/.env"
  fi
  set -- "$@" --config "$work/config.json"
fi
if output=$(pnpm paperclipai "$@" 2>&1); then
  result=0
else
  result=$?
fi
printf '%s\n' "$output" | sed 's/pcp_bootstrap_[0-9a-fA-F]*/pcp_bootstrap_<redacted>/g'
token=$(printf '%s\n' "$output" | grep -o 'pcp_bootstrap_[0-9a-fA-F]*' | head -n 1 || true)
if [ -z "$token" ]; then
  if printf '%s\n' "$output" | grep -qi 'already has an admin user'; then
    log "the instance already has an admin user; nothing to do"
    exit 0
  fi
  fail "bootstrap-ceo (exit $result) printed no invite token"
fi

# 5. Accept the invite as the signed-in admin.
code=$(printf '{"requestType":"human"}' | post "/api/invites/$token/accept")
is_2xx "$code" || fail "accepting the bootstrap invite answered HTTP $code"
log "$ADMIN_EMAIL accepted the bootstrap invite: the instance is bootstrapped"
