#!/usr/bin/env bash
# /auth/verify with X-Auth-Assertion off and on: scripts/bench-ab.sh pairs of
# one release build run two ways, side by side:
#   off  assertion.enabled = false (the default)
#   on   assertion.enabled = true, audience fixed (every request gets an
#        assertion: the kept one, signed again each 45 s)
#
# Usage: bash scripts/bench-assertion.sh
# Environment: bench-ab.sh's own (PAIRS, PAIR_DURATION, CONNECTIONS, PIN).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

log "building the release binary"
cargo build --release </dev/null
tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-assertion.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp target/release/sealgate "$tmp/sealgate"
SEALGATE__ASSERTION__KEYS_PATH="$tmp/assertion.jwks.json" "$tmp/sealgate" --config config/sealgate.toml \
    assertion-keys generate >&2 </dev/null

printf '#!/bin/sh\nexec env SEALGATE__ASSERTION__ENABLED=false %s "$@"\n' "$tmp/sealgate" >"$tmp/off"
printf '#!/bin/sh\nexec env SEALGATE__ASSERTION__ENABLED=true SEALGATE__ASSERTION__AUDIENCE=app.example.com SEALGATE__ASSERTION__KEYS_PATH=%s %s "$@"\n' \
    "$tmp/assertion.jwks.json" "$tmp/sealgate" >"$tmp/on"
chmod +x "$tmp/off" "$tmp/on"
bash scripts/bench-ab.sh "$tmp/off" "$tmp/on"
