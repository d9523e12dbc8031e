#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests.
#
# Playwright's own browser download cannot work here (no internet besides the
# package registries), so the tests drive Debian's `chromium` package through
# Playwright's `executable_path`. No-op when the binary is already there.
#
# Usage: scripts/ensure_chromium.sh        (honours CHROMIUM_PATH, default /usr/bin/chromium)
set -euo pipefail

DEFAULT_PATH=/usr/bin/chromium
CHROMIUM_PATH="${CHROMIUM_PATH:-$DEFAULT_PATH}"

log() { printf '[ensure_chromium] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -x "$CHROMIUM_PATH" ]]; then
    exit 0
fi

if [[ "$CHROMIUM_PATH" != "$DEFAULT_PATH" ]]; then
    die "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file (only $DEFAULT_PATH can be installed automatically, from Debian's chromium package)"
fi

command -v apt-get >/dev/null 2>&1 || die "$DEFAULT_PATH is missing and apt-get is not available: install Debian's 'chromium' package by hand"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "$DEFAULT_PATH is missing; installing it needs root (or sudo)"
    SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)

log "$DEFAULT_PATH not found: installing Debian's chromium (takes a few minutes)"
start=$(date +%s)
"${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -qq </dev/null
"${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core </dev/null >/dev/null

[[ -x "$DEFAULT_PATH" ]] || die "apt-get finished but $DEFAULT_PATH is still missing"
log "installed $("$DEFAULT_PATH" --version 2>/dev/null || echo chromium) in $(( $(date +%s) - start ))s"
