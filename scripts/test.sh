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
