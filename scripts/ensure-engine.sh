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
STANDIN_LAYOUT=2  # 2: pip on PATH, as in the official image

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
  # A stand-in for python:X.Y-slim: Debian bookworm (minbase) with this machine's own CPython
  # (same version as the kernel, down to the micro version) installed under /usr/local, as
  # the official image does. Only the standard library is copied, never site-packages.
  local prefix full root old
  prefix=$(python3 -c 'import sys; print(sys.base_prefix)')
  full=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  [ "${full%.*}" = "$PYVER" ] || die "cannot pull $BASE and this machine's python3 is $full, not $PYVER"
  command -v debootstrap >/dev/null 2>&1 || {
    [ "$(id -u)" = 0 ] || die "cannot pull $BASE and debootstrap is missing (needs root to install)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
  }
  root=$(mktemp -d /var/tmp/dockermagic-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  say "building a local stand-in for $BASE: Debian bookworm with this machine's Python $full (about 30 s)"
  debootstrap --variant=minbase \
    --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,zlib1g,libexpat1,libnsl2,libtirpc3,libgdbm6 \
    bookworm "$root" >/var/log/dockermagic-debootstrap.log 2>&1 \
    || { tail -n 20 /var/log/dockermagic-debootstrap.log >&2; die "debootstrap failed (log above)"; }
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib" "$root/usr/local/include"
  cp -a "$prefix/bin/python$PYVER" "$root/usr/local/bin/"
  cp -a "$prefix"/lib/libpython* "$root/usr/local/lib/"
  cp -a "$prefix/include/." "$root/usr/local/include/"
  tar -C "$prefix/lib" -c \
    --exclude="python$PYVER/site-packages/*" --exclude="python$PYVER/test" --exclude="python$PYVER/idlelib" \
    --exclude="python$PYVER/tkinter" --exclude="python$PYVER/turtledemo" --exclude='__pycache__' \
    --exclude='_tkinter*' --exclude='_test*' "python$PYVER" | tar -C "$root/usr/local/lib" -x
  for name in python3 python; do ln -sf "python$PYVER" "$root/usr/local/bin/$name"; done
  chroot "$root" ldconfig
  chroot "$root" /usr/local/bin/python3 -c 'import ssl, sqlite3, ctypes, venv, ensurepip' \
    || die "the stand-in's Python does not start"
  # the official image has pip (and setuptools) on PATH and ships no .pyc files
  chroot "$root" /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null \
    || die "ensurepip failed in the stand-in"
  find "$root/usr/local" -depth -name __pycache__ -type d -exec rm -rf {} +
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  old=$(docker image inspect -f '{{.Id}}' "$BASE" 2>/dev/null || true)
  tar -C "$root" -c . | docker import \
    --change "LABEL ${STANDIN_LABEL}=debian-bookworm ${STANDIN_LABEL}.python=$full ${STANDIN_LABEL}.layout=$STANDIN_LAYOUT" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$BASE" >/dev/null
  # the stand-in it replaces goes too, unless images built on it still need it
  [ -z "$old" ] || docker rmi "$old" >/dev/null 2>&1 || true
  say "stand-in ready: $BASE is Debian bookworm with Python $full (not the official image; no registry was reachable)"
}

build_uv_standin() {
  # uv's own image holds only /uv and /uvx, the binaries of its wheel for this architecture
  local dir version arch
  version=${UV_IMAGE##*:}
  arch=$(uname -m)
  dir=$(mktemp -d /var/tmp/dockermagic-uv.XXXXXX)
  trap 'rm -rf "$dir"' RETURN
  say "building a local stand-in for $UV_IMAGE from the uv $version wheel"
  python3 -m pip download -q --no-deps --only-binary :all: --platform "manylinux2014_$arch" \
    --python-version 3.11 -d "$dir/wheel" "uv==$version" >/dev/null 2>&1 \
    || { say "cannot download the uv $version wheel: builds will install uv with pip instead"; return 0; }
  mkdir "$dir/root"
  python3 - "$dir" <<'PY'
import sys, zipfile, pathlib
folder = pathlib.Path(sys.argv[1])
wheel = next((folder / "wheel").glob("uv-*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(("/scripts/uv", "/scripts/uvx")):
            target = folder / "root" / name.rsplit("/", 1)[1]
            target.write_bytes(z.read(name))
            target.chmod(0o755)
PY
  tar -C "$dir/root" -c uv uvx | docker import --change "LABEL ${STANDIN_LABEL}=uv" - "$UV_IMAGE" >/dev/null
  say "stand-in ready: $UV_IMAGE (uv $version, not the official image; no registry was reachable)"
}

standin_layout() {
  docker image inspect -f "{{ index .Config.Labels \"${STANDIN_LABEL}.layout\" }}" "$BASE" 2>/dev/null | grep -v '<no value>' || true
}

standin_python() {
  docker image inspect -f "{{ index .Config.Labels \"${STANDIN_LABEL}.python\" }}" "$BASE" 2>/dev/null | grep -v '<no value>' || true
}

engine_answers || start_engine

WANT=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
if docker image inspect "$BASE" >/dev/null 2>&1; then
  if [ -n "$(docker image inspect -f "{{ index .Config.Labels \"$STANDIN_LABEL\" }}" "$BASE" 2>/dev/null | grep -v '<no value>')" ]; then
    have=$(standin_python)
    # rebuild only a stand-in older than this Python (never flip-flop between two callers)
    if [ "$(standin_layout)" = "$STANDIN_LAYOUT" ] && [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$have" "$WANT" | sort -V | tail -n 1)" = "$have" ]; then
      say "$BASE present (local stand-in with Python $have)"
    else
      say "$BASE is an outdated local stand-in; rebuilding it"
      build_standin
    fi
  else
    say "$BASE present"
  fi
elif timeout 120 docker pull "$BASE" >/dev/null 2>&1; then
  say "pulled $BASE"
else
  say "cannot pull $BASE (no registry reachable)"
  build_standin
fi

# uv's image, which dockermagic's builder stage copies uv from when the engine has it
UV_IMAGE=$(python3 -c 'from dockermagic.dockerfile import UV_IMAGE; print(UV_IMAGE)' 2>/dev/null || true)
if [ -n "$UV_IMAGE" ]; then
  if docker image inspect "$UV_IMAGE" >/dev/null 2>&1; then
    say "$UV_IMAGE present"
  elif timeout 60 docker pull "$UV_IMAGE" >/dev/null 2>&1; then
    say "pulled $UV_IMAGE"
  else
    build_uv_standin
  fi
fi
