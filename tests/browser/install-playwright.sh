#!/usr/bin/env bash
# Installs playwright-core (pinned) from npm into a cache directory, once, and prints the
# directory holding node_modules. Debian's chromium is the browser (no browser download:
# playwright-core has none). Exit 77 when npm or chromium is missing.
set -euo pipefail
VERSION=1.65.1
CACHE=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}/playwright-core-$VERSION
command -v npm >/dev/null || { echo "SKIP: npm is not installed" >&2; exit 77; }
[[ -x /usr/bin/chromium ]] || { echo "SKIP: /usr/bin/chromium is not installed" >&2; exit 77; }
if [[ ! -f "$CACHE/node_modules/playwright-core/package.json" ]]; then
    mkdir -p "$CACHE"
    (cd "$CACHE" && [[ -f package.json ]] || echo '{"private": true}' >"$CACHE/package.json")
    if ! npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error \
        "playwright-core@$VERSION" >&2; then
        echo "SKIP: npm could not install playwright-core@$VERSION" >&2
        exit 77
    fi
fi
echo "$CACHE"
