#!/usr/bin/env bash
# /auth/verify with and without revocation: scripts/bench-ab.sh pairs of one
# release build run three ways, side by side:
#   none  store.kind = "none" (nothing revoked, no view consulted)
#   empty the local store, an empty revocation view
#   100k  the local store holding REVOKED revoked session ids (default
#         100,000) and USERS per-user "signed out before" marks (1,000)
# The cookie benchmarked is valid in all three, so every request of the two
# store runs pays the view's lookups and finds nothing.
#
# Usage: bash scripts/bench-revocation.sh
# Environment: REVOKED (100000), USERS (1000), and bench-ab.sh's own (PAIRS,
#   PAIR_DURATION, CONNECTIONS, PIN).
set -euo pipefail
cd "$(dirname "$0")/.."

REVOKED="${REVOKED:-100000}"
USERS="${USERS:-1000}"

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
command -v python3 >/dev/null || apt_install python3
command -v curl >/dev/null || apt_install curl

log "building the release binary"
cargo build --release </dev/null
tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-revocation.XXXXXX")"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
cp target/release/sealgate "$tmp/sealgate"

# The store file is created, with sealgate's own schema, by one real
# sign-out; then the revocations are added to it directly.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SEALGATE__KEYS__PATH="$tmp/keys.json" SEALGATE__LOG__LEVEL=warn
SEALGATE__STORE__PATH="$tmp/100k.db" "$tmp/sealgate" --config config/sealgate.toml keygen >&2 </dev/null
SEALGATE__STORE__PATH="$tmp/100k.db" "$tmp/sealgate" --config config/sealgate.toml serve --listen "127.0.0.1:$port" \
    </dev/null >"$tmp/seed.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
jar="$tmp/jar"
curl -fs -o /dev/null -c "$jar" -d 'username=demo&password=demo' "http://127.0.0.1:$port/auth/signin/credentials"
curl -fs -o /dev/null -b "$jar" -X POST "http://127.0.0.1:$port/auth/signout"
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
python3 - "$tmp/100k.db" "$REVOKED" "$USERS" <<'PY'
import secrets, sqlite3, sys, time
path, revoked, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
until = int(time.time()) + 30 * 86400
db = sqlite3.connect(path)
db.executemany("INSERT INTO revocations (kind, subject, before, until) VALUES ('session', ?, 0, ?)",
               ((secrets.token_urlsafe(16), until) for _ in range(revoked)))
db.executemany("INSERT INTO revocations (kind, subject, before, until) VALUES ('user', ?, ?, ?)",
               ((f"user-{i}", int(time.time()), until) for i in range(users)))
db.commit()
print(f"seeded: {db.execute('SELECT COUNT(*) FROM revocations').fetchone()[0]} revocations", file=sys.stderr)
PY

# One wrapper per way, so bench-ab.sh starts each with its own store.
for way in none empty 100k; do
    case "$way" in
        none) store="SEALGATE__STORE__KIND=none" ;;
        *) store="SEALGATE__STORE__PATH=$tmp/$way.db" ;;
    esac
    printf '#!/bin/sh\nexec env %s %s "$@"\n' "$store" "$tmp/sealgate" >"$tmp/$way"
    chmod +x "$tmp/$way"
done
bash scripts/bench-ab.sh "$tmp/none" "$tmp/empty" "$tmp/100k"
