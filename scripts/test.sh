#!/usr/bin/env bash
# Runs every sealgate test: formatting, lints, unit and integration tests.
# Installs whatever the tests need first, so it works on a fresh machine.
# Usage: bash scripts/test.sh   (no input needed; safe to run in CI)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> test dependencies (nginx, caddy, chromium, the test IdP's npm packages)"
bash scripts/install-test-deps.sh

echo "==> rustfmt"
cargo fmt --all -- --check

echo "==> clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "==> tests"
cargo test --locked --all-targets

# The session suite once more per nested key kind (README, "Session formats"):
# the modules whose stories carry the session cookie, with spawn_app sealing
# it in the nested format (tests/api/helpers.rs, session_format_from_env).
SESSION_MODULES=(cookies:: verify:: signout:: session_info:: signin_credentials:: oidc_flow:: refresh:: revocation:: managed_sessions::)
for format in nested-p256 nested-x25519; do
    echo "==> session tests, SEALGATE_TEST_SESSION_FORMAT=$format"
    SEALGATE_TEST_SESSION_FORMAT="$format" cargo test --locked --test api -- "${SESSION_MODULES[@]}"
done
