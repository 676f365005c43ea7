#!/usr/bin/env bash
# Sets up what the browser tests need, for developers and CI alike: Debian's
# Chromium at /usr/bin/chromium, Node.js and npm, and the pinned npm packages
# (playwright-core drives Chromium; axe-core checks accessibility) in
# tests/browser/node_modules. Idempotent: each step runs only when its result
# is missing or stale, so a second run does nothing. Quiet on success; on
# failure it prints one line saying what failed, then the tail of that step's
# output. Every step is bounded by `timeout`, so a stuck mirror cannot hang CI.
# Usage: tests/browser/install.sh
set -uo pipefail
cd "$(dirname "$0")" || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT

die() {
	echo "tests/browser/install.sh: $*" >&2
	if [ -s "$log" ]; then tail -n 15 "$log" | sed 's/^/  | /' >&2; fi
	exit 1
}

# apt-get install with one retry after `apt-get update`: a fresh machine's
# package lists may be missing or stale (404s), and updating only then keeps
# the common case fast.
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1 && return 0
	timeout 300 apt-get update -q >>"$log" 2>&1 || return 1
	timeout 600 apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1
}

if [ ! -x /usr/bin/chromium ]; then
	if [ "$(id -u)" != 0 ]; then
		die "Chromium is missing; run: sudo apt-get install -y --no-install-recommends chromium"
	fi
	apt_install chromium || die "apt-get install chromium failed"
	[ -x /usr/bin/chromium ] || die "apt-get installed chromium but /usr/bin/chromium is missing"
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		die "Node.js or npm is missing; run: sudo apt-get install -y --no-install-recommends nodejs npm"
	fi
	apt_install nodejs npm || die "apt-get install nodejs npm failed"
fi

# playwright-core (pinned in package.json) needs Node.js 20 or later; Debian 12's
# own nodejs package is 18, so say so plainly rather than fail obscurely later.
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || major=0
[ "$major" -ge 20 ] || die "Node.js $(node --version 2>/dev/null) is too old: playwright-core needs Node.js >= 20"

# npm writes node_modules/.package-lock.json on every install, so it is a
# reliable stamp: reinstall when it is missing or older than the lockfile.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
	timeout 300 npm ci --no-audit --no-fund >"$log" 2>&1 || die "npm ci failed in tests/browser"
	touch "$stamp"
fi
exit 0
