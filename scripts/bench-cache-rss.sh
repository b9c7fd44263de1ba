#!/usr/bin/env bash
# The open-cache in resident memory: what N distinct sessions cost, and
# whether session.cache_bytes bounds it.
#
# Builds the release binary and the filler (examples/fill_cache.rs), and for
# each N in COUNTS starts a fresh sealgate on 127.0.0.1 with a throwaway key
# set, reads its VmRSS, sends N distinct valid session cookies (minted with
# the same keys) once each to /auth/verify, which opens each and keeps it in
# the open-cache, then reads the cache's entries and weight from /metrics,
# VmRSS and VmHWM again, and stops it. Prints a table: RSS before and after,
# the growth per cached entry against the weight per entry, and whether the
# growth stayed within session.cache_bytes. RSS is not a timing figure, so a
# busy machine does not change it much (the allocator does what it does).
#
# Usage: bash scripts/bench-cache-rss.sh
# Environment (defaults): COUNTS ("10000 100000 1000000"), CACHE_BYTES (67108864: session.cache_bytes'
#   default, 64 MiB; set it high, e.g. 4294967296, to see what every entry costs
#   when none is evicted), SHAPE (plain; tokens adds a 500-byte provider access token to each session),
#   KIND (sessions; refusals sends forged cookies, which the cache keeps as final refusals),
#   CONNECTIONS (32 requests in flight), PORT (a free port), PROFILE (release; debug measures the debug
#   build, whose heap is the same: what an entry allocates does not depend on optimisation).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNTS="${COUNTS:-10000 100000 1000000}"
CONNECTIONS="${CONNECTIONS:-32}"
PROFILE="${PROFILE:-release}"
BIN="target/$PROFILE/sealgate"
FILL="target/$PROFILE/examples/fill_cache"
CONFIG=config/sealgate.toml

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

profile=(--release)
[ "$PROFILE" = release ] || profile=(--profile "$PROFILE")
[ "$PROFILE" != debug ] || profile=()
log "building the $PROFILE binary and the filler"
# One build of both, so the dependencies are built with one set of features.
cargo build "${profile[@]}" --bin sealgate --example fill_cache </dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-cache-rss.XXXXXX")"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
cleanup() {
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${PORT:-}" ]; then
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
base="http://127.0.0.1:$PORT"
if curl -s -o /dev/null --max-time 1 "$base/"; then
    die "something already answers on 127.0.0.1:$PORT; set PORT to a free port"
fi

# The repo's config, but the key set and the store in $tmp, quiet logs, and
# no backtraces (see bench-verify.sh). The filler reads the same environment,
# so it seals with the server's keys.
export SEALGATE__KEYS__PATH="$tmp/keys.json"
export SEALGATE__STORE__PATH="$tmp/sealgate.db"
export SEALGATE__SERVER__PUBLIC_URL="$base"
export SEALGATE__LOG__LEVEL=warn
export SEALGATE__LOG__ACCESS=off
# The default session.cache_bytes (64 MiB), unless CACHE_BYTES says otherwise.
cache_bytes="${CACHE_BYTES:-67108864}"
export SEALGATE__SESSION__CACHE_BYTES="$cache_bytes"
unset RUST_LOG RUST_BACKTRACE RUST_LIB_BACKTRACE SEALGATE_CONFIG

log "creating a key set in $tmp"
"$BIN" --config "$CONFIG" keygen >&2 </dev/null

# The filler seals with the server's keys; it needs no store of its own.
fill() { SEALGATE__STORE__KIND=none "$FILL" "$CONFIG" "$base" "$@" </dev/null; }
# kB of a /proc/PID/status field.
status_kb() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$server_pid/status"; }
metric() { curl -fs --max-time 10 "$base/metrics" | awk -v name="$1" '$1 == name { print $2 }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

rows=()
for count in $COUNTS; do
    log "N=$count: starting sealgate on 127.0.0.1:$PORT (session.cache_bytes = $cache_bytes)"
    "$BIN" --config "$CONFIG" serve --listen "127.0.0.1:$PORT" </dev/null >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null --max-time 1 "$base/healthz" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "sealgate exited before answering /healthz"; }
        sleep 0.1
    done
    curl -fs -o /dev/null --max-time 1 "$base/healthz" || { cat "$tmp/server.log" >&2; die "/healthz never answered"; }
    # One verify and one scrape first, so what runs once (the first answer's
    # and the registry's allocations) is in the figure before.
    fill 1 1 >/dev/null || die "the first session was not accepted"
    metric sealgate_open_cache_entries >/dev/null
    sleep 1
    before="$(status_kb VmRSS)"

    log "N=$count: sending $count distinct ${KIND:-sessions} (${SHAPE:-plain}), $CONNECTIONS in flight"
    started="$(date +%s)"
    answers="$(fill "$count" "$CONNECTIONS")" || die "N=$count: not every answer was as expected: $answers"
    took="$(($(date +%s) - started))"
    sleep 1
    entries="$(metric sealgate_open_cache_entries)"
    weight="$(metric sealgate_open_cache_bytes)"
    after="$(status_kb VmRSS)"
    peak="$(status_kb VmHWM)"
    stop_server
    log "N=$count: $answers in ${took}s; $entries entries weighing $weight bytes; VmRSS $before -> $after kB (peak $peak kB)"

    growth_kb=$((after - before))
    per_entry="$(awk -v g="$growth_kb" -v e="$entries" 'BEGIN { printf "%.0f", (e > 0 ? g * 1024 / e : 0) }')"
    weight_per_entry="$(awk -v w="$weight" -v e="$entries" 'BEGIN { printf "%.0f", (e > 0 ? w / e : 0) }')"
    holds="$(awk -v g="$growth_kb" -v p="$peak" -v b="$before" -v c="$cache_bytes" \
        'BEGIN { print (g * 1024 <= c && (p - b) * 1024 <= c ? "yes" : "NO") }')"
    rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$count" "$entries" \
        "$(awk -v w="$weight" 'BEGIN { printf "%.1f", w / 1048576 }')" "$(mib "$before")" "$(mib "$after")" \
        "$(mib "$peak")" "$(mib "$growth_kb")" "$per_entry" "$weight_per_entry" "$holds")")
done

echo
echo "session.cache_bytes = $cache_bytes ($(awk -v c="$cache_bytes" 'BEGIN { printf "%.0f", c / 1048576 }') MiB)," \
    "${KIND:-sessions}, shape ${SHAPE:-plain}, $CONNECTIONS in flight, sealgate on 127.0.0.1:$PORT"
echo "| sessions sent | cached | weight MiB | RSS before MiB | RSS after MiB | VmHWM MiB | growth MiB | growth B/entry | weight B/entry | within cache_bytes |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
