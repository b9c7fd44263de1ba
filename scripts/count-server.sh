#!/usr/bin/env bash
# Instructions per request in the real server, by function: /auth/verify
# with a valid ~1.5 KB session cookie next to /healthz.
#
# scripts/count-verify.sh counts the app in-process (middleware, routing,
# extractors, handler). This one runs the release binary itself under
# callgrind, one worker, so the HTTP/1 parser and encoder, the runtime and
# libc are in the figures too (the kernel is not). A small client sends
# the requests one at a time over keep-alive connections. Each endpoint is
# counted twice (FEW and MANY requests) and subtracted, so start-up drops
# out. Prints the total per request and the functions whose cost differs
# most between the two endpoints (self cost, not inclusive). The floor
# (examples/verify_floor.rs: a bare actix-web /auth/verify that sends the
# same identity headers as static values) is counted the same way, so the
# cost of carrying the cookie and sending the headers shows apart from
# sealgate's own work.
#
# With LINES=1, callgrind also simulates a tiny cache (2 KB, 2-way, for
# code and for data) and the totals show the cache lines each request
# touches: misses in a cache that small approach the number of distinct
# lines a request reads and writes. Under load the kernel and wrk run
# between two requests of a worker and evict most of L1, so a request pays
# for every line it touches, not only for its instructions.
#
# Installs valgrind with apt-get when missing. Needs python3. Needs no input.
# Usage: bash scripts/count-server.sh
# Environment (defaults): FEW (500), MANY (2500), TOP (30), PORT (a free port), LINES (0),
#   KEEP (unset: a directory to copy the callgrind profiles to, for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."

FEW="${FEW:-500}"
MANY="${MANY:-2500}"
TOP="${TOP:-30}"
LINES="${LINES:-0}"
KEEP="${KEEP:-}"
simulate=()
if [ "$LINES" = 1 ]; then
    simulate=(--simulate-cache=yes --I1=2048,2,64 --D1=2048,2,64 --LL=1048576,16,64)
fi
BIN=target/release/sealgate
CONFIG=config/sealgate.toml

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

command -v python3 >/dev/null || die "python3 is needed"
command -v callgrind_annotate >/dev/null || apt_install valgrind

log "building the release binary and the floor server"
cargo build --release </dev/null
cargo build --release --example verify_floor </dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-count-server.XXXXXX")"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp "$tmp"/*healthz.* "$tmp"/*verify.* "$KEEP"/ 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

PORT="${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
export SEALGATE__KEYS__PATH="$tmp/keys.json"
export SEALGATE__SERVER__PUBLIC_URL="http://127.0.0.1:$PORT"
export SEALGATE__SERVER__WORKERS=1
export WORKERS=1 # the floor's
export SEALGATE__LOG__LEVEL=warn
unset RUST_LOG RUST_BACKTRACE RUST_LIB_BACKTRACE SEALGATE_CONFIG

"$BIN" --config "$CONFIG" keygen >&2 </dev/null
# The same session as scripts/bench-verify.sh: ~1.5 KB, mostly sealed provider tokens.
access_token="bench-access-token-$(head -c 232 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$BIN" --config "$CONFIG" session mint --user bench-user --email bench@example.com --name "Bench User" \
    --groups admins,staff --access-token "$access_token" --token-ttl 86400 </dev/null >"$tmp/cookie"
log "session cookie: $(wc -c <"$tmp/cookie") bytes"

cat >"$tmp/client.py" <<'EOF'
import http.client, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"Cookie": open(sys.argv[4]).read().strip()} if len(sys.argv) > 4 else {}
connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(4)]
for i in range(n):
    c = connections[i % len(connections)]
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{path} answered {r.status}")
EOF

# count <label> <requests> <path> [cookie file]: the server under callgrind
# serves that many requests, then stops (SIGINT dumps the profile). Labels
# starting with "floor" run the floor server instead of sealgate.
count() {
    local label="$1" n="$2" path="$3" cookie_file="${4:-}" server
    case "$label" in
        floor*) server=(target/release/examples/verify_floor "127.0.0.1:$PORT") ;;
        *) server=("$BIN" --config "$CONFIG" serve --listen "127.0.0.1:$PORT") ;;
    esac
    valgrind --tool=callgrind ${simulate[@]+"${simulate[@]}"} --callgrind-out-file="$tmp/$label.$n" "${server[@]}" </dev/null >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        python3 "$tmp/client.py" "$PORT" 1 /healthz 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "the server exited"; }
        sleep 0.2
    done
    python3 "$tmp/client.py" "$PORT" "$n" "$path" ${cookie_file:+"$cookie_file"}
    kill -INT "$server_pid"
    wait "$server_pid" || true
    server_pid=""
}

for n in "$FEW" "$MANY"; do
    log "healthz: $n requests under callgrind"
    count healthz "$n" /healthz
    log "verify: $n requests under callgrind"
    count verify "$n" /auth/verify "$tmp/cookie"
    log "the floor's healthz and verify: $n requests each under callgrind"
    count floor-healthz "$n" /healthz
    count floor-verify "$n" /auth/verify "$tmp/cookie"
done

python3 - "$tmp" "$FEW" "$MANY" "$TOP" "$LINES" <<'EOF'
import collections, re, subprocess, sys
tmp, few, many, top, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"

def totals(path):
    """Per event, the whole program's count (Ir, and the cache misses when simulated)."""
    out = subprocess.run(["callgrind_annotate", path], capture_output=True, text=True, check=True).stdout
    events = next(l for l in out.splitlines() if l.startswith("Events shown:")).split(":")[1].split()
    total = next(l for l in out.splitlines() if "PROGRAM TOTALS" in l)
    return dict(zip(events, (int(n.replace(",", "")) for n in re.findall(r"([\d,]+) \(", total))))

LINE_EVENTS = ("I1mr", "D1mr", "D1mw")

def functions(path, events=("Ir",)):
    """Per function, its self cost: the sum of `events`."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", f"--show={','.join(events)}", "--threshold=100",
                          path], capture_output=True, text=True, check=True).stdout
    costs = collections.Counter()
    for line in out.splitlines():
        # One column per event: a count, with its share in parentheses unless it is 0.
        counts, rest = [], line
        for _ in events:
            m = re.match(r"\s*([\d,]+)(?:\s+\([^)]*\))?(?=\s)", rest)
            if not m:
                break
            counts.append(int(m.group(1).replace(",", "")))
            rest = rest[m.end():]
        if len(counts) == len(events) and rest.strip():
            name = re.sub(r"\s*\[[^\]]*\]$", "", rest.strip()).removeprefix("???:")
            costs[name] += sum(counts)
    return costs

def per_request(label, events=("Ir",)):
    a, b = functions(f"{tmp}/{label}.{few}", events), functions(f"{tmp}/{label}.{many}", events)
    return {k: (b[k] - a[k]) / (many - few) for k in set(a) | set(b)}

h, v = per_request("healthz"), per_request("verify")
fh, fv = per_request("floor-healthz"), per_request("floor-verify")
total = "PROGRAM TOTALS"
print(f"instructions per request (user space, whole server, 1 worker; {many} - {few} requests)")
print(f"{'':16} {'sealgate':>9} {'floor':>9}")
print(f"  /healthz       {h.pop(total, 0):9.0f} {fh.get(total, 0):9.0f}")
print(f"  /auth/verify   {v.pop(total, 0):9.0f} {fv.pop(total, 0):9.0f}")

def table(title, base, other, base_name, other_name):
    print()
    print(title)
    print(f"{'difference':>14} {base_name:>8} {other_name:>8}  function (self cost)")
    for k in sorted(set(base) | set(other), key=lambda k: -(other.get(k, 0) - base.get(k, 0)))[:top]:
        print(f"{other.get(k, 0) - base.get(k, 0):14.0f} {base.get(k, 0):8.0f} {other.get(k, 0):8.0f}  {k[:110]}")

if lines:
    print()
    print("cache lines touched per request (misses in a 2 KB cache: code, data read, data written)")
    print(f"{'':16} {'sealgate':>9} {'floor':>9}")
    for path, labels in (("/healthz", ("healthz", "floor-healthz")), ("/auth/verify", ("verify", "floor-verify"))):
        counts = []
        for label in labels:
            a, b = totals(f"{tmp}/{label}.{few}"), totals(f"{tmp}/{label}.{many}")
            counts.append(sum(b[e] - a[e] for e in ("I1mr", "D1mr", "D1mw")) / (many - few))
        print(f"  {path:14} {counts[0]:9.0f} {counts[1]:9.0f}")

table("sealgate: /auth/verify against /healthz", h, v, "healthz", "verify")
table("/auth/verify: sealgate against the floor (sealgate's own work)", fv, v, "floor", "sealgate")
if lines:
    lv, lfv = per_request("verify", LINE_EVENTS), per_request("floor-verify", LINE_EVENTS)
    lv.pop(total, None), lfv.pop(total, None)
    table("/auth/verify, cache lines touched: sealgate against the floor", lfv, lv, "floor", "sealgate")
EOF
