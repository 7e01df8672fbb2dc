"""Check, while the image is built, that the environment's native code will load in it.

    python -m _dockermagic_runtime.checklibs --venv /opt/venv [--program NAME[=PACKAGE] ...]
        [--library SONAME[=PACKAGE] ...] [--hint SONAME=PACKAGE ...] [--jobs N] [--ldd]

Runs in the final image with its own Python and the standard library only. Every shared
object under the virtual environment goes through the dynamic loader in trace mode (what
``ldd`` does, without its shell wrapper; ``ldd`` in batches with ``--ldd`` or when the
loader cannot be found), several at a time; a library reported as ``not found`` is a module
that would fail at import with ``ImportError: libGL.so.1: cannot open shared object file``.
``--library`` names libraries that packages load with ctypes (they must be known to
``ldconfig``), ``--program`` programs the code runs (they must be on PATH). ``--hint`` and
the ``=PACKAGE`` parts name the Debian package that provides each, for the message.

Prints one line per problem and exits 1, or prints a one-line summary and exits 0. A
library that ``ldd`` cannot find but that the environment bundles somewhere (a wheel's
``*.libs`` folder, reached at run time through the module that loads it) is not a problem,
nor are the GPU driver's libraries, which the container runtime provides when it starts.
"""

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

SHARED_OBJECT = re.compile(r"\.so(\.[0-9][0-9A-Za-z_]*)*$|\.so\.")
PROVIDED_AT_RUN_TIME = {
    "libcuda.so.1",
    "libnvidia-ml.so.1",
    "libnvcuvid.so.1",
    "libnvidia-encode.so.1",
    "libnvidia-opticalflow.so.1",
    "libnvidia-ptxjitcompiler.so.1",
}
NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
BATCH = 16


def elf_machine(path):
    """(EI_CLASS, e_machine) of an ELF file, or None when it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "<" if head[5] == 1 else ">"
    return head[4], struct.unpack(order + "H", head[18:20])[0]


def shared_objects(venv, machine):
    """ELF shared objects (and executables in ``bin`` folders) under ``venv`` built for ``machine``."""
    found = []
    for root, _dirs, names in os.walk(venv):
        in_bin = os.path.basename(root) == "bin"
        for name in names:
            path = os.path.join(root, name)
            if not SHARED_OBJECT.search(name) and not (in_bin and os.access(path, os.X_OK)):
                continue
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if elf_machine(path) == machine:
                found.append(path)
    return sorted(found)


def parse_ldd(text, paths):
    """{path: [sonames not found]} from the output of ``ldd PATH...``.

    With several files ldd prints ``PATH:`` before each one's list; with one, no header.
    """
    missing = {p: [] for p in paths}
    current = paths[0] if len(paths) == 1 else None
    wanted = set(paths)
    for line in text.splitlines():
        if not line.startswith(("\t", " ")) and line.endswith(":") and line[:-1] in wanted:
            current = line[:-1]
            continue
        match = NOT_FOUND.match(line)
        if match and current is not None and match.group(1) not in missing[current]:
            missing[current].append(match.group(1))
    return missing


def interpreter(path):
    """The dynamic loader an ELF executable names (PT_INTERP), e.g. /lib64/ld-linux-x86-64.so.2, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF":
                return None
            order = "<" if head[5] == 1 else ">"
            if head[4] == 2:
                (phoff,) = struct.unpack(order + "Q", head[0x20:0x28])
                entsize, count = struct.unpack(order + "HH", head[0x36:0x3A])
                layout, fields = order + "IIQQQQ", (2, 5)  # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz
            else:
                (phoff,) = struct.unpack(order + "I", head[0x1C:0x20])
                entsize, count = struct.unpack(order + "HH", head[0x2A:0x2E])
                layout, fields = order + "IIIII", (1, 4)  # p_type, p_offset, p_vaddr, p_paddr, p_filesz
            size = struct.calcsize(layout)
            for i in range(count):
                f.seek(phoff + i * entsize)
                entry = struct.unpack(layout, f.read(size))
                if entry[0] == 3:  # PT_INTERP
                    f.seek(entry[fields[0]])
                    name = f.read(entry[fields[1]]).rstrip(b"\0").decode()
                    return name if os.path.exists(name) else None
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


LOAD_ERROR = re.compile(r"error while loading shared libraries: ([^:\s]+): cannot open")


def list_needs(command, paths):
    """Sonames the loader cannot resolve for ``paths``: ``command`` is ``[loader]`` or ``["ldd"]``.

    The loader runs as ldd runs it: with ``LD_TRACE_LOADED_OBJECTS=1`` it lists each
    dependency (``libGL.so.1 => not found``) instead of running the file. A loader that
    stops at the first missing library instead is read too.
    """
    env = dict(os.environ, LD_TRACE_LOADED_OBJECTS="1", LD_WARN="", LD_BIND_NOW="", LD_VERBOSE="")
    try:
        done = subprocess.run(
            command + list(paths),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=120,
            check=False,
            env=env if command[0] != "ldd" else None,
        )
    except (OSError, subprocess.SubprocessError):
        return {p: [] for p in paths}
    missing = parse_ldd(done.stdout, list(paths))
    if len(paths) == 1:
        for soname in LOAD_ERROR.findall(done.stderr):
            if soname not in missing[paths[0]]:
                missing[paths[0]].append(soname)
    return missing


def unresolved(paths, jobs, loader=None):
    """{soname: [paths needing it]} over all ``paths``, ``jobs`` processes at a time.

    With the dynamic loader itself (``LD_TRACE_LOADED_OBJECTS=1 ld.so FILE``, what ``ldd``
    runs, without ldd's shell around it: several times faster) one file per process; else
    ``ldd`` in batches.
    """
    if loader:
        batches, command = [[p] for p in paths], [loader]
    else:
        batches, command = [paths[i : i + BATCH] for i in range(0, len(paths), BATCH)], ["ldd"]
    result = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for missing in pool.map(lambda batch: list_needs(command, batch), batches):
            for path, sonames in missing.items():
                for soname in sonames:
                    result.setdefault(soname, []).append(path)
    return result


def site_packages(venv):
    """The environment's site-packages folder, or the environment itself."""
    lib = os.path.join(venv, "lib")
    for name in sorted(os.listdir(lib)) if os.path.isdir(lib) else []:
        candidate = os.path.join(lib, name, "site-packages")
        if name.startswith("python") and os.path.isdir(candidate):
            return candidate
    return venv


def display(path, venv, site):
    base = site if path.startswith(site + os.sep) else venv
    return os.path.relpath(path, base).replace(os.sep, "/")


def module_first(relpath):
    """Sort key: extension modules before libraries bundled in ``*.libs`` folders, shallower first."""
    parts = relpath.split("/")
    return (any(p.endswith(".libs") for p in parts[:-1]), len(parts), relpath)


def who(paths):
    ordered = sorted(paths, key=module_first)
    return ordered[0] + (" (and %d more)" % (len(ordered) - 1) if len(ordered) > 1 else "")


def fix(package):
    if package:
        return "add its Debian package with --apt %s" % package
    return "no Debian package is known to provide it; add the one that does with --apt PACKAGE"


def known_sonames():
    """Sonames the dynamic loader's cache knows (``ldconfig -p``), or None without ldconfig."""
    for ldconfig in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            done = subprocess.run(
                [ldconfig, "-p"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                universal_newlines=True,
                check=False,
            )
        except OSError:
            continue
        return {line.split()[0] for line in done.stdout.splitlines() if line[:1] in " \t" and "=>" in line}
    return None


def pairs(values):
    """['dot=graphviz', 'java'] -> {'dot': 'graphviz', 'java': None}."""
    result = {}
    for value in values or []:
        name, _, package = value.partition("=")
        if name:
            result[name] = package or result.get(name)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m _dockermagic_runtime.checklibs")
    parser.add_argument("--venv", default="/opt/venv")
    parser.add_argument("--program", action="append", metavar="NAME[=PACKAGE]", help="a program that must be on PATH")
    parser.add_argument("--library", action="append", metavar="SONAME[=PACKAGE]", help="a library loaded with ctypes")
    parser.add_argument("--hint", action="append", metavar="SONAME=PACKAGE", help="the package providing a soname")
    parser.add_argument("--jobs", type=int, default=min(8, (os.cpu_count() or 1) * 2))
    parser.add_argument("--ldd", action="store_true", help="run ldd instead of the dynamic loader directly")
    parser.add_argument("--skip", action="append", metavar="RELPATH", help="a file not to check (a window plugin)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    venv = os.path.abspath(args.venv)
    hints = pairs(args.hint)
    libraries = pairs(args.library)
    programs = pairs(args.program)
    hints.update({k: v for k, v in libraries.items() if v})

    machine = elf_machine(os.path.realpath(sys.executable))
    paths = shared_objects(venv, machine) if machine else []
    bundled = {os.path.basename(p) for p in paths}
    site = site_packages(venv)
    skip = set(args.skip or ())
    paths = [p for p in paths if display(p, venv, site) not in skip]
    problems = []
    loader = None if args.ldd else interpreter(os.path.realpath(sys.executable))
    if paths and not loader and shutil.which("ldd") is None:
        print("dockermagic: no dynamic loader or ldd found in the image; native libraries not checked", flush=True)
        paths = []
    for soname, needers in sorted(unresolved(paths, args.jobs, loader).items()):
        if soname in bundled or soname in PROVIDED_AT_RUN_TIME:
            continue
        names = [display(p, venv, site) for p in needers]
        problems.append("%s needed by %s is missing in the image: %s" % (soname, who(names), fix(hints.get(soname))))
    if libraries:
        cache = known_sonames()
        for soname, package in sorted(libraries.items()):
            if cache is not None and soname not in cache:
                problems.append("%s (loaded with ctypes) is missing in the image: %s" % (soname, fix(package)))
    for program, package in sorted(programs.items()):
        if shutil.which(program) is None:
            problems.append("program %s is not on PATH in the image: %s" % (program, fix(package)))
    for line in problems:
        print("dockermagic: " + line, flush=True)
    if problems:
        return 1
    found = ["the libraries of %d shared objects resolve" % len(paths)]
    if libraries:
        found.append("%d ctypes librar%s found" % (len(libraries), "y" if len(libraries) == 1 else "ies"))
    if programs:
        found.append("%d program%s on PATH" % (len(programs), "" if len(programs) == 1 else "s"))
    print("dockermagic: %s (%.1f s)" % (", ".join(found), time.monotonic() - started), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
