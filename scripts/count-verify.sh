#!/usr/bin/env bash
# Instructions per request, in-process, for /auth/verify next to /healthz.
#
# The load test (scripts/bench-verify.sh) shares two cores with wrk, and
# its figures move by 20 % from one minute to the next here. This counts
# instructions instead, under valgrind's callgrind: the same on every run,
# so a change to the hot path shows up to a few instructions.
#
# It runs benches/verify_service.rs in its counting mode
# (VERIFY_SERVICE_COUNT=<case>:<n>): the whole app (middleware, routing,
# extractors, handler) serves n requests through actix's test service. Only
# the instructions inside `call_service` are counted (building the request
# is not), and two runs (500 and 2500 requests) are subtracted, so start-up
# and the first, uncached, request drop out. The kernel and the HTTP codec
# are not in these figures; the load test has them.
#
# Installs valgrind with apt-get when missing. Needs no input.
# Usage: [VERIFY_SERVICE_SETUP=SETUP] bash scripts/count-verify.sh [case ...]
#   SETUP (benches/verify_service.rs): default, no-store, revoked-100k, assertion
#   cases: healthz healthz_same_cookie verify_valid verify_invalid verify_no_cookie verify_bearer
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

command -v valgrind >/dev/null || apt_install valgrind

log "building benches/verify_service.rs"
bin="$(cargo bench --bench verify_service --no-run 2>&1 </dev/null | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)"
[ -x "$bin" ] || die "could not find the verify_service bench binary"

cases=("$@")
if [ "${#cases[@]}" -eq 0 ]; then
    cases=(healthz healthz_same_cookie verify_valid verify_invalid verify_no_cookie verify_bearer)
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sealgate-count.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
unset RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG

count() {
    local name="$1" n="$2"
    VERIFY_SERVICE_COUNT="$name:$n" valgrind --tool=callgrind --callgrind-out-file="$tmp/out.%p" \
        --toggle-collect='actix_web::test::test_utils::call_service*' "$bin" --bench 2>&1 </dev/null |
        awk '/Collected :/ { total += $4 } END { print total + 0 }'
}

printf '%-22s %14s\n' case instructions/req
for name in "${cases[@]}"; do
    few="$(count "$name" 500)"
    many="$(count "$name" 2500)"
    [ "$many" -gt "$few" ] || die "$name: no instructions counted"
    printf '%-22s %14d\n' "$name" "$(((many - few) / 2000))"
done
