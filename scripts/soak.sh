#!/usr/bin/env bash
# Soak test: DURATION seconds of mixed traffic against a release build on
# 127.0.0.1, sampling the server's RSS every SAMPLE seconds, to show memory
# stays bounded. The traffic (scripts/soak_traffic.py, Python's standard
# library only) mixes valid, garbage and chunked session cookies, valid and
# garbage Bearer tokens, sign-ins (then a verify and a sign-out with the new
# session) and failed sign-ins; every answer's status is checked.
#
# Builds the release binary, starts it with a throwaway key set, mints a
# session, a chunked session and an API token, runs the traffic, stops the
# server. The first FILL seconds send only new forged (well-formed) cookies
# and API tokens, which fill the bounded refused-token caches to their caps
# (64 MiB for sessions, 16 MiB for API tokens) within the warm-up; without
# that, the mixed traffic alone takes longer than the run to fill them. Prints the RSS samples (seconds, KiB) and a verdict.
# Exits non-zero when an answer was unexpected (a 5xx included), the server
# died, or RSS kept growing after the warm-up: the last third of the
# post-warm-up samples peaking more than MAX_GROWTH_KIB above the first
# third's peak. Hard stop: the traffic is killed DURATION + 60 s after it
# starts, whatever happens, and the server is stopped on any exit.
#
# Usage: bash scripts/soak.sh
# Environment (defaults): DURATION (600), SAMPLE (10), WARMUP (120), FILL (60), THREADS (4),
#   MAX_GROWTH_KIB (4096), PORT (a free port), OUT (a file to copy the samples to),
#   SOAK_KINDS (only these kinds of request, comma-separated: see scripts/soak_traffic.py).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-600}"
SAMPLE="${SAMPLE:-10}"
WARMUP="${WARMUP:-120}"
FILL="${FILL:-60}"
THREADS="${THREADS:-4}"
MAX_GROWTH_KIB="${MAX_GROWTH_KIB:-4096}"
BIN=target/release/sealgate
CONFIG=config/sealgate.toml

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

command -v curl >/dev/null || apt_install curl
command -v python3 >/dev/null || apt_install python3

log "building the release binary"
cargo build --release </dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-soak.XXXXXX")"
server_pid="" traffic_pid=""
cleanup() {
    [ -n "$traffic_pid" ] && kill "$traffic_pid" 2>/dev/null || true
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
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

# The repo's config, with a fresh key set and state store, this address,
# quiet logs, and failure limits the failed sign-ins cannot reach (they all
# come from 127.0.0.1, and would otherwise lock out the good sign-ins too;
# each of their 1,000 names fails many times, and every failure must still
# run a password check, the path whose memory is judged).
export SEALGATE__KEYS__PATH="$tmp/keys.json"
export SEALGATE__STORE__PATH="$tmp/store.db"
export SEALGATE__CREDENTIALS__MAX_FAILURES_PER_USER=1000000000
export SEALGATE__SERVER__PUBLIC_URL="$base"
export SEALGATE__LOG__LEVEL=error
export SEALGATE__CREDENTIALS__MAX_FAILURES_PER_CLIENT=1000000000
unset RUST_LOG RUST_BACKTRACE RUST_LIB_BACKTRACE SEALGATE_CONFIG

"$BIN" --config "$CONFIG" keygen >&2 </dev/null
log "starting sealgate on 127.0.0.1:$PORT"
"$BIN" --config "$CONFIG" serve --listen "127.0.0.1:$PORT" </dev/null >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs -o /dev/null --max-time 1 "$base/healthz" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "sealgate exited before answering /healthz"; }
    sleep 0.1
done
curl -fs -o /dev/null --max-time 1 "$base/healthz" || { cat "$tmp/server.log" >&2; die "/healthz never answered"; }

mint() { "$BIN" --config "$CONFIG" session mint --user soak-user --email soak@example.com "$@" </dev/null; }
SOAK_COOKIE="$(mint --groups staff)"
# 200 groups of 27 bytes: a session of about 7 KB, so two chunks of 3800.
groups="$(printf 'engineering-platform-team-%03d,' $(seq 1 200))"
SOAK_CHUNKED_COOKIE="$(mint --groups "${groups%,}")"
case "$SOAK_CHUNKED_COOKIE" in *_2=*) ;; *) die "the large session was not split into chunks" ;; esac
SOAK_API_TOKEN="$("$BIN" --config "$CONFIG" token mint --user soak-bot --name soak --ttl 86400 2>/dev/null </dev/null)"
export SOAK_COOKIE SOAK_CHUNKED_COOKIE SOAK_API_TOKEN
for header in "Cookie: $SOAK_COOKIE" "Cookie: $SOAK_CHUNKED_COOKIE" "Authorization: Bearer $SOAK_API_TOKEN"; do
    status="$(curl -s -o /dev/null --max-time 5 -H "$header" -w '%{http_code}' "$base/auth/verify")"
    [ "$status" = 200 ] || die "/auth/verify answered $status to a valid credential (${header%%:*})"
done

log "soaking for ${DURATION}s with $THREADS client threads; RSS every ${SAMPLE}s"
# The hard stop: whatever hangs, the traffic is killed DURATION + 60 s in
# (then the sampling ends, and the trap stops the server).
timeout --kill-after=10 $((DURATION + 60)) python3 scripts/soak_traffic.py "$base" "$DURATION" "$THREADS" "$FILL" \
    >"$tmp/traffic.json" 2>"$tmp/traffic.err" &
traffic_pid=$!

samples="$tmp/rss.tsv"
start=$SECONDS
while kill -0 "$traffic_pid" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || die "sealgate died during the soak: $(tail -5 "$tmp/server.log")"
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")"
    printf '%d\t%d\n' "$((SECONDS - start))" "$rss" | tee -a "$samples" >&2
    sleep "$SAMPLE"
done
traffic_ok=0
wait "$traffic_pid" || traffic_ok=$?
traffic_pid=""
kill -0 "$server_pid" 2>/dev/null || die "sealgate died during the soak: $(tail -5 "$tmp/server.log")"
printf '%d\t%d\n' "$((SECONDS - start))" "$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")" >>"$samples"
[ -n "${OUT:-}" ] && cp "$samples" "$OUT"

log "traffic: $(cat "$tmp/traffic.json")"
[ -s "$tmp/traffic.err" ] && cat "$tmp/traffic.err" >&2
if grep -qiE 'panick|error' "$tmp/server.log"; then
    log "server log has errors:"
    grep -iE 'panick|error' "$tmp/server.log" | head -5 >&2
    traffic_ok=1
fi

verdict=0
python3 - "$samples" "$WARMUP" "$MAX_GROWTH_KIB" <<'EOF' || verdict=$?
import sys
path, warmup, max_growth = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
samples = [tuple(map(int, line.split())) for line in open(path) if line.strip()]
after = [rss for t, rss in samples if t >= warmup]
if len(after) < 6:
    sys.exit(f"only {len(after)} samples after the {warmup:.0f}s warm-up: run longer")
third = len(after) // 3
first, last = max(after[:third]), max(after[-third:])
print(f"RSS: start {samples[0][1]} KiB, end of warm-up {after[0]} KiB, peak {max(after)} KiB, "
      f"peak of first third after warm-up {first} KiB, of last third {last} KiB ({last - first:+d} KiB)")
if last - first > max_growth:
    sys.exit(f"RSS kept growing after the warm-up: {last - first} KiB > {max_growth} KiB")
print("RSS is flat after the warm-up")
EOF
[ "$traffic_ok" -eq 0 ] || die "the traffic saw unexpected answers (see above)"
[ "$verdict" -eq 0 ] || die "memory did not stay bounded"
log "soak passed"
