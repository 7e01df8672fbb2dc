"""The shared libraries of a notebook's Python environment, and what they need from the system.

A wheel brings its own Python code and usually most of its native libraries, but not all of
them: ``opencv-python`` expects ``libGL.so.1`` and glib from the system, ``lightgbm``
expects ``libgomp.so.1``. This module finds those libraries without running anything:

1. :func:`installed_files` lists the files of the required distributions (their RECORD);
2. :func:`read_elf` reads the ELF dynamic section (``DT_NEEDED``, ``DT_RPATH``/``DT_RUNPATH``,
   ``DT_SONAME``) of every extension module, bundled library and executable among them;
3. :func:`scan_environment` resolves each needed soname inside the environment, the way the
   dynamic loader would (rpath with ``$ORIGIN``, the file's own folder, another
   distribution's bundled copy), and :func:`needed_by_distribution` keeps what is left for
   the system;
4. :func:`missing_libraries` compares that with the sonames of the base image
   (:func:`parse_ldconfig` of its ``ldconfig -p``, or the shipped list of
   :func:`dockermagic.debian.python_slim_sonames`).

glibc's libraries (:data:`ALWAYS_PRESENT`) and the GPU driver's (:data:`PROVIDED_AT_RUN_TIME`)
are never asked from the system. Qt's window plugins (:data:`WINDOW_PLUGIN`, :func:`window_only`)
need X11 or Wayland libraries only a display uses; the plan leaves them to the user.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .runtime.checklibs import PROVIDED_AT_RUN_TIME as _DRIVER_LIBRARIES
from .runtime.checklibs import SHARED_OBJECT as _SHARED_OBJECT

# Sonames of glibc and its dynamic loaders: every Debian image has them (package libc6).
ALWAYS_PRESENT = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libmvec.so.1",
        "libBrokenLocale.so.1",
        "libthread_db.so.1",
        "libc_malloc_debug.so.0",
        "libnss_files.so.2",
        "libnss_dns.so.2",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "ld-linux.so.2",
        "ld-linux-armhf.so.3",
        "ld64.so.2",
        "ld64.so.1",
        "linux-vdso.so.1",
    }
)

# Libraries of the GPU driver: NVIDIA's container runtime mounts them into the container when
# it starts (`--gpus`). No Debian package of the image may provide them, and none is needed.
# One list, kept by the check that runs in the image (standard library only).
PROVIDED_AT_RUN_TIME = frozenset(_DRIVER_LIBRARIES)
_MACHINES = {"x86_64": "EM_X86_64", "amd64": "EM_X86_64", "aarch64": "EM_AARCH64", "arm64": "EM_AARCH64"}


# --- ELF --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElfInfo:
    """What the dynamic loader reads from an ELF file.

    Attributes:
        needed: ``DT_NEEDED`` sonames, in order.
        rpath: ``DT_RPATH`` entries (``$ORIGIN`` not expanded).
        runpath: ``DT_RUNPATH`` entries (``$ORIGIN`` not expanded).
        soname: ``DT_SONAME``, if any.
        machine: ``e_machine``, e.g. ``EM_X86_64``.
    """

    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    soname: Optional[str] = None
    machine: str = ""


#: what :func:`read_elf` found, by (path, size, modification time): a kernel dockerizes again
#: and again after small edits, and its libraries do not change in between
_ELF_CACHE: dict[tuple[str, int, int], Optional[ElfInfo]] = {}


def read_elf(path: str | os.PathLike[str]) -> Optional[ElfInfo]:
    """The dynamic section of an ELF file, or None for anything that is not a readable ELF file.

    A static executable or a file without a dynamic segment gives an ``ElfInfo`` with no
    ``needed``; a truncated or corrupt file, a text file, or a file that cannot be opened
    gives None. Needs pyelftools. Remembered until the file changes.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (os.fspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _ELF_CACHE:
        _ELF_CACHE[key] = _read_elf(path)
    return _ELF_CACHE[key]


def _read_elf(path: str | os.PathLike[str]) -> Optional[ElfInfo]:
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
            f.seek(0)
            elf = ELFFile(f)
            machine = str(elf["e_machine"])
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            soname = None
            for segment in elf.iter_segments():
                if not isinstance(segment, DynamicSegment):
                    continue
                tags: list[Any] = list(segment.iter_tags())  # pyelftools sets .needed/.rpath/... per kind
                for tag in tags:
                    kind = tag.entry.d_tag
                    if kind == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif kind == "DT_RPATH":
                        rpath += [p for p in tag.rpath.split(":") if p]
                    elif kind == "DT_RUNPATH":
                        runpath += [p for p in tag.runpath.split(":") if p]
                    elif kind == "DT_SONAME":
                        soname = tag.soname
                break
            return ElfInfo(tuple(needed), tuple(rpath), tuple(runpath), soname, machine)
    except Exception:  # pyelftools raises many kinds on corrupt input (ELFError, struct.error, ...)
        return None


def host_machine() -> str:
    """``e_machine`` name of this interpreter's architecture (``EM_X86_64``), or "" if unknown."""
    info = read_elf(sys.executable)
    if info is not None:
        return info.machine
    import platform

    return _MACHINES.get(platform.machine().lower(), "")


def expand_origin(entry: str, origin: str) -> str:
    """An rpath entry with ``$ORIGIN``/``${ORIGIN}`` replaced by ``origin``, normalized."""
    return posixpath.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))


def looks_like_shared_object(name: str) -> bool:
    """Whether a file name is that of a shared object (``x.so``, ``libx.so.1``, ``libx-ab12.so.1.2.3``)."""
    return bool(_SHARED_OBJECT.search(posixpath.basename(name)))


# --- the environment's files ------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledFile:
    """One installed file of a distribution.

    Attributes:
        distribution: the distribution's name as its metadata spells it (``opencv-python``).
        relpath: path relative to the distribution's site-packages, ``/``-separated, as in
            its RECORD (``cv2/cv2.abi3.so``; scripts are ``../../../bin/NAME``).
        path: where the file is on this machine.
    """

    distribution: str
    relpath: str
    path: Path


def installed_files(distributions: Iterable) -> list[InstalledFile]:
    """The files of ``importlib.metadata`` distributions that exist on disk.

    Takes ``Distribution`` objects (``importlib.metadata.distribution(name)``); a
    distribution without a RECORD contributes nothing.
    """
    files = []
    for dist in distributions:
        files += _files_of(dist)
    return files


_FILES_CACHE: dict[tuple[str, str, str], list[InstalledFile]] = {}


def _files_of(dist) -> list[InstalledFile]:
    """One distribution's files, remembered by its name, version and place (a reinstall changes them)."""
    name = dist.metadata["Name"] or ""
    key = (name, dist.version or "", str(dist.locate_file("")))
    if key not in _FILES_CACHE:
        found = []
        for entry in dist.files or ():
            path = Path(dist.locate_file(entry))
            if path.is_file():
                found.append(InstalledFile(name, str(entry).replace(os.sep, "/"), path))
        _FILES_CACHE[key] = found
    return _FILES_CACHE[key]


def environment_programs(files: Iterable[InstalledFile]) -> set[str]:
    """Programs the environment itself puts on PATH: its scripts (``../../../bin/NAME``)."""
    return {posixpath.basename(f.relpath) for f in files if posixpath.dirname(f.relpath).endswith("bin")}


def display_path(relpath: str) -> str:
    """``../../../bin/ruff`` -> ``bin/ruff``; other paths unchanged."""
    parts = relpath.split("/")
    while parts and parts[0] == "..":
        parts.pop(0)
    return "/".join(parts)


def _is_candidate(f: InstalledFile) -> bool:
    if looks_like_shared_object(f.relpath):
        return True
    if "." in posixpath.basename(f.relpath):
        return False
    try:
        return bool(f.path.stat().st_mode & 0o111)
    except OSError:
        return False


@dataclass
class Scan:
    """Every ELF file of the environment, how their sonames resolve, and what is left for the system."""

    distribution: dict[str, str] = field(default_factory=dict)  # relpath -> distribution
    system: dict[str, tuple[str, ...]] = field(default_factory=dict)  # relpath -> sonames from the system
    loads: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # relpath -> bundled relpaths


def scan_environment(files: Iterable[InstalledFile], machine: Optional[str] = None) -> Scan:
    """Read every shared object (and executable) of ``files`` and resolve their needs inside the environment.

    A needed soname is provided by the environment when a file of that name (or with that
    ``DT_SONAME``) is, in order: in one of the file's rpath/runpath folders (``$ORIGIN``
    expanded), in the file's own folder, or anywhere among ``files`` (another distribution's
    bundled copy, found through a relative rpath or loaded before with ctypes, as torch does
    for the nvidia-* wheels). Libraries of glibc and of the GPU driver are never asked from
    the system. Files built for another architecture than ``machine`` (default: this
    interpreter's) are ignored.
    """
    machine = host_machine() if machine is None else machine
    elves: dict[str, ElfInfo] = {}
    scan = Scan()
    for f in files:
        if not _is_candidate(f):
            continue
        info = read_elf(f.path)
        if info is None or (machine and info.machine != machine):
            continue
        elves[f.relpath] = info
        scan.distribution[f.relpath] = f.distribution
    by_name: dict[str, list[str]] = defaultdict(list)
    by_place: dict[tuple[str, str], str] = {}
    for relpath, info in elves.items():
        folder, name = posixpath.split(relpath)
        names = {name} | ({info.soname} if info.soname else set())
        for n in sorted(names):
            by_name[n].append(relpath)
            by_place[(posixpath.normpath(folder or "."), n)] = relpath
    for relpath, info in sorted(elves.items()):
        origin = posixpath.dirname(relpath) or "."
        folders = [expand_origin(e, origin) for e in (*info.rpath, *info.runpath)] + [posixpath.normpath(origin)]
        system = []
        for soname in info.needed:
            provider = next((by_place[(d, soname)] for d in folders if (d, soname) in by_place), None)
            provider = provider or next(iter(sorted(by_name.get(soname, []))), None)
            if provider is not None:
                if provider != relpath:
                    scan.loads[relpath].add(provider)
            elif soname not in ALWAYS_PRESENT and soname not in PROVIDED_AT_RUN_TIME:
                system.append(soname)
        scan.system[relpath] = tuple(dict.fromkeys(system))
    return scan


def needed_by_distribution(
    files: Iterable[InstalledFile], machine: Optional[str] = None
) -> dict[str, dict[str, tuple[str, ...]]]:
    """For each distribution, each of its ELF files and the sonames it expects from the system.

    Args:
        files: the installed files of the required distributions (:func:`installed_files`).
        machine: keep only ELF files for this ``e_machine`` (default: this interpreter's).

    Returns:
        ``{distribution: {relpath: (soname, ...)}}`` with every ELF file that needs at least
        one soname that the environment does not provide (see :func:`scan_environment` for the
        rules); glibc's own libraries are left out. Example: ``{"lightgbm": {"lightgbm/lib/lib_lightgbm.so":
        ("libstdc++.so.6", "libgomp.so.1", "libgcc_s.so.1")}}``.
    """
    scan = scan_environment(files, machine)
    result: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for relpath, sonames in scan.system.items():
        if sonames:
            result[scan.distribution[relpath]][relpath] = sonames
    return dict(result)


def missing_libraries(
    needed: Mapping[str, Mapping[str, Sequence[str]]], base_sonames: Iterable[str]
) -> dict[str, list[str]]:
    """The needed sonames the base image lacks: ``{soname: [relpaths of the files needing it]}``.

    ``needed`` is :func:`needed_by_distribution`'s result; ``base_sonames`` the sonames of the
    base image (:func:`parse_ldconfig`, :func:`dockermagic.debian.python_slim_sonames`).
    glibc's libraries and the GPU driver's count as present. Paths are sorted, extension
    modules before libraries bundled in ``*.libs`` folders.
    """
    present = set(base_sonames) | ALWAYS_PRESENT | PROVIDED_AT_RUN_TIME
    missing: dict[str, set[str]] = defaultdict(set)
    for per_file in needed.values():
        for relpath, sonames in per_file.items():
            for soname in sonames:
                if soname not in present:
                    missing[soname].add(relpath)
    return {s: sorted(paths, key=module_first) for s, paths in sorted(missing.items())}


def module_first(relpath: str) -> tuple:
    """Sort key putting extension modules first: files outside ``*.libs`` folders, shallow paths, then by name."""
    bundled = any(part.endswith(".libs") for part in relpath.split("/")[:-1])
    return (bundled, relpath.count("/"), relpath)


def parse_ldconfig(text: str) -> set[str]:
    """Sonames in ``ldconfig -p`` output (``\\tlibz.so.1 (libc6,x86-64) => /lib/.../libz.so.1``)."""
    names = set()
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and "=>" in line:
            names.add(line.split()[0])
    return names


def is_extension_module(relpath: str) -> bool:
    """Whether a file is a Python extension module (``x.cpython-311-x86_64-linux-gnu.so``, ``cv2.abi3.so``)."""
    name = posixpath.basename(relpath)
    if re.search(r"\.(cpython-[^.]+|abi3|pypy[^.]*)\.so$", name):
        return True
    return name.endswith(".so") and not name.startswith("lib") and not module_first(relpath)[0]


def roots(scan: Scan, relpath: str) -> list[str]:
    """The ELF files nothing else loads (extension modules, plugins, ctypes targets) whose needs reach ``relpath``."""
    parents: dict[str, set[str]] = defaultdict(set)
    for parent, children in scan.loads.items():
        for child in children:
            parents[child].add(parent)
    found, queue, seen = [], deque([relpath]), {relpath}
    while queue:
        node = queue.popleft()
        if not parents.get(node):
            found.append(node)
        for up in sorted(parents.get(node, set()) - seen):
            seen.add(up)
            queue.append(up)
    return found


# --- Qt's window plugins ---------------------------------------------------------------------


#: Qt's plugins that only a window on a display loads (``cv2.imshow``): a container has no
#: display, so their X11/Wayland libraries are not installed unless asked for with ``--apt``
WINDOW_PLUGIN = re.compile(
    r"(^|/)plugins/(platforms|platformthemes|platforminputcontexts|xcbglintegrations|egldeviceintegrations"
    r"|wayland-[^/]+)/"
)


def window_only(scan: Scan) -> set[str]:
    """The ELF files only Qt's window plugins load: the plugins, and the libraries bundled for them alone."""
    plugins = {relpath for relpath in scan.system if WINDOW_PLUGIN.search(relpath)}
    if not plugins:
        return set()
    return {relpath for relpath in scan.system if set(roots(scan, relpath)) <= plugins}
