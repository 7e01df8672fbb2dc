#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine:
#   bash scripts/test.sh [pytest arguments]
# Installs dockermagic with its test extras, checks format, lint and types (ruff, mypy),
# runs the unit tier (tests/unit: no engine, kernel, Node or network), makes sure a Docker
# engine and the base image are ready (scripts/ensure-engine.sh) and that Chromium is there
# for the browser test, then runs the rest with pytest. Everything the tests create is
# labelled and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "== installing dockermagic and its test dependencies"
python3 -m pip install -q -e ".[test,pipreqs]" 2>&1 | grep -v -E "^WARNING: (Location|Running pip)" || true
python3 -c "import dockermagic"
echo "== lint, format and types (ruff, mypy)"
python3 -m ruff format --check --quiet .
python3 -m ruff check --quiet .
python3 -m mypy
echo "== unit tier (no engine, kernel, Node or network)"
DOCKER_HOST=unix:///nonexistent.sock python3 -m pytest -q -p no:cacheprovider tests/unit
echo "== making sure a Docker engine and the base image are ready"
bash scripts/ensure-engine.sh
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 \
   || ! command -v dot >/dev/null 2>&1 || ! command -v nsenter >/dev/null 2>&1; then
  echo "== installing Debian's docker-registry, docker-compose, graphviz and util-linux for the e2e tests"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry docker-compose graphviz util-linux \
    iproute2 iptables >/dev/null
fi
if [ -f tests/browser/setup.sh ]; then
  echo "== making sure Chromium is ready for the browser test"
  bash tests/browser/setup.sh
fi
echo "== running the tests"
exec python3 -m pytest -rA -q --ignore=tests/unit "$@"
