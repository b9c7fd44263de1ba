# Shared by the benchmark scripts (sourced, not run): messages, and
# installing a missing tool with apt-get without asking anything.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install PACKAGE...: as root, or through sudo -n; retries once after apt-get update.
apt_install() {
    local SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "$* missing, and not root and no sudo to install it"
        SUDO=(sudo -n)
    fi
    log "installing $* with apt-get"
    local install=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
    # apt-get's progress goes to stderr, so stdout carries only the results.
    if ! "${install[@]}" </dev/null >&2; then
        log "install failed; running apt-get update and retrying"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2
        "${install[@]}" </dev/null >&2
    fi
}
