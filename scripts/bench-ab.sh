#!/usr/bin/env bash
# A/B comparison of sealgate builds on the hot path: every binary given, and
# the floor (examples/verify_floor.rs), serve at once on loopback with the
# same key set and session. Each pair runs, on each server in turn,
# /healthz and /auth/verify (a valid ~1.5 KB cookie) for PAIR_DURATION each;
# the order of the servers, and of the two endpoints, alternates from pair
# to pair. Prints each server's median ratio, and each build's rates relative
# to the first build's within the same pairs: the machine drifts by ±20 %
# from minute to minute, so only comparisons inside one pair are sound.
#
# Build the variants first and copy each binary aside, e.g.
#   cargo build --release && cp target/release/sealgate /tmp/sealgate-a
# (the floor is built here). Installs wrk and curl when missing.
#
# Usage: bash scripts/bench-ab.sh BINARY...
# Environment (defaults): PAIRS (30), PAIR_DURATION (2s), CONNECTIONS (64),
#   PIN (0; 1 puts every server on CPU 1 with one worker, and wrk on CPU 0 with one thread),
#   CONFIG (config/sealgate.toml; give an older build's file when it cannot read the new keys),
#   FORMAT (sealed; nested-p256 or nested-x25519: every server seals and opens nested session cookies).
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS="${PAIRS:-30}"
PAIR_DURATION="${PAIR_DURATION:-2s}"
CONNECTIONS="${CONNECTIONS:-64}"
PIN="${PIN:-0}"
CONFIG="${CONFIG:-config/sealgate.toml}"

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

[ "$#" -ge 1 ] || die "usage: bash scripts/bench-ab.sh BINARY..."
for bin in "$@"; do
    [ -x "$bin" ] || die "$bin is not an executable"
done
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

server_pin=() wrk_pin=() threads=2
if [ "$PIN" = 1 ]; then
    command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
    server_pin=(taskset -c 1) wrk_pin=(taskset -c 0) threads=1
    export SEALGATE__SERVER__WORKERS=1 WORKERS=1
fi

log "building the floor server"
cargo build --release --example verify_floor </dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-ab.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# As scripts/bench-verify.sh: a fresh key set, no backtraces, quiet logs.
export SEALGATE__KEYS__PATH="$tmp/keys.json"
export SEALGATE__LOG__LEVEL=warn
unset RUST_LOG RUST_BACKTRACE RUST_LIB_BACKTRACE SEALGATE_CONFIG
"$1" --config "$CONFIG" keygen >&2 </dev/null
# FORMAT=nested-p256|nested-x25519: the session cookie in the nested format (README, "Session formats").
case "${FORMAT:-sealed}" in
    sealed) ;;
    nested-p256 | nested) "$1" --config "$CONFIG" keygen --alg ECDH-ES+A256KW --curve P-256 --sign ES256 >&2 </dev/null ;;
    nested-x25519) "$1" --config "$CONFIG" keygen --alg ECDH-ES+A256KW --curve X25519 --sign EdDSA >&2 </dev/null ;;
    *) die "FORMAT=$FORMAT: not sealed, nested-p256 (or nested) or nested-x25519" ;;
esac
[ "${FORMAT:-sealed}" = sealed ] || export SEALGATE__SESSION__FORMAT=nested
access_token="bench-access-token-$(head -c 232 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cookie="$("$1" --config "$CONFIG" session mint --user bench-user --email bench@example.com --name "Bench User" \
    --groups admins,staff --access-token "$access_token" --token-ttl 86400 </dev/null)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
names=() bases=()
for bin in "$@" floor; do
    port="$(free_port)"
    if [ "$bin" = floor ]; then
        "${server_pin[@]}" target/release/examples/verify_floor "127.0.0.1:$port" </dev/null >"$tmp/$port.log" 2>&1 &
    else
        "${server_pin[@]}" "$bin" --config "$CONFIG" serve --listen "127.0.0.1:$port" </dev/null >"$tmp/$port.log" 2>&1 &
    fi
    pids+=("$!") names+=("$bin") bases+=("http://127.0.0.1:$port")
done
for i in "${!bases[@]}"; do
    for _ in $(seq 1 100); do
        curl -fs -o /dev/null --max-time 1 "${bases[$i]}/healthz" && break
        sleep 0.1
    done
    status="$(curl -s -o /dev/null --max-time 5 -H "Cookie: $cookie" -w '%{http_code}' "${bases[$i]}/auth/verify")"
    [ "$status" = 200 ] || { cat "$tmp"/*.log >&2; die "${names[$i]}: /auth/verify answered $status"; }
done

rate() {
    "${wrk_pin[@]}" wrk -t"$threads" -c"$CONNECTIONS" -d"$PAIR_DURATION" "$@" </dev/null |
        awk '$1 == "Requests/sec:" { print $2 }'
}
n="${#bases[@]}"
results="$tmp/results" # pair server healthz verify
for pair in $(seq 1 "$PAIRS"); do
    log "pair $pair of $PAIRS"
    order="$(seq 0 $((n - 1)))"
    [ $((pair % 2)) -eq 0 ] && order="$(seq $((n - 1)) -1 0)"
    for i in $order; do
        if [ $((pair / 2 % 2)) -eq 0 ]; then
            h="$(rate "${bases[$i]}/healthz")" v="$(rate -H "Cookie: $cookie" "${bases[$i]}/auth/verify")"
        else
            v="$(rate -H "Cookie: $cookie" "${bases[$i]}/auth/verify")" h="$(rate "${bases[$i]}/healthz")"
        fi
        echo "$pair $i $h $v" >>"$results"
    done
done

echo
echo "$PAIRS pairs of /healthz and /auth/verify (valid), wrk -t$threads -c$CONNECTIONS -d$PAIR_DURATION each$([ "$PIN" = 1 ] && echo ", pinned")"
python3 - "$results" "${names[@]}" <<'EOF'
import collections, statistics, sys
names = sys.argv[2:]
rates = collections.defaultdict(dict)  # server -> pair -> (healthz, verify)
for line in open(sys.argv[1]):
    pair, server, h, v = line.split()
    rates[int(server)][int(pair)] = (float(h), float(v))
print(f"{'server':44} {'verify/healthz':>14} {'healthz':>9} {'verify':>9} {'healthz vs 1st':>15} {'verify vs 1st':>14}")
for i, name in enumerate(names):
    pairs = sorted(rates[i])
    ratio = statistics.median(rates[i][p][1] / rates[i][p][0] for p in pairs)
    h = statistics.median(rates[i][p][0] for p in pairs)
    v = statistics.median(rates[i][p][1] for p in pairs)
    vs = [statistics.median(rates[i][p][k] / rates[0][p][k] for p in pairs) for k in (0, 1)]
    print(f"{name[-44:]:44} {ratio:14.3f} {h:9.0f} {v:9.0f} {vs[0]:15.3f} {vs[1]:14.3f}")
EOF
