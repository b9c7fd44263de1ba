#!/usr/bin/env bash
# Load test of the hot path: /auth/verify with a valid ~1.5 KB session cookie
# and with an invalid one of the same length, against /healthz as a baseline.
#
# Builds the release binary, starts it on 127.0.0.1 with a throwaway key set,
# mints a session, checks the expected status codes once with curl, then runs
# wrk against each endpoint with the same settings and prints a table.
# Then PAIRS short back-to-back runs of /healthz and /auth/verify (valid and
# invalid cookie), order alternating, give the target ratio as a median of
# per-pair ratios, which the machine's drift moves much less. Each pair also
# loads the floor (examples/verify_floor.rs: a bare actix-web server whose
# /auth/verify sends the same identity headers as static values, without
# reading the cookie), so the ratio that carrying the cookie and sending the
# headers cost on their own is measured next to sealgate's.
# Installs wrk (and curl) with apt-get when missing. Needs no input.
#
# Usage: bash scripts/bench-verify.sh
# Environment (defaults): DURATION (10s), ROUNDS (3), PAIRS (10), PAIR_DURATION (2s), CONNECTIONS (64),
#   FORMAT (sealed; nested-p256 or nested-x25519 for the nested session format),
#   PORT (a free port), TTL (604800 = the default idle lifetime, so a fresh session that is not renewed),
#   SERVER_CPUS and WRK_CPUS (with two or more cores: 1 and 0, sealgate and wrk each pinned to a core of its
#   own with taskset, and sealgate given one worker per pinned core; SHARED=1 unpins both, so they share
#   every core as before session 10), THREADS (wrk's threads: one per core it has, so 1 pinned, 2 shared).
# Why pinned by default: sharing the cores, wrk and the server take turns on them, so the ratio also
# counts wrk's own cost of the bigger requests and answers, and the empty /healthz itself has a p99 of
# about 8 ms (the scheduler's time slices), which says nothing about the server (BENCHMARKS.md, session 9).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
if [ -n "${SHARED:-}" ] || [ "$(nproc)" -lt 2 ]; then
    SERVER_CPUS="${SERVER_CPUS:-}" WRK_CPUS="${WRK_CPUS:-}" THREADS="${THREADS:-2}"
else
    SERVER_CPUS="${SERVER_CPUS:-1}" WRK_CPUS="${WRK_CPUS:-0}" THREADS="${THREADS:-1}"
fi
TTL="${TTL:-604800}"
BIN=target/release/sealgate
CONFIG=config/sealgate.toml

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

server_pin=() wrk_pin=() placement="wrk and sealgate sharing every core"
if [ -n "$SERVER_CPUS$WRK_CPUS" ]; then
    command -v taskset >/dev/null || die "SERVER_CPUS/WRK_CPUS need taskset (util-linux)"
    [ -n "$SERVER_CPUS" ] && [ -n "$WRK_CPUS" ] || die "set both SERVER_CPUS and WRK_CPUS, or neither"
    server_pin=(taskset -c "$SERVER_CPUS") wrk_pin=(taskset -c "$WRK_CPUS")
    # One actix worker per core sealgate may use.
    export SEALGATE__SERVER__WORKERS="$(taskset -c "$SERVER_CPUS" nproc)"
    placement="sealgate on CPU $SERVER_CPUS ($SEALGATE__SERVER__WORKERS worker(s)), wrk on CPU $WRK_CPUS"
fi

log "building the release binary and the floor server"
cargo build --release </dev/null
cargo build --release --example verify_floor </dev/null
FLOOR_BIN=target/release/examples/verify_floor

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-bench.XXXXXX")"
server_pid=""
policy_pid=""
floor_pid=""
cleanup() {
    for pid in "$policy_pid" "$floor_pid"; do
        if [ -n "$pid" ]; then
            kill "$pid" 2>/dev/null || true
        fi
    done
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
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 4390)"
fi
base="http://127.0.0.1:$PORT"
if curl -s -o /dev/null --max-time 1 "$base/"; then
    die "something already answers on 127.0.0.1:$PORT; set PORT to a free port"
fi

# Everything the gateway reads comes from the repo's config, except the key
# set (a fresh one in $tmp), the address, and the log level. RUST_LOG would
# override the log level, so it is dropped. RUST_BACKTRACE is dropped too:
# josekit reports a failed decryption as an anyhow error, which captures a
# backtrace when it is set, and that would make every forged cookie cost a
# stack walk that no production deployment pays.
export SEALGATE__KEYS__PATH="$tmp/keys.json"
export SEALGATE__SERVER__PUBLIC_URL="$base"
export SEALGATE__LOG__LEVEL=warn
# A provider that passes its access token upstream (never called: the minted
# token is fresh), for the "fresh tokens" row.
export SEALGATE__PROVIDERS__BENCH__KIND=oauth2
export SEALGATE__PROVIDERS__BENCH__CLIENT_ID=bench
export SEALGATE__PROVIDERS__BENCH__CLIENT_SECRET=bench-client-secret
export SEALGATE__PROVIDERS__BENCH__AUTHORIZE_URL=http://127.0.0.1:9/authorize
export SEALGATE__PROVIDERS__BENCH__TOKEN_URL=http://127.0.0.1:9/token
export SEALGATE__PROVIDERS__BENCH__USERINFO_URL=http://127.0.0.1:9/me
export SEALGATE__PROVIDERS__BENCH__PASS_ACCESS_TOKEN=true
unset RUST_LOG RUST_BACKTRACE RUST_LIB_BACKTRACE SEALGATE_CONFIG

# The repo's config plus a 20-rule policy (issue 5's benchmark): 19 rules that
# do not match the benchmark's path, then the one that does, so every request
# walks all of them.
policy_config="$tmp/sealgate-policy.toml"
cp "$CONFIG" "$policy_config"
{
    echo
    echo "[policy]"
    echo 'default = "authenticated"'
    for i in $(seq 1 19); do
        printf '\n[[policy.rules]]\nname = "rule %d"\nhosts = ["app%d.example.com"]\npaths = ["/section-%d", "/files/*/part-%d"]\ngroups = ["team-%d"]\n' "$i" "$i" "$i" "$i" "$i"
    done
    printf '\n[[policy.rules]]\nname = "bench"\npaths = ["/bench"]\ngroups = ["staff"]\n'
} >>"$policy_config"

log "creating a key set in $tmp"
"$BIN" --config "$CONFIG" keygen >&2 </dev/null
# FORMAT=nested-p256|nested-x25519: the session cookie in the nested format (README, "Session formats").
case "${FORMAT:-sealed}" in
    sealed) ;;
    nested-p256 | nested) "$BIN" --config "$CONFIG" keygen --alg ECDH-ES+A256KW --curve P-256 --sign ES256 >&2 </dev/null ;;
    nested-x25519) "$BIN" --config "$CONFIG" keygen --alg ECDH-ES+A256KW --curve X25519 --sign EdDSA >&2 </dev/null ;;
    *) die "FORMAT=$FORMAT: not sealed, nested-p256 (or nested) or nested-x25519" ;;
esac
[ "${FORMAT:-sealed}" = sealed ] || export SEALGATE__SESSION__FORMAT=nested

log "starting sealgate on 127.0.0.1:$PORT"
"${server_pin[@]}" "$BIN" --config "$CONFIG" serve --listen "127.0.0.1:$PORT" </dev/null >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if curl -fs -o /dev/null --max-time 1 "$base/healthz"; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$tmp/server.log" >&2
        die "sealgate exited before answering /healthz"
    fi
    sleep 0.1
done
curl -fs -o /dev/null --max-time 1 "$base/healthz" || { cat "$tmp/server.log" >&2; die "/healthz never answered"; }

# The main case: a ~1.5 KB session that, like a real OIDC session, is mostly
# the sealed provider tokens (never sent upstream), with a few groups.
access_token="bench-access-token-$(head -c 232 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mint() {
    "$BIN" --config "$CONFIG" session mint --user bench-user --email bench@example.com \
        --name "Bench User" --ttl "$TTL" "$@" </dev/null
}
cookie="$(mint --groups admins,staff --access-token "$access_token" --token-ttl 86400)"
if [ "${#cookie}" -lt 1300 ] || [ "${#cookie}" -gt 1800 ]; then
    die "the minted cookie is ${#cookie} bytes, expected about 1500"
fi
case "$cookie" in *\;*) die "the minted cookie was split into chunks: $cookie" ;; esac
# The same session for a provider with pass_access_token: X-Auth-Access-Token is sent too.
token_cookie="$(mint --groups admins,staff --access-token "$access_token" --token-ttl 86400 --provider bench)"
# A ~1.5 KB session made of 26 groups: ~0.8 KB of X-Auth-Groups in every answer.
groups="$(printf 'engineering-platform-team-%02d,' $(seq 1 26))"
groups_cookie="$(mint --groups "${groups%,}")"
for c in "$token_cookie" "$groups_cookie"; do
    case "$c" in *\;*) die "a minted cookie was split into chunks" ;; esac
done

# The same cookie with its tag altered in place: same length, still a
# well-formed 16-byte tag, so it is refused only by AES-GCM, not by the parser.
tag="${cookie##*.}"
case "$tag" in A*) forged="B${tag#?}" ;; *) forged="A${tag#?}" ;; esac
bad_cookie="${cookie%.*}.$forged"
[ "${#bad_cookie}" -eq "${#cookie}" ] || die "the invalid cookie has a different length"
log "session cookie: ${#cookie} bytes; invalid cookie: ${#bad_cookie} bytes (tag altered)"

check() {
    local expected="$1" cookie_value="$2" status
    status="$(curl -s -D "$tmp/headers" -o /dev/null --max-time 5 -H "Cookie: $cookie_value" -w '%{http_code}' "$base/auth/verify")"
    [ "$status" = "$expected" ] || die "/auth/verify answered $status, expected $expected"
}
check 200 "$cookie"
grep -qi '^x-auth-user: bench-user' "$tmp/headers" || die "/auth/verify did not name bench-user"
if grep -qi '^set-cookie:' "$tmp/headers"; then
    log "note: /auth/verify renews this session on every request (sliding expiry: TTL=$TTL is under half" \
        "the idle lifetime, and wrk keeps no cookies), so each request also re-seals and sends Set-Cookie"
fi
check 401 "$bad_cookie"
check 200 "$token_cookie"
bearer="$("$BIN" --config "$CONFIG" token mint --user bench-bot --name bench --email bot@example.com \
    --groups staff --ttl 86400 2>/dev/null </dev/null)"
status="$(curl -s -o /dev/null --max-time 5 -H "Authorization: Bearer $bearer" -w '%{http_code}' "$base/auth/verify")"
[ "$status" = 200 ] || die "/auth/verify with the Bearer token answered $status"

# A second server, with the 20-rule policy, for the policy row.
policy_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
policy_base="http://127.0.0.1:$policy_port"
"${server_pin[@]}" "$BIN" --config "$policy_config" serve --listen "127.0.0.1:$policy_port" </dev/null >"$tmp/policy-server.log" 2>&1 &
policy_pid=$!
for _ in $(seq 1 100); do
    curl -fs -o /dev/null --max-time 1 "$policy_base/healthz" && break
    sleep 0.1
done
status="$(curl -s -o /dev/null --max-time 5 -H "Cookie: $cookie" -H "X-Forwarded-Uri: /bench/page" -w '%{http_code}' "$policy_base/auth/verify")"
[ "$status" = 200 ] || die "/auth/verify under the 20-rule policy answered $status"
grep -qi '^x-auth-access-token: bench-access-token-' "$tmp/headers" || die "/auth/verify did not pass the access token"
log "checked: valid cookie -> 200, invalid cookie -> 401"

# The floor, on its own port, with as many workers as sealgate (both unset:
# actix's default, one per core).
floor_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
floor_base="http://127.0.0.1:$floor_port"
WORKERS="${SEALGATE__SERVER__WORKERS:-}" "${server_pin[@]}" "$FLOOR_BIN" "127.0.0.1:$floor_port" </dev/null \
    >"$tmp/floor.log" 2>&1 &
floor_pid=$!
for _ in $(seq 1 100); do
    curl -fs -o /dev/null --max-time 1 "$floor_base/healthz" && break
    sleep 0.1
done
# The floor must send what sealgate sends for this session: the same header
# names (actix writes them in its map's order, so they are compared sorted).
header_names() {
    curl -s -D - -o /dev/null --max-time 5 -H "Cookie: $cookie" "$1/auth/verify" | tr -d '\r' |
        awk -F: 'NF > 1 && $1 != "date" { print tolower($1) }' | sort
}
ours="$(header_names "$base")" floors="$(header_names "$floor_base")"
[ -n "$ours" ] && [ "$ours" = "$floors" ] || die "the floor's answer differs from sealgate's: $(echo $floors) against $(echo $ours)"
log "checked: the floor answers with sealgate's headers ($(echo $ours))"

names=()
rps=()
p99=()
cpu=()
user=()
# The server's own CPU time (user + system, in clock ticks).
server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
# Of which user time (sealgate's and actix-web's code, not the kernel's).
server_user_ticks() { awk '{ print $14 }' "/proc/$server_pid/stat"; }
tick_us="$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN { print 1000000 / hz }')"
# Microseconds per request: TICKS REQUESTS.
per_request() { awk -v t="$1" -v us="$tick_us" -v r="$2" 'BEGIN { printf "%.2f", (r > 0 ? t * us / r : 0) }'; }
run() {
    local name="$1" path="$2" shown="$3" out="$tmp/wrk-${#names[@]}.txt"
    shift 3
    log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency ${shown:+$shown }$base$path"
    local before after before_user after_user
    before="$(server_ticks)" before_user="$(server_user_ticks)"
    "${wrk_pin[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$base$path" </dev/null >"$out"
    after="$(server_ticks)" after_user="$(server_user_ticks)"
    cat "$out" >&2
    names+=("$name")
    rps+=("$(awk '$1 == "Requests/sec:" { print $2 }' "$out")")
    p99+=("$(awk '$1 == "99%" { print $2 }' "$out")")
    local requests non2xx
    requests="$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")"
    cpu+=("$(per_request "$((after - before))" "$requests")")
    user+=("$(per_request "$((after_user - before_user))" "$requests")")
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    case "$name" in
        *invalid*) [ "${non2xx:-0}" -ge "$requests" ] || log "warning: $name: only ${non2xx:-0} of $requests were refused" ;;
        *) [ -z "$non2xx" ] || log "warning: $name: $non2xx of $requests responses were not 2xx" ;;
    esac
    if grep -q 'Socket errors' "$out"; then
        log "warning: $name: $(grep 'Socket errors' "$out" | sed 's/^ *//')"
    fi
}

ROUNDS="${ROUNDS:-3}"
for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    run "/healthz" /healthz ""
    run "/healthz (same cookie)" /healthz "-H 'Cookie: <valid, ${#cookie} bytes>'" -H "Cookie: $cookie"
    run "/auth/verify (valid)" /auth/verify "-H 'Cookie: <valid, ${#cookie} bytes>'" -H "Cookie: $cookie"
    run "/auth/verify (invalid)" /auth/verify "-H 'Cookie: <invalid, ${#bad_cookie} bytes>'" -H "Cookie: $bad_cookie"
    run "/auth/verify (token)" /auth/verify "-H 'Cookie: <passing its fresh provider token, ${#token_cookie} bytes>'" \
        -H "Cookie: $token_cookie"
    run "/auth/verify (26 groups)" /auth/verify "-H 'Cookie: <26 groups, ${#groups_cookie} bytes>'" \
        -H "Cookie: $groups_cookie"
    run "/auth/verify (Bearer)" /auth/verify "-H 'Authorization: Bearer <API token, ${#bearer} bytes>'" \
        -H "Authorization: Bearer $bearer"
    server_pid_main="$server_pid" base_main="$base"
    server_pid="$policy_pid" base="$policy_base"
    run "/auth/verify (20 rules)" /auth/verify "-H 'Cookie: <valid>' -H 'X-Forwarded-Uri: /bench/page' (2nd server)" \
        -H "Cookie: $cookie" -H "X-Forwarded-Uri: /bench/page"
    server_pid="$server_pid_main" base="$base_main"
done

# Paired runs for the target (valid cookie against /healthz): short runs,
# back to back, order alternating, so the machine drifting (it does, by
# 20 % within a minute here) moves both sides of each ratio alike.
PAIRS="${PAIRS:-10}"
PAIR_DURATION="${PAIR_DURATION:-2s}"
pair_rps() { "${wrk_pin[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$PAIR_DURATION" --latency "$@" </dev/null; }
pair_ratios=() pair_p99=() pair_invalid=() pair_floor=() pair_own=() pair_same=() pair_carry=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
for pair in $(seq 1 "$PAIRS"); do
    log "pair $pair of $PAIRS: /healthz, /healthz (same cookie), /auth/verify (valid), /auth/verify (invalid); the floor's /healthz and /auth/verify"
    if [ $((pair % 2)) -eq 1 ]; then
        h="$(pair_rps "$base/healthz")"
        hc="$(pair_rps -H "Cookie: $cookie" "$base/healthz")"
        v="$(pair_rps -H "Cookie: $cookie" "$base/auth/verify")"
        i="$(pair_rps -H "Cookie: $bad_cookie" "$base/auth/verify")"
        fh="$(pair_rps "$floor_base/healthz")"
        fv="$(pair_rps -H "Cookie: $cookie" "$floor_base/auth/verify")"
    else
        fv="$(pair_rps -H "Cookie: $cookie" "$floor_base/auth/verify")"
        fh="$(pair_rps "$floor_base/healthz")"
        i="$(pair_rps -H "Cookie: $bad_cookie" "$base/auth/verify")"
        v="$(pair_rps -H "Cookie: $cookie" "$base/auth/verify")"
        hc="$(pair_rps -H "Cookie: $cookie" "$base/healthz")"
        h="$(pair_rps "$base/healthz")"
    fi
    for out in h hc v i fh fv; do
        printf -v "${out}r" '%s' "$(awk '$1 == "Requests/sec:" { print $2 }' <<<"${!out}")"
    done
    pair_ratios+=("$(ratio "$vr" "$hr")")
    pair_same+=("$(ratio "$vr" "$hcr")")
    pair_carry+=("$(ratio "$hcr" "$hr")")
    pair_invalid+=("$(ratio "$ir" "$hr")")
    pair_floor+=("$(ratio "$fvr" "$fhr")")
    pair_own+=("$(ratio "$(ratio "$vr" "$hr")" "$(ratio "$fvr" "$fhr")")")
    pair_p99+=("$(awk '$1 == "99%" { print $2 }' <<<"$v")")
done

# Medians over the rounds, so one noisy run does not decide the figure.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'; }
endpoints=("/healthz" "/healthz (same cookie)" "/auth/verify (valid)" "/auth/verify (invalid)" "/auth/verify (token)"
    "/auth/verify (26 groups)" "/auth/verify (Bearer)" "/auth/verify (20 rules)")
declare -A med_rps med_p99 med_cpu med_user
for name in "${endpoints[@]}"; do
    values=() lat=() cost=() own=()
    for i in "${!names[@]}"; do
        [ "${names[$i]}" = "$name" ] && values+=("${rps[$i]}") && lat+=("${p99[$i]}") && cost+=("${cpu[$i]}") && own+=("${user[$i]}")
    done
    med_cpu[$name]="$(printf '%s\n' "${cost[@]}" | median)"
    med_user[$name]="$(printf '%s\n' "${own[@]}" | median)"
    med_rps[$name]="$(printf '%s\n' "${values[@]}" | median)"
    med_p99[$name]="$(printf '%s\n' "${lat[@]}" | ms | median)"
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds (medians), cookie ${#cookie} bytes, sealgate on 127.0.0.1:$PORT"
echo "placement: $placement"
# ratio: throughput relative to /healthz as sent bare (wrk shares the cores,
# so this includes wrk's cost of bigger requests and answers).
# same-req: relative to /healthz receiving the same 1.5 KB Cookie header.
# cpu/req: the server's own CPU time per request (user + system, from /proc),
# which wrk does not share; cpu-eff is /healthz's cpu/req over this row's;
# user/req is the user-space part of cpu/req (the rest is the kernel's).
printf '%-24s %10s %9s %6s %9s %8s %8s %9s\n' endpoint req/s p99 ratio same-req cpu/req cpu-eff user/req
for name in "${endpoints[@]}"; do
    ratio="$(awk -v a="${med_rps[$name]}" -v b="${med_rps[/healthz]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    same="$(awk -v a="${med_rps[$name]}" -v b="${med_rps[/healthz (same cookie)]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    eff="$(awk -v a="${med_cpu[$name]}" -v b="${med_cpu[/healthz]}" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
    printf '%-24s %10.0f %7.2fms %6s %9s %6.2fus %8s %7.2fus\n' "$name" "${med_rps[$name]}" "${med_p99[$name]}" "$ratio" \
        "$same" "${med_cpu[$name]}" "$eff" "${med_user[$name]}"
done

if [ "$PAIRS" -gt 0 ]; then
    echo
    echo "paired: $PAIRS x (/healthz, /healthz with the cookie, /auth/verify valid, invalid; the floor's /healthz, /auth/verify), wrk -t$THREADS -c$CONNECTIONS -d$PAIR_DURATION each, order alternating"
    printf 'valid/healthz:       median %.3f  (all: %s)\n' "$(printf '%s\n' "${pair_ratios[@]}" | median)" "${pair_ratios[*]}"
    printf 'invalid/healthz:     median %.3f  (all: %s)\n' "$(printf '%s\n' "${pair_invalid[@]}" | median)" "${pair_invalid[*]}"
    printf 'floor verify/healthz: median %.3f  (all: %s)\n' "$(printf '%s\n' "${pair_floor[@]}" | median)" "${pair_floor[*]}"
    printf 'valid over floor:    median %.3f  (all: %s)\n' "$(printf '%s\n' "${pair_own[@]}" | median)" "${pair_own[*]}"
    printf 'valid/healthz (same cookie): median %.3f  (all: %s)\n' "$(printf '%s\n' "${pair_same[@]}" | median)" \
        "${pair_same[*]}"
    printf '/healthz with the cookie/healthz: median %.3f  (all: %s)\n' "$(printf '%s\n' "${pair_carry[@]}" | median)" \
        "${pair_carry[*]}"
    printf 'valid p99:           median %.2fms\n' "$(printf '%s\n' "${pair_p99[@]}" | ms | median)"
fi
