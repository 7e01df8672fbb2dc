#!/usr/bin/env bash
# Make sure a Docker engine answers and the default base image exists.
#
#   scripts/ensure-engine.sh [PYTHON_VERSION]      (default: this python3's major.minor)
#
# - Reuses an engine that already answers (DOCKER_HOST is honoured); never stops one.
# - Otherwise, as root on Debian: installs Debian's docker.io and starts dockerd in the
#   background (log: /var/log/dockermagic-dockerd.log).
# - Makes sure python:<X.Y>-slim is present: pulls it where a registry is reachable; only
#   when the pull fails, builds a local stand-in from Debian packages and says so.
# Idempotent: running it again changes nothing.
set -euo pipefail

say() { printf 'ensure-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

PYVER="${1:-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')}"
BASE="python:${PYVER}-slim"
STANDIN_LABEL="org.dockermagic.standin"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_engine() {
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and this is not root: start Docker (e.g. 'sudo systemctl start docker') and try again"
  if ! command -v dockerd >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "no Docker engine answers and dockerd is not installed (install Docker Engine for your system)"
    say "installing Debian's docker.io"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
  fi
  say "starting dockerd"
  # setsid: the engine outlives this script and the shell that ran it.
  setsid nohup dockerd >/var/log/dockermagic-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    engine_answers && { say "engine ready"; return 0; }
    sleep 1
  done
  tail -n 20 /var/log/dockermagic-dockerd.log >&2 || true
  die "dockerd did not become ready within 60 s (log above)"
}

build_standin() {
  # A stand-in for python:X.Y-slim made from Debian bookworm's own python3.
  [ "$PYVER" = "3.11" ] || die "cannot pull $BASE and Debian bookworm only has Python 3.11 for a local stand-in"
  command -v debootstrap >/dev/null 2>&1 || {
    [ "$(id -u)" = 0 ] || die "cannot pull $BASE and debootstrap is missing (needs root to install)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
  }
  local root
  root=$(mktemp -d /var/tmp/dockermagic-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  say "building a local stand-in for $BASE from Debian bookworm packages (about 30 s)"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip-whl,python3-setuptools-whl,ca-certificates \
    bookworm "$root" >/var/log/dockermagic-debootstrap.log 2>&1 \
    || { tail -n 20 /var/log/dockermagic-debootstrap.log >&2; die "debootstrap failed (log above)"; }
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
  ln -sf /usr/bin/python3 "$root/usr/local/bin/python${PYVER}"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change "LABEL ${STANDIN_LABEL}=debian-bookworm-python3" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$BASE" >/dev/null
  say "stand-in ready: $BASE is Debian bookworm's python3 (not the official image; no registry was reachable)"
}

engine_answers || start_engine

if docker image inspect "$BASE" >/dev/null 2>&1; then
  if [ -n "$(docker image inspect -f "{{ index .Config.Labels \"$STANDIN_LABEL\" }}" "$BASE" 2>/dev/null | grep -v '<no value>')" ]; then
    say "$BASE present (local stand-in built from Debian packages)"
  else
    say "$BASE present"
  fi
elif timeout 120 docker pull "$BASE" >/dev/null 2>&1; then
  say "pulled $BASE"
else
  say "cannot pull $BASE (no registry reachable)"
  build_standin
fi
