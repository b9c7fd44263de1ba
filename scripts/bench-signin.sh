#!/usr/bin/env bash
# Password sign-in under load: memory (VmRSS and VmHWM from /proc) and
# sign-ins per second of a release build.
#
# 1. A burst: BURST failed sign-ins (unknown usernames) sent at once, each on
#    its own connection.
# 2. SIGNINS successful sign-ins over CONNECTIONS keep-alive connections.
#
# After each, the server idles IDLE seconds and its RSS is read again: the
# memory argon2 used should be back with the system by then.
#
# Usage: bash scripts/bench-signin.sh [BINARY]   (default target/release/sealgate;
#   build it first with cargo build --release)
# Environment (defaults): BURST (200), SIGNINS (500), CONNECTIONS (8), IDLE (3),
#   QUEUE (unset: the configured credentials.verification_queue; a number
#   overrides it, e.g. QUEUE=1000 to check every request of the burst).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/release/sealgate}"
BURST="${BURST:-200}"
SIGNINS="${SIGNINS:-500}"
CONNECTIONS="${CONNECTIONS:-8}"
IDLE="${IDLE:-3}"
CONFIG=config/sealgate.toml

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

[ -x "$BIN" ] || die "$BIN is not an executable; run cargo build --release first"
command -v python3 >/dev/null || apt_install python3

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-signin.XXXXXX")"
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh key set, one user, quiet logs, and rate limits out of the way (the
# burst comes from one address).
export SEALGATE__KEYS__PATH="$tmp/keys.json"
export SEALGATE__LOG__LEVEL=warn
export SEALGATE__CREDENTIALS__USERS_FILE="$tmp/users.toml"
export SEALGATE__CREDENTIALS__MAX_FAILURES_PER_USER=1000000
export SEALGATE__CREDENTIALS__MAX_FAILURES_PER_CLIENT=1000000
if [ -n "${QUEUE:-}" ]; then
    export SEALGATE__CREDENTIALS__VERIFICATION_QUEUE="$QUEUE"
fi
unset RUST_LOG RUST_BACKTRACE RUST_LIB_BACKTRACE SEALGATE_CONFIG MALLOC_MMAP_THRESHOLD_ MALLOC_ARENA_MAX
"$BIN" --config "$CONFIG" keygen >&2 </dev/null
hash="$(printf '%s\n' 'bench password' | "$BIN" --config "$CONFIG" hash-password)"
printf '[[users]]\nusername = "bench"\npassword_hash = "%s"\n' "$hash" >"$tmp/users.toml"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$BIN" --config "$CONFIG" serve --listen "127.0.0.1:$port" </dev/null >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$tmp/server.log" >&2; die "the server did not start"; }
log "$BIN on port $port (pid $pid), $(nproc) cores; burst $BURST, then $SIGNINS sign-ins over $CONNECTIONS connections"

python3 - "$port" "$pid" "$BURST" "$SIGNINS" "$CONNECTIONS" "$IDLE" <<'EOF'
import collections, http.client, sys, threading, time, urllib.parse

port, pid, burst, signins, connections, idle = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])

def status(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # MiB

class Peak(threading.Thread):
    """The highest VmRSS seen, sampled every 10 ms."""
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = status("VmRSS"), True
    def run(self):
        while self.running:
            self.peak = max(self.peak, status("VmRSS"))
            time.sleep(0.01)
    def stop(self):
        self.running = False
        self.join()
        return max(self.peak, status("VmRSS"))

def sign_in(conn, username, password):
    body = urllib.parse.urlencode({"username": username, "password": password})
    conn.request("POST", "/auth/signin/credentials", body, {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    return response.status

def phase(name, run):
    before = status("VmRSS")
    peak = Peak()
    peak.start()
    started = time.monotonic()
    statuses = run()
    elapsed = time.monotonic() - started
    high = peak.stop()
    time.sleep(idle)
    after = status("VmRSS")
    counted = ", ".join(f"{code}: {n}" for code, n in sorted(collections.Counter(statuses).items()))
    print(f"{name}: {len(statuses)} requests in {elapsed:.2f} s ({counted}); "
          f"RSS before {before:.1f} MiB, peak {high:.1f} MiB, {idle} s after {after:.1f} MiB")
    return statuses, elapsed

def burst_run():
    barrier = threading.Barrier(burst)
    statuses = [None] * burst
    def one(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.connect()
        barrier.wait()
        statuses[i] = sign_in(conn, f"nobody-{i}", "wrong password")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(burst)]
    for t in threads: t.start()
    for t in threads: t.join()
    return statuses

def signins_run():
    left = iter(range(signins))
    lock = threading.Lock()
    statuses = []
    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if next(left, None) is None:
                    return
            code = sign_in(conn, "bench", "bench password")
            with lock:
                statuses.append(code)
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads: t.start()
    for t in threads: t.join()
    return statuses

print(f"idle at start: RSS {status('VmRSS'):.1f} MiB")
phase(f"burst of {burst} failed sign-ins", burst_run)
statuses, elapsed = phase(f"{signins} sign-ins over {connections} connections", signins_run)
print(f"sign-ins per second: {statuses.count(303) / elapsed:.1f}")
print(f"VmHWM (the process's peak RSS): {status('VmHWM'):.1f} MiB")
EOF
