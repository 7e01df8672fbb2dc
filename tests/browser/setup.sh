#!/usr/bin/env bash
# Everything the browser test (tests/browser/test_lab_button.py) needs, installed only when
# missing: Debian's Chromium (no tool ever downloads a browser), the front end's node
# packages (playwright-core comes from labextension/yarn.lock), the built extension, and a
# Docker engine with the base image. Idempotent: a second run changes nothing.
set -euo pipefail

say() { printf 'browser-setup: %s\n' "$*" >&2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { say "Chromium is missing and this is not root: apt-get install -y chromium"; exit 1; }
  say "installing Debian's chromium"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
say "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"

command -v node >/dev/null 2>&1 || { say "node is missing (Node 20 is part of the machine)"; exit 1; }
command -v jlpm >/dev/null 2>&1 || { say "jlpm is missing: pip install jupyterlab"; exit 1; }

cd "$ROOT/labextension"
if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/.yarn-state.yml ] \
   || [ yarn.lock -nt node_modules/.yarn-state.yml ]; then
  say "installing the front end's node packages (jlpm install)"
  jlpm install >/dev/null
fi
if [ ! -f "$ROOT/dockermagic/labextension/static/style.js" ] || [ ! -f "$ROOT/dockermagic/labextension/package.json" ] \
   || [ -n "$(find src style schema package.json -newer "$ROOT/dockermagic/labextension/package.json" -type f 2>/dev/null | head -n 1)" ]; then
  say "building the JupyterLab extension (jlpm build:prod)"
  jlpm build:prod >/dev/null
fi

bash "$ROOT/scripts/ensure-engine.sh"
say "ready"
