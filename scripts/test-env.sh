#!/usr/bin/env bash
# test-env.sh - bring up the real Redmine for syncd's tests and demo, provision it, and write
# the env file the pytest fixtures read.  Idempotent; about a second when all is already done.
#
# usage: scripts/test-env.sh          (as root: redmine-up.sh installs Debian's redmine and
#        scripts/test-env.sh stop      runs it as www-data on 127.0.0.1)
#
# Environment:
#   REDMINE_PORT=3000                    port of the server on 127.0.0.1
#   REDMINE_DATADIR=/var/lib/syncd-redmine  the instance's data (sqlite db, logs, runner)
#   SYNCD_REDMINE_ENV=<repo>/var/redmine.env  where to write the env file
#
# Writes (mode 0600; chowned to $SUDO_USER under sudo):
#   var/redmine.env             REDMINE_URL REDMINE_API_KEY REDMINE_DATADIR REDMINE_RUNNER
#                               REDMINE_TICKET_FIELD_ID REDMINE_BILLABLE_FIELD_ID
#   var/redmine-provision.json  the ids printed by scripts/redmine-provision.rb (named after
#                               the env file: <env without .env>-provision.json)
# and prints the env file's lines on stdout (eval-able); progress goes to stderr.
#
# Provisioning (scripts/redmine-provision.rb, ~3 s of rails runner) is skipped when the
# instance was provisioned by the same script before (stamp DATADIR/syncd-provision.json)
# and a REST check confirms the result is still there.
set -Eeuo pipefail

PROG=test-env
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${REDMINE_PORT:-3000}
DATADIR=${REDMINE_DATADIR:-/var/lib/syncd-redmine}
ENV_OUT=${SYNCD_REDMINE_ENV:-$ROOT/var/redmine.env}
PROVISION_RB=$ROOT/scripts/redmine-provision.rb
UP=$ROOT/scripts/redmine-up.sh

log() { printf '[%s] %s\n' "$PROG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
trap 'die "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

[ "$(id -u)" = 0 ] || die "must run as root (try: sudo $0, or make redmine)"
command -v python3 >/dev/null || die "python3 is needed"

if [ "${1:-}" = stop ]; then
  exec bash "$UP" stop "$DATADIR"
fi
[ $# -eq 0 ] || die "usage: $0 [stop]"

# ---------------------------------------------------------------- 1. server
UP_OUT=$(bash "$UP" "$PORT" "$DATADIR") || die "redmine-up.sh failed (see its messages above)"
field() { sed -n "s/^$1=//p" <<<"$UP_OUT" | tail -n1; }
URL=$(field REDMINE_URL)
KEY=$(field REDMINE_API_KEY)
DATADIR=$(field REDMINE_DATADIR)
RUNNER=$DATADIR/redmine-runner
[ -n "$URL" ] && [ -n "$KEY" ] && [ -x "$RUNNER" ] || die "unexpected redmine-up.sh output: $UP_OUT"

# ---------------------------------------------------------------- 2. provisioning
STAMP=$DATADIR/syncd-provision.json
SCRIPT_SHA=$(sha256sum "$PROVISION_RB" | cut -d' ' -f1)

# Does the server still show what the stamp says? Prints the ids JSON when it does.
check_stamp() {
  [ -s "$STAMP" ] || return 1
  python3 - "$STAMP" "$SCRIPT_SHA" "$URL" "$KEY" <<'PY'
import json
import sys
import urllib.request

stamp_path, sha, url, key = sys.argv[1:]
stamp = json.load(open(stamp_path))
if stamp.get("script_sha256") != sha:
    sys.exit(1)
ids = stamp["ids"]


def get(path, auth=True):
    req = urllib.request.Request(url + path)
    if auth:
        req.add_header("X-Redmine-API-Key", key)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


fields = {f["id"]: f for f in get("/custom_fields.json")["custom_fields"]}
ticket = fields.get(ids["ticket_field_id"], {})
billable = fields.get(ids["billable_field_id"], {})
ok = (
    ticket.get("name") == "Zendesk ticket"
    and ticket.get("is_filter")
    and billable.get("name") == "Billable"
    and billable.get("customized_type") == "time_entry"
)
acts = get("/enumerations/time_entry_activities.json")["time_entry_activities"]
ok = ok and {a["name"]: a["id"] for a in acts} == ids["activities"]
get("/projects.json?limit=1", auth=False)  # 401 (raises) if login_required came back
if not ok:
    sys.exit(1)
print(json.dumps(ids, separators=(",", ":")))
PY
}

# Serialise provisioning between concurrent callers (two `make test` at once).
mkdir -p /run/lock
exec 8>"/run/lock/syncd-provision-$(printf '%s' "$DATADIR" | sha1sum | cut -c1-10).lock"
flock -w 300 8 || die "another provisioning run holds the lock"

if IDS=$(check_stamp 2>/dev/null); then
  log "already provisioned (stamp $STAMP verified over REST)"
else
  log "provisioning $URL with scripts/redmine-provision.rb"
  IDS=$("$RUNNER" - <"$PROVISION_RB" | tail -n1) || die "redmine-provision.rb failed"
  python3 - "$STAMP" "$SCRIPT_SHA" "$IDS" <<'PY' || die "provisioning printed no JSON: $IDS"
import json
import os
import sys

path, sha, ids = sys.argv[1:]
ids = json.loads(ids)
assert isinstance(ids.get("ticket_field_id"), int), ids
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump({"script_sha256": sha, "ids": ids}, f, indent=1)
os.replace(tmp, path)
PY
  IDS=$(check_stamp) || die "REST check after provisioning failed (ids: $IDS)"
fi
exec 8>&-
log "ids: $IDS"

# ---------------------------------------------------------------- 3. env file
jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$IDS" "$1"; }
TICKET_FIELD_ID=$(jget ticket_field_id)
BILLABLE_FIELD_ID=$(jget billable_field_id)

OUT_DIR=$(dirname "$ENV_OUT")
mkdir -p "$OUT_DIR"
write_file() {   # write stdin to $1 atomically with mode $2
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then chown "$SUDO_USER:" "$tmp"; fi
  mv -f "$tmp" "$1"
}
ENV_BODY="REDMINE_URL=$URL
REDMINE_API_KEY=$KEY
REDMINE_DATADIR=$DATADIR
REDMINE_RUNNER=$RUNNER
REDMINE_TICKET_FIELD_ID=$TICKET_FIELD_ID
REDMINE_BILLABLE_FIELD_ID=$BILLABLE_FIELD_ID"
write_file "$ENV_OUT" 0600 <<<"# written by scripts/test-env.sh; read by tests/conftest.py
$ENV_BODY"
# Beside the env file, named after it: var/redmine.env -> var/redmine-provision.json, so a
# second instance (SYNCD_REDMINE_ENV=var/redmine-bench.env) never overwrites the tests' ids.
write_file "${ENV_OUT%.env}-provision.json" 0644 <<<"$IDS"
log "wrote $ENV_OUT"
printf '%s\n' "$ENV_BODY"
