#!/usr/bin/env python3
"""Generate dockermagic's Debian tables from Debian's own archive indexes.

    python scripts/gen_debian_tables.py [--release bookworm] [--arch amd64 --arch arm64]
                                        [--mirror http://deb.debian.org/debian] [--cache DIR] [--out FILE]

Writes ``dockermagic/data/debian-<release>.json.gz`` with:

- ``sonames``: shared-library soname -> Debian packages shipping a file of that name in a
  library directory (``lib``, ``usr/lib``, ``lib64``, ``usr/lib64`` and the multiarch
  triplet folders, plus their subfolders such as ``blas/`` that Debian reaches through
  ``update-alternatives``), best candidate first;
- ``programs``: program name -> packages shipping it in ``bin``, ``usr/bin``, ``sbin`` or
  ``usr/sbin``, best candidate first;
- ``python_slim``: the packages, sonames and programs of the official ``python:3.X-slim``
  image of this release, derived without any container registry (see ``slim_packages``).

Sources, all from the release's ``main`` component: ``Contents-<arch>.gz`` for each
architecture (files of architecture-specific packages), ``Contents-all.gz`` (files of
``Architecture: all`` packages, used for programs only: they ship no native libraries) and
``binary-amd64/Packages.xz`` (priorities and dependencies, for the slim image's package set).
Downloads are cached in ``--cache`` so that a rerun is offline.

Checked for bookworm 12.15: the derived python-slim package set (99 packages) is exactly what
``debootstrap --variant=minbase bookworm`` followed by ``apt-get install
--no-install-recommends`` of ca-certificates, netbase, tzdata and the owners of CPython's
libraries installs, and its sonames are that chroot's ``ldconfig -p`` (plus arm64's loader
and the ``libbz2.so.1`` link, which ldconfig does not list).

Kept small on purpose: development, debug, documentation, cross-compilation and multilib
(``lib32*``, ``libx32*``, ``lib64*``) packages are dropped, the full file name of a library
(``libGL.so.1.7.0``) is dropped when its soname link (``libGL.so.1``) is in the same package
and folder, and at most ``MAX_CANDIDATES`` packages are kept per name.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import re
import sys
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
TRIPLETS = {
    "amd64": "x86_64-linux-gnu",
    "arm64": "aarch64-linux-gnu",
    "armhf": "arm-linux-gnueabihf",
    "i386": "i386-linux-gnu",
    "ppc64el": "powerpc64le-linux-gnu",
    "s390x": "s390x-linux-gnu",
}
MAX_CANDIDATES = 4
OUT = Path(__file__).resolve().parent.parent / "dockermagic" / "data"

# What the official python:3.X-slim Dockerfile of a Debian release installs on top of
# debian:<release>-slim (itself `debootstrap --variant=minbase`: every Priority: required
# package, plus apt). ca-certificates, netbase and tzdata are installed explicitly; CPython's
# build dependencies are purged afterwards except the packages that own the libraries its
# binaries link (the Dockerfile runs `ldd` over /usr/local and `apt-mark manual`s their
# owners). Those libraries are listed by soname, so that each release's table names their
# packages itself (libssl3 in bookworm, libssl3t64 in trixie).
SLIM_EXPLICIT = ["ca-certificates", "netbase", "tzdata"]
SLIM_CPYTHON_SONAMES = [
    "libbz2.so.1.0",  # _bz2
    "libdb-5.3.so",  # _dbm
    "libexpat.so.1",  # pyexpat (--with-system-expat)
    "libffi.so.8",  # _ctypes
    "libgdbm.so.6",  # _gdbm
    "libgdbm_compat.so.4",  # _dbm
    "liblzma.so.5",  # _lzma
    "libncursesw.so.6",  # _curses
    "libpanelw.so.6",  # _curses_panel
    "libtinfo.so.6",
    "libreadline.so.8",  # readline
    "libsqlite3.so.0",  # _sqlite3
    "libssl.so.3",  # _ssl
    "libcrypto.so.3",  # _hashlib
    "libuuid.so.1",  # _uuid
    "libz.so.1",  # zlib, binascii
]
# CPython 3.9-3.12 also build the `nis` module (libnsl, which pulls libtirpc and Kerberos);
# 3.13 removed it. Sonames only these images have are listed apart.
SLIM_NIS_SONAMES = ["libnsl.so.2"]
# Programs that minbase's maintainer scripts create with update-alternatives, so no Contents
# line names them (checked against a debootstrapped chroot: these five are the difference).
SLIM_ALTERNATIVES = ["awk", "nawk", "pager", "rmt", "which"]

DROP_SUFFIXES = ("-dev", "-dbg", "-dbgsym", "-doc", "-dev-bin", "-cross", "-static")
MULTILIB = re.compile(r"^lib(32|x32|64|n32|hf|sf)[a-z]")
CROSS = re.compile(
    r"-(amd64|arm64|armel|armhf|i386|mips\w*|ppc64\w*|powerpc\w*|s390x|riscv64|x32|hppa|m68k|sh4|"
    r"alpha|sparc64|ia64|loong64|arc)-(cross|dcv1)$"
)
SONAME = re.compile(r"^[^/]+\.so(\.[0-9][0-9A-Za-z_]*)+$|^lib[^/]+\.so$")
BIN_DIRS = {"bin", "usr/bin", "sbin", "usr/sbin"}


def keep_package(name: str) -> bool:
    """Whether a package may provide runtime files for an image (no dev/debug/cross/multilib)."""
    return not (name.endswith(DROP_SUFFIXES) or MULTILIB.match(name) or CROSS.search(name))


def library_dirs(triplets: Iterable[str]) -> tuple[set[str], tuple[str, ...]]:
    """The folders the dynamic loader searches by default, and the prefixes of their subfolders."""
    top = {"lib", "usr/lib", "lib64", "usr/lib64"}
    nested = []
    for triplet in triplets:
        top |= {f"lib/{triplet}", f"usr/lib/{triplet}"}
        nested += [f"lib/{triplet}/", f"usr/lib/{triplet}/"]
    return top, tuple(nested)


def parse_contents(lines: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """(path, packages) for each line of a Contents index (``FILE  [[AREA/]SECTION/]PACKAGE,...``)."""
    for line in lines:
        parts = line.rstrip("\n").rsplit(None, 1)
        if len(parts) != 2 or parts[0] == "FILE":
            continue
        yield parts[0].strip(), [loc.rsplit("/", 1)[-1] for loc in parts[1].split(",")]


def classify(path: str, top: set[str], nested: tuple[str, ...]) -> tuple[str, str, int] | None:
    """('lib', soname, 0 top-level / 1 subfolder), ('bin', program, 0) or None for any other file."""
    folder, _, name = path.rpartition("/")
    if folder in BIN_DIRS and name:
        return "bin", name, 0
    if not SONAME.match(name):
        return None
    if folder in top:
        return "lib", name, 0
    if folder.startswith(nested) and not name.endswith(".so"):
        return "lib", name, 1
    return None


def collect(paths: Iterable[tuple[str, list[str]]], top: set[str], nested: tuple[str, ...], libraries: bool = True):
    """Group the interesting files of a Contents index: {(kind, package, folder): {name: depth}}."""
    found: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for path, packages in paths:
        kind = classify(path, top, nested)
        if kind is None or (kind[0] == "lib" and not libraries):
            continue
        folder = path.rpartition("/")[0]
        for package in packages:
            if keep_package(package):
                found[(kind[0], package, folder)][kind[1]] = kind[2]
    return found


def soname_links_only(names: Iterable[str]) -> set[str]:
    """Drop ``libX.so.1.7.0`` where ``libX.so.1`` is in the same folder of the same package.

    Only the longest name of a chain is dropped (the real file): ``libbz2.so.1.0`` stays
    beside ``libbz2.so.1`` and ``libbz2.so.1.0.4``, since it is the soname.
    """
    names = set(names)

    def extends(longer: str, shorter: str) -> bool:
        return longer != shorter and longer.startswith(shorter + ".")

    return {n for n in names if not (any(extends(n, m) for m in names) and not any(extends(m, n) for m in names))}


def policy_name(soname: str) -> str:
    """The package name Debian's library policy suggests for a soname, loosely: libGL.so.1 -> libgl1."""
    stem, _, version = soname.partition(".so")
    return (stem + version.replace(".", "")).lower().replace("-", "").replace("_", "")


def rank_library(soname: str, package: str, depth: int) -> tuple:
    """Sort key: top-level folders first, then the policy name, then runtime-library-looking short names."""
    loose = package.lower().replace("-", "").replace(".", "").replace("_", "")
    return (depth, loose != policy_name(soname), not package.startswith("lib"), len(package), package)


def rank_program(program: str, package: str) -> tuple:
    """Sort key: the package named after the program first, then shorter names."""
    return (package != program, len(package), package)


def build_maps(found) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, set[str]], dict[str, set[str]]]:
    """soname -> ranked packages, program -> ranked packages, and each package's sonames and programs."""
    libs: dict[str, dict[str, int]] = defaultdict(dict)
    bins: dict[str, set[str]] = defaultdict(set)
    by_package_libs: dict[str, set[str]] = defaultdict(set)
    by_package_bins: dict[str, set[str]] = defaultdict(set)
    for (kind, package, _folder), names in found.items():
        if kind == "bin":
            for name in names:
                bins[name].add(package)
                by_package_bins[package].add(name)
            continue
        for name in soname_links_only(names):
            depth = names[name]
            libs[name][package] = min(depth, libs[name].get(package, depth))
            if depth == 0:
                by_package_libs[package].add(name)
    sonames = {
        s: sorted(p, key=lambda pkg, s=s, p=p: rank_library(s, pkg, p[pkg]))[:MAX_CANDIDATES] for s, p in libs.items()
    }
    programs = {b: sorted(p, key=lambda pkg, b=b: rank_program(b, pkg))[:MAX_CANDIDATES] for b, p in bins.items()}
    return sonames, programs, by_package_libs, by_package_bins


def parse_packages(text: str) -> dict[str, dict[str, str]]:
    """Stanzas of a Packages index by package name (fields kept: Priority, Depends, Pre-Depends, Provides)."""
    packages: dict[str, dict[str, str]] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            packages.setdefault(fields["Package"], fields)
    return packages


def _names(field: str) -> list[list[str]]:
    """``a (>= 1) | b, c:any`` -> [['a', 'b'], ['c']]."""
    groups = []
    for group in filter(None, (g.strip() for g in field.split(","))):
        groups.append([re.split(r"[\s(:\[]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")])
    return groups


PRIORITY_ORDER = {"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}


def closure(packages: dict[str, dict[str, str]], roots: Iterable[str]) -> set[str]:
    """Every package that installing ``roots`` brings in, through Depends and Pre-Depends.

    Like apt, an alternative (``a | b``) or a virtual package is satisfied by a package that
    is already chosen or among the roots when there is one, else by the first real package,
    else by the provider of highest priority.
    """
    providers: dict[str, list[str]] = defaultdict(list)
    for name, fields in packages.items():
        for group in _names(fields.get("Provides", "")):
            providers[group[0]].append(name)
    roots = list(roots)
    preferred = {r for r in roots if r in packages}
    chosen: set[str] = set()

    def pick(group: list[str]) -> str:
        for alt in group:
            if alt in chosen or alt in preferred:
                return alt
        for alt in group:
            if alt in packages:
                return alt
        candidates = [p for alt in group for p in providers.get(alt, [])]
        for p in candidates:
            if p in chosen or p in preferred:
                return p
        rank = {p: (PRIORITY_ORDER.get(packages[p].get("Priority", ""), 9), p) for p in candidates}
        return min(candidates, key=rank.__getitem__, default="")

    todo = [pick([r]) for r in roots]
    missing = [r for r, p in zip(roots, todo) if not p]
    if missing:
        print(f"warning: {', '.join(missing)}: no such package; left out", file=sys.stderr)
    while todo:
        name = todo.pop()
        if not name or name in chosen:
            continue
        chosen.add(name)
        fields = packages[name]
        todo += [pick(group) for group in _names(fields.get("Pre-Depends", "")) + _names(fields.get("Depends", ""))]
    return chosen


def slim_packages(packages: dict[str, dict[str, str]], sonames: dict[str, list[str]], nis: bool) -> set[str]:
    """The package set of python:3.X-slim: minbase (Priority: required, and apt) plus what its Dockerfile keeps."""
    required = [name for name, fields in packages.items() if fields.get("Priority") == "required"]
    # debootstrap merges /usr itself and installs usr-is-merged (not usrmerge, the first alternative)
    minbase = [*required, "apt", "usr-is-merged"]
    libraries = SLIM_CPYTHON_SONAMES + (SLIM_NIS_SONAMES if nis else [])
    unknown = [s for s in libraries if s not in sonames]
    if unknown:
        print(f"warning: no package ships {', '.join(unknown)}; left out of python-slim", file=sys.stderr)
    owners = [sonames[s][0] for s in libraries if s in sonames]
    return closure(packages, [*minbase, *SLIM_EXPLICIT, *owners])


def download(url: str, cache: Path) -> tuple[Path, str]:
    """Fetch ``url`` into ``cache`` once (reused offline later); returns the file and its Last-Modified date."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / url.replace("://", "_").replace("/", "_")
    stamp = target.with_name(target.name + ".date")
    if not target.exists():
        print(f"downloading {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=120) as response:
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            partial.rename(target)
            stamp.write_text(response.headers.get("Last-Modified", ""))
    return target, stamp.read_text() if stamp.exists() else ""


def read_release(path: Path) -> dict[str, str]:
    """The header fields of an InRelease file (Codename, Version, Date)."""
    fields = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("MD5Sum:", "SHA256:")):
            break
        key, sep, value = line.partition(": ")
        if sep and not line.startswith(" "):
            fields[key] = value
    return fields


def generate(release: str, arches: list[str], mirror: str, cache: Path) -> dict:
    """The whole table as a JSON-ready dict."""
    base = f"{mirror}/dists/{release}"
    release_file, _ = download(f"{base}/InRelease", cache)
    info = read_release(release_file)
    top, nested = library_dirs(TRIPLETS[a] for a in arches)
    found: dict = defaultdict(dict)
    sources = []
    for arch in [*arches, "all"]:
        path, modified = download(f"{base}/main/Contents-{arch}.gz", cache)
        sources.append({"file": f"dists/{release}/main/Contents-{arch}.gz", "last_modified": modified})
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            for key, names in collect(parse_contents(f), top, nested, libraries=arch != "all").items():
                found[key].update(names)
    sonames, programs, package_libs, package_bins = build_maps(found)
    packages_path, modified = download(f"{base}/main/binary-amd64/Packages.xz", cache)
    sources.append({"file": f"dists/{release}/main/binary-amd64/Packages.xz", "last_modified": modified})
    with lzma.open(packages_path, "rt", encoding="utf-8", errors="replace") as f:
        index = parse_packages(f.read())
    slim = slim_packages(index, sonames, nis=False)
    slim_nis = slim_packages(index, sonames, nis=True)

    def libs_of(names: set[str]) -> set[str]:
        return set().union(*(package_libs.get(p, set()) for p in names))

    slim_sonames = libs_of(slim)
    return {
        "release": release,
        "version": info.get("Version", ""),
        "release_date": info.get("Date", ""),
        "mirror": mirror,
        "architectures": arches,
        "sources": sources,
        "generator": "scripts/gen_debian_tables.py",
        "sonames": dict(sorted(sonames.items())),
        "programs": dict(sorted(programs.items())),
        "python_slim": {
            "packages": sorted(slim),
            "sonames": sorted(slim_sonames),
            "programs": sorted(set(SLIM_ALTERNATIVES).union(*(package_bins.get(p, set()) for p in slim))),
            "nis_packages": sorted(slim_nis - slim),
            "nis_sonames": sorted(libs_of(slim_nis) - slim_sonames),
        },
    }


def write(table: dict, out: Path) -> None:
    """Compact JSON, gzip-compressed without a timestamp, so that equal tables give equal files."""
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(table, separators=(",", ":"), sort_keys=False).encode()
    with out.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
        f.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", default="bookworm")
    parser.add_argument("--arch", action="append", choices=sorted(TRIPLETS), help="default: amd64 and arm64")
    parser.add_argument("--mirror", default=MIRROR)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "dockermagic-debian")
    parser.add_argument("--out", type=Path, default=None, help="default: dockermagic/data/debian-RELEASE.json.gz")
    args = parser.parse_args(argv)
    table = generate(args.release, args.arch or ["amd64", "arm64"], args.mirror.rstrip("/"), args.cache)
    out = args.out or OUT / f"debian-{args.release}.json.gz"
    write(table, out)
    slim = table["python_slim"]
    print(
        f"{out}: {out.stat().st_size / 1e6:.2f} MB, {len(table['sonames'])} sonames, "
        f"{len(table['programs'])} programs, "
        f"python-slim: {len(slim['packages'])} packages, {len(slim['sonames'])} sonames",
        file=sys.stderr,
    )
    print(f"Debian {table['release']} {table['version']}, {table['release_date']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
