#!/usr/bin/env bash
# Prepares this machine for the test suite: the project in .venv, the PostgreSQL server binaries
# and the headless browser the web view's tests drive (Debian's chromium and chromium-driver).
# Usage: scripts/bootstrap.sh [--without-postgres]   (the demo's set-up: the project alone)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
with_postgres=1
[[ ${1:-} == --without-postgres ]] && with_postgres=0

log() { printf 'bootstrap: %s\n' "$*" >&2; }

if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv"
    python3 -m venv .venv
fi
# pip prints the build backend's warnings even with --quiet: keep its output, show it on failure.
quietly() {
    local output
    output=$(mktemp)
    if ! "$@" >"$output" 2>&1; then
        cat "$output" >&2
        rm -f "$output"
        log "failed: $*"
        exit 1
    fi
    rm -f "$output"
}

# Reinstall only when pyproject.toml or the set of top-level packages changed since the last
# install (the editable install maps each package it found then); delete the stamp to force.
stamp=.venv/.bootstrap-pyproject.sha256
installed() { sha256sum pyproject.toml; printf '%s\n' */__init__.py | sha256sum; }
if [[ "$(installed)" != "$(cat "$stamp" 2>/dev/null)" ]]; then
    log "installing the project into .venv"
    quietly .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    quietly .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
    installed >"$stamp"
fi

have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "${missing[*]} missing and this user is not root and has no sudo;"
        log "ask an administrator to run: apt-get install -y --no-install-recommends ${missing[*]}"
        exit 1
    fi
}

have_browser() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

# Install only when missing: a plain install after apt-get update upgrades packages needlessly.
missing=()
if [[ $with_postgres -eq 1 ]]; then
    have_postgres || missing+=(postgresql)
    have_browser || missing+=(chromium chromium-driver)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}" >&2
    if ! have_postgres; then
        log "apt-get finished but no /usr/lib/postgresql/*/bin/initdb exists"
        exit 1
    fi
    if ! have_browser; then
        log "apt-get finished but chromium or chromedriver is not on the PATH"
        exit 1
    fi
fi
log "ready"
