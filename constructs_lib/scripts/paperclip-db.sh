#!/usr/bin/env bash
# paperclip-db.sh: verified PostgreSQL backups to S3, retention, and restore.
#
# Shipped by paperclip-gitops in the ConfigMap <name>-db-scripts and run by the backup
# CronJob <name>-db-backup and the restore CronJob <name>-db-restore, one phase per container:
#
#   dump     (postgres image)  pg_dump -Fc into $BACKUP_DIR, verify it with pg_restore --list,
#                              write <ts>.dump.sha256 beside it
#   upload   (aws-cli image)   re-check the sha256, upload <prefix>/<ts>.dump and .sha256, check
#                              the stored size, then apply retention
#   prune    (aws-cli image)   retention alone: delete backups whose LastModified is older than
#                              RETENTION_DAYS, always keeping the newest KEEP_LAST complete ones
#                              (with their .sha256; an unfinished upload goes by age alone)
#   fetch    (aws-cli image)   download RESTORE_KEY (or the latest complete backup) and its
#                              .sha256 into $BACKUP_DIR and check the sha256
#   restore  (postgres image)  check the sha256 and pg_restore --list again, then pg_restore
#                              --clean --if-exists --no-owner --exit-on-error --single-transaction
#
# Environment:
#   BACKUP_DIR      work directory shared by the phases (default /backup)
#   PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD   the database (libpq), or
#   DATABASE_URL    a connection URI (external databases; wins when set). A bare '@' in its
#                   user info is read as the server reads it; a bare '%' or a '/' there is
#                   refused; the URL (and so its password) is never printed
#   S3_BUCKET S3_PREFIX   objects are <S3_PREFIX>/<UTC timestamp>.dump (+ .sha256)
#   S3_ENDPOINT     endpoint URL of a non-AWS store (optional)
#   S3_FORCE_PATH_STYLE   true for path-style addressing (MinIO)
#   AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or workload identity)
#   AWS_REQUEST_CHECKSUM_CALCULATION=when_required and AWS_RESPONSE_CHECKSUM_VALIDATION=
#                   when_required: aws-cli >= 2.23 otherwise sends checksums R2/B2/MinIO refuse
#   RETENTION_DAYS  (default 30, at least 1)   KEEP_LAST (default 3, at least 1)
#   RESTORE_KEY     latest (default), a full key, or a name under S3_PREFIX
#
# Every failure exits non-zero: a failed pg_dump uploads nothing, and a retention error fails
# the Job (nothing is skipped silently). Only objects named <S3_PREFIX>/<YYYYmmddTHHMMSSZ>.dump
# (and their .sha256) are ever counted or deleted; other objects under the prefix are left alone.
set -euo pipefail
shopt -s nullglob
# $(...) does not inherit errexit in bash < 4.4 (the aws-cli v2 image has bash 4.2), so every
# command substitution below checks its status explicitly; on newer bash this adds a net.
shopt -s inherit_errexit 2>/dev/null || true

BACKUP_DIR="${BACKUP_DIR:-/backup}"
RETENTION_DAYS="${RETENTION_DAYS:-30}"
KEEP_LAST="${KEEP_LAST:-3}"
STAMP_RE='^[0-9]{8}T[0-9]{6}Z\.dump$'

log() { printf '%s paperclip-db: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# db_url URL: sets DB_URL to the URL as libpq must read it. libpq quotes in its error the part
# of a URL it cannot parse, so the password of a URL with a bare '@' in it ("could not
# translate host name "dor&3x@db..."), a bare '%' or a '/' reached the Job's log. A bare '@'
# in the user info is encoded, as the server's URL parser (WHATWG: the last '@' before the
# host ends the user info) reads it; what libpq would still misread is refused, unprinted.
db_url() {
  local url=$1 rest pre userinfo
  DB_URL=$url
  case "$url" in postgres://* | postgresql://*) ;; *) return 0 ;; esac
  if [[ $url =~ %([^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|[0-9A-Fa-f]?$|00) ]]; then
    die "DATABASE_URL has a '%' that is no %XX escape: percent-encode its user name and" \
      "password (% as %25); the URL is not printed"
  fi
  rest=${url#*://}
  pre=${rest%%\?*}
  [[ $pre == *@* ]] || return 0
  userinfo=${pre%@*}
  case "$userinfo" in
    */*) die "DATABASE_URL has an '@' after a '/': percent-encode its user name and password" \
      "(/ as %2F); the URL is not printed" ;;
  esac
  DB_URL="${url%%://*}://${userinfo//@/%40}@${rest#"$userinfo"@}"
}

# The connection arguments for pg_dump/pg_restore: the URI when given, else the database
# PGDATABASE with libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD. Never prompts for a password.
conn_args() {
  CONN=(--no-password)
  if [ -n "${DATABASE_URL:-}" ]; then
    db_url "$DATABASE_URL"
    CONN+=("--dbname=$DB_URL")
  else
    [ -n "${PGDATABASE:-}" ] || die "set DATABASE_URL, or PGDATABASE (with PGHOST, PGUSER, ...)"
    CONN+=("--dbname=$PGDATABASE")
  fi
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# check_sha FILE: FILE.sha256 holds "<64 hex>  <name>" and matches FILE's content.
check_sha() {
  local file=$1 expected actual
  [ -s "$file.sha256" ] || die "$(basename "$file").sha256 is missing"
  expected=$(cut -d' ' -f1 <"$file.sha256")
  [[ $expected =~ ^[0-9a-f]{64}$ ]] || die "$(basename "$file").sha256 is not a sha256 line"
  actual=$(sha_of "$file") || die "cannot read $(basename "$file")"
  [ "$expected" = "$actual" ] || die "sha256 mismatch for $(basename "$file"): the file is corrupt"
}

# check_dump FILE: pg_restore can read the archive's table of contents.
check_dump() {
  pg_restore --list "$1" >/dev/null || die "$(basename "$1") is not a readable pg_dump archive"
}

require_s3() {
  [ -n "${S3_BUCKET:-}" ] || die "S3_BUCKET is not set"
  [ -n "${S3_PREFIX:-}" ] || die "S3_PREFIX is not set"
  case "$S3_PREFIX" in /* | */) die "S3_PREFIX must not start or end with /" ;; esac
  if [ "${S3_FORCE_PATH_STYLE:-false}" = "true" ]; then
    mkdir -p "$BACKUP_DIR"
    export AWS_CONFIG_FILE="$BACKUP_DIR/.aws-config"
    printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
  fi
}

s3() {
  if [ -n "${S3_ENDPOINT:-}" ]; then
    aws --endpoint-url "$S3_ENDPOINT" "$@"
  else
    aws "$@"
  fi
}

# list_backups: "<epoch>\t<complete>\t<key>" for every <ts>.dump under the prefix, newest first
# (by LastModified, then key); <complete> is 1 when the listing holds its .sha256 (a finished
# upload), else 0. Fails on any listing or date error.
list_backups() {
  local listing stamp key name epoch
  listing=$(s3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_PREFIX/" \
    --query 'Contents[].[LastModified,Key]' --output text) ||
    die "cannot list s3://$S3_BUCKET/$S3_PREFIX/"
  local -A sums=()
  while IFS=$'\t' read -r stamp key; do
    case "$key" in *.dump.sha256) sums["$key"]=1 ;; esac
  done <<<"$listing"
  local rows=()
  while IFS=$'\t' read -r stamp key; do
    [ -n "$stamp" ] && [ "$stamp" != "None" ] || continue
    name=${key#"$S3_PREFIX/"}
    [[ $name =~ $STAMP_RE ]] || continue
    epoch=$(date -u -d "$stamp" +%s) || die "cannot read the LastModified of $key: $stamp"
    rows+=("$epoch"$'\t'"${sums["$key.sha256"]:-0}"$'\t'"$key")
  done <<<"$listing"
  if [ "${#rows[@]}" -gt 0 ]; then
    printf '%s\n' "${rows[@]}" | sort -t$'\t' -k1,1nr -k3,3r || die "cannot sort the listing"
  fi
}

cmd_dump() {
  conn_args
  mkdir -p "$BACKUP_DIR"
  rm -f "$BACKUP_DIR"/*.dump "$BACKUP_DIR"/*.dump.sha256 "$BACKUP_DIR"/*.partial
  local name out
  name="$(date -u +%Y%m%dT%H%M%SZ).dump"
  out="$BACKUP_DIR/$name"
  log "pg_dump -Fc to $name"
  if ! pg_dump --format=custom --file="$out.partial" "${CONN[@]}"; then
    rm -f "$out.partial"
    die "pg_dump failed; nothing is uploaded"
  fi
  check_dump "$out.partial"
  mv "$out.partial" "$out"
  (cd "$BACKUP_DIR" && sha256sum "$name" >"$name.sha256")
  log "dumped $name ($(wc -c <"$out") bytes, sha256 $(sha_of "$out"))"
}

cmd_upload() {
  require_s3
  local dumps=("$BACKUP_DIR"/*.dump)
  [ "${#dumps[@]}" -eq 1 ] || die "expected one dump in $BACKUP_DIR, found ${#dumps[@]}"
  local file=${dumps[0]} name size stored
  name=$(basename "$file")
  [[ $name =~ $STAMP_RE ]] || die "unexpected dump name $name"
  check_sha "$file"
  size=$(wc -c <"$file" | tr -d ' ')
  log "uploading s3://$S3_BUCKET/$S3_PREFIX/$name ($size bytes)"
  s3 s3 cp --only-show-errors "$file" "s3://$S3_BUCKET/$S3_PREFIX/$name"
  stored=$(s3 s3api head-object --bucket "$S3_BUCKET" --key "$S3_PREFIX/$name" \
    --query ContentLength --output text) || die "cannot read back $S3_PREFIX/$name"
  [ "$stored" = "$size" ] || die "stored size $stored differs from $size"
  # the .sha256 goes last: a backup with its .sha256 is complete
  s3 s3 cp --only-show-errors "$file.sha256" "s3://$S3_BUCKET/$S3_PREFIX/$name.sha256"
  log "uploaded $S3_PREFIX/$name and $name.sha256"
  cmd_prune
}

cmd_prune() {
  require_s3
  [[ $RETENTION_DAYS =~ ^[0-9]+$ ]] && [ "$RETENTION_DAYS" -ge 1 ] ||
    die "RETENTION_DAYS must be a whole number of days, at least 1 (got '$RETENTION_DAYS')"
  [[ $KEEP_LAST =~ ^[0-9]+$ ]] && [ "$KEEP_LAST" -ge 1 ] ||
    die "KEEP_LAST must be at least 1 (got '$KEEP_LAST')"
  local now cutoff listing epoch complete key index=0 deleted=0 kept=0
  now=$(date -u +%s)
  cutoff=$((now - RETENTION_DAYS * 86400))
  listing=$(list_backups) || exit 1
  # KEEP_LAST counts complete backups only: an unfinished upload (no .sha256) cannot be
  # restored, so it never takes the place of one that can; it goes by its age alone.
  while IFS=$'\t' read -r epoch complete key; do
    [ -n "$key" ] || continue
    if [ "$complete" = 1 ]; then
      index=$((index + 1))
      if [ "$index" -le "$KEEP_LAST" ]; then
        kept=$((kept + 1))
        continue
      fi
    fi
    if [ "$epoch" -ge "$cutoff" ]; then
      kept=$((kept + 1))
      continue
    fi
    if [ "$complete" = 1 ]; then
      log "retention: deleting $key (older than $RETENTION_DAYS days)"
    else
      log "retention: deleting $key (an unfinished upload older than $RETENTION_DAYS days)"
    fi
    s3 s3api delete-object --bucket "$S3_BUCKET" --key "$key.sha256" >/dev/null
    s3 s3api delete-object --bucket "$S3_BUCKET" --key "$key" >/dev/null
    deleted=$((deleted + 1))
  done <<<"$listing"
  log "retention: kept $kept backup(s), deleted $deleted (keep the newest $KEEP_LAST, delete older than $RETENTION_DAYS days)"
}

cmd_fetch() {
  require_s3
  local wanted=${RESTORE_KEY:-latest} key="" epoch complete candidate listing
  if [ "$wanted" = "latest" ]; then
    listing=$(list_backups) || exit 1
    while IFS=$'\t' read -r epoch complete candidate; do
      [ -n "$candidate" ] || continue
      if [ "$complete" = 1 ]; then
        key=$candidate
        break
      fi
      log "skipping $candidate: it has no .sha256 (an unfinished upload)"
    done <<<"$listing"
    [ -n "$key" ] || die "no complete backup under s3://$S3_BUCKET/$S3_PREFIX/"
  else
    case "$wanted" in
      */*) key=$wanted ;;
      *) key="$S3_PREFIX/$wanted" ;;
    esac
  fi
  mkdir -p "$BACKUP_DIR"
  rm -f "$BACKUP_DIR"/*.dump "$BACKUP_DIR"/*.dump.sha256
  local name
  name=$(basename "$key")
  case "$name" in *.dump) ;; *) die "$key is not a .dump backup" ;; esac
  log "fetching s3://$S3_BUCKET/$key"
  s3 s3 cp --only-show-errors "s3://$S3_BUCKET/$key" "$BACKUP_DIR/$name"
  s3 s3 cp --only-show-errors "s3://$S3_BUCKET/$key.sha256" "$BACKUP_DIR/$name.sha256"
  check_sha "$BACKUP_DIR/$name"
  log "fetched $key ($(wc -c <"$BACKUP_DIR/$name") bytes), sha256 verified"
}

cmd_restore() {
  conn_args
  local dumps=("$BACKUP_DIR"/*.dump)
  [ "${#dumps[@]}" -eq 1 ] || die "expected one fetched dump in $BACKUP_DIR, found ${#dumps[@]}"
  local file=${dumps[0]}
  check_sha "$file"
  check_dump "$file"
  log "restoring $(basename "$file") (one transaction: on any error nothing changes)"
  pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction \
    "${CONN[@]}" "$file" || die "pg_restore failed; the database is unchanged"
  log "restored $(basename "$file")"
}

case "${1:-}" in
  dump) cmd_dump ;;
  upload) cmd_upload ;;
  prune) cmd_prune ;;
  fetch) cmd_fetch ;;
  restore) cmd_restore ;;
  *)
    echo "usage: $0 dump|upload|prune|fetch|restore" >&2
    exit 2
    ;;
esac
