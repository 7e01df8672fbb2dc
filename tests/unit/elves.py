"""Synthetic shared objects for the tests of shared libraries and of the system-package plan,
built with gcc, and their ``InstalledFile`` entries."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from dockermagic import sharedlibs

HAVE_GCC = shutil.which("gcc") is not None
needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="gcc builds the synthetic shared objects")
needs_elftools = pytest.mark.skipif(importlib.util.find_spec("elftools") is None, reason="pyelftools")


def _cc(out: Path, source: str, *flags: str) -> Path:
    """A shared object built from C source with gcc (flags go after the source: -L, -l, -Wl,...)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(src), *flags], check=True, capture_output=True)
    src.unlink()
    return out


def build_elves(root: Path) -> dict:
    """Synthetic shared objects under ``root``: libdmdep.so.1 (with its soname), an extension module
    linking it through an $ORIGIN rpath to a bundled ``pkg.libs`` folder, and one linking a soname
    nothing provides."""
    dep = _cc(root / "pkg.libs" / "libdmdep.so.1", "int dm_dep(void){return 1;}", "-Wl,-soname,libdmdep.so.1")
    gone = _cc(root / "build" / "libdmgone.so.7", "int dm_gone(void){return 7;}", "-Wl,-soname,libdmgone.so.7")
    ext = _cc(
        root / "pkg" / "_ext.cpython-311-x86_64-linux-gnu.so",
        "int dm_dep(void); int f(void){return dm_dep();}",
        f"-L{dep.parent}",
        "-l:libdmdep.so.1",
        "-Wl,-rpath,$ORIGIN/../pkg.libs",
    )
    orphan = _cc(
        root / "pkg" / "_orphan.cpython-311-x86_64-linux-gnu.so",
        "int dm_gone(void); int g(void){return dm_gone();}",
        f"-L{gone.parent}",
        "-l:libdmgone.so.7",
        "-Wl,--no-as-needed",
        "-lgomp",
    )
    return {"root": root, "dep": dep, "gone": gone, "ext": ext, "orphan": orphan}


def files_of(root: Path, *paths: Path, dist: str = "dmpkg") -> list:
    """``InstalledFile`` entries of ``dist`` for ``paths`` under ``root``."""
    return [sharedlibs.InstalledFile(dist, p.relative_to(root).as_posix(), p) for p in paths]
