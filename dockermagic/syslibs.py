"""System libraries and programs a notebook's environment needs from the image's Debian.

A wheel brings its own Python code and usually most of its native libraries, but not all of
them: ``opencv-python`` expects ``libGL.so.1`` and glib from the system, ``lightgbm``
expects ``libgomp.so.1``, and ``graphviz`` runs the ``dot`` program. On a full desktop they
are there; in ``python:3.X-slim`` they are not, and the import (or the call) fails only when
the program runs. :func:`plan_system_packages` finds them before the build and names the
Debian packages that provide them, with three modules:

1. :mod:`dockermagic.sharedlibs` reads the ELF dynamic section (``DT_NEEDED``,
   ``DT_RPATH``/``DT_RUNPATH``) of every extension module and bundled library of the
   required distributions, keeps the sonames that nothing in the environment provides
   (:func:`~dockermagic.sharedlibs.needed_by_distribution`), and compares them with the
   sonames of the base image (:func:`~dockermagic.sharedlibs.missing_libraries`);
2. :mod:`dockermagic.programs` finds the programs the code and its packages run
   (:func:`~dockermagic.programs.programs_in_source`,
   :data:`~dockermagic.programs.PROGRAM_WRAPPERS`) and the libraries well-known wrappers
   load with ctypes;
3. :mod:`dockermagic.debian` maps both to Debian packages of the base image's release (a
   table generated from Debian's Contents index by ``scripts/gen_debian_tables.py``, then the
   host's ``dpkg -S`` when the host runs that very release), and knows what
   ``python:3.X-slim`` already has;
4. :func:`plan_system_packages`, here, does all of it and returns a :class:`SystemPlan`:
   packages with the reason for each, and what no package is known to provide.

The check inside the image (``_dockermagic_runtime.checklibs``, ``ldd`` on every shared
object) is the authority; this static plan makes that check pass on the first build.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Optional

from .debian import (
    DEFAULT_RELEASE,
    DebianTable,
    host_dpkg_packages,
    load_table,
    package_for_program,
    package_for_soname,
    python_slim_programs,
    python_slim_sonames,
)
from .programs import (
    SHELL_BUILTINS,
    libraries_of_distributions,
    normalize,
    programs_in_source,
    programs_of_distributions,
)
from .sharedlibs import (
    ALWAYS_PRESENT,
    PROVIDED_AT_RUN_TIME,
    WINDOW_PLUGIN,
    InstalledFile,
    Scan,
    display_path,
    environment_programs,
    is_extension_module,
    missing_libraries,
    module_first,
    roots,
    scan_environment,
    window_only,
)

# Distributions with a variant that needs nothing from the system, for a note in the plan.
# Measured: opencv-python needs libGL, glib and X11 libraries for its Qt GUI (about 200 MB
# of Debian packages: libgl1 pulls Mesa and LLVM), opencv-python-headless needs none.
LIGHTER_VARIANTS: dict[str, str] = {
    "opencv-python": "opencv-python-headless",
    "opencv-contrib-python": "opencv-contrib-python-headless",
}


@dataclass
class SystemPlan:
    """Debian packages the final image needs, and why.

    Attributes:
        packages: ``(package, reason)`` sorted by package, e.g. ``("libgl1", "libGL.so.1
            needed by cv2/cv2.abi3.so")``; install them in the final stage.
        unknown: ``(soname, needed_by)`` for libraries no package is known to provide
            (stop the build, suggest ``--apt``).
        unknown_programs: ``(program, used_by)`` for programs no package is known to provide.
        libraries: every soname expected from the system -> its package (or None), for the
            check in the image (:meth:`check_args`).
        programs: every program the code or its packages run that the environment does
            not provide -> its package (or None).
        release: the Debian release the names are valid for.
        ctypes_libraries: sonames well-known wrappers load with ctypes/cffi -> package; the
            check looks them up in the image's ``ldconfig -p`` (``ldd`` cannot see them).
        notes: advice for the user (a variant of a distribution that needs no system library).
        skipped: files (as ``display_path`` shows them) whose libraries are not installed:
            Qt's window plugins and what only they load; the check in the image skips them.
    """

    packages: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    unknown_programs: list[tuple[str, str]] = field(default_factory=list)
    libraries: dict[str, Optional[str]] = field(default_factory=dict)
    programs: dict[str, Optional[str]] = field(default_factory=dict)
    release: str = DEFAULT_RELEASE
    notes: list[str] = field(default_factory=list)
    ctypes_libraries: dict[str, Optional[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def package_names(self) -> list[str]:
        """The packages alone, in install order."""
        return [p for p, _ in self.packages]

    def dry_run_lines(self) -> list[str]:
        """``libgl1: libGL.so.1 needed by cv2/cv2.abi3.so``, one per package, then what is unknown."""
        lines = [f"{p}: {reason}" for p, reason in self.packages]
        lines += [f"{s}: no Debian {self.release} package known ({who}); add one with --apt" for s, who in self.unknown]
        lines += [
            f"{p}: program not found in any Debian {self.release} package ({who}); add one with --apt"
            for p, who in self.unknown_programs
        ]
        return lines

    def check_args(self) -> list[str]:
        """Arguments for ``python -m _dockermagic_runtime.checklibs`` naming packages and programs to check."""
        args = [f"--hint={s}={p}" for s, p in sorted(self.libraries.items()) if p]
        args += [f"--library={s}={p}" if p else f"--library={s}" for s, p in sorted(self.ctypes_libraries.items())]
        for program, package in sorted(self.programs.items()):
            args.append(f"--program={program}={package}" if package else f"--program={program}")
        args += [f"--skip={path}" for path in self.skipped]
        return args


def _who(paths: Sequence[str], scan: Optional[Scan] = None) -> str:
    """Who needs a library, best first: an extension module, naming the bundled library in between.

    ``cv2/cv2.abi3.so (through opencv_python.libs/libQt5Gui-afbd4980.so.5.15.19) and 3 more``.
    """
    choices = []
    for path in paths:
        for root in roots(scan, path) if scan is not None else [path]:
            choices.append(((not is_extension_module(root), module_first(root), module_first(path)), root, path))
    _, root, path = min(choices)
    text = display_path(root) if root == path else f"{display_path(root)} (through {display_path(path)})"
    return text + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")


def plan_system_packages(
    files: Iterable[InstalledFile],
    program_sources: Iterable[str] = (),
    base_sonames: Optional[Iterable[str]] = None,
    release: str = DEFAULT_RELEASE,
    *,
    python_version: Optional[str] = None,
    base_programs: Optional[Iterable[str]] = None,
    extra_packages: Iterable[str] = (),
    machine: Optional[str] = None,
    use_host_dpkg: bool = True,
) -> SystemPlan:
    """The Debian packages the final image must install for the environment and the program to run.

    Args:
        files: installed files of the required distributions (:func:`installed_files`).
        program_sources: Python source of the exported program (and of local modules it
            imports); programs it runs are found with :func:`programs_in_source`.
        base_sonames: sonames of the final base image (``parse_ldconfig`` of its
            ``ldconfig -p``); default: :func:`python_slim_sonames` of ``python_version``.
        release: Debian codename of the base image; package names are valid there.
        python_version: ``"3.11"``; default: this interpreter's.
        base_programs: programs on the base image's PATH; default: :func:`python_slim_programs`.
        extra_packages: packages the user asked for (``--apt``); reason "added with --apt".
        machine: ELF ``e_machine`` of the image (default: this interpreter's).
        use_host_dpkg: ask this machine's dpkg for what the table lacks (only when it runs
            ``release``: :func:`host_dpkg_packages`).

    Returns:
        A :class:`SystemPlan`. Libraries the environment needs from the system that the base
        lacks, plus libraries well-known wrappers load with ctypes, plus programs the code
        or its packages run that neither the base nor the environment has, each mapped to
        one package.
    """
    files = list(files)
    python_version = python_version or "%d.%d" % sys.version_info[:2]
    table = load_table(release)
    base = set(python_slim_sonames(python_version, release) if base_sonames is None else base_sonames)
    on_path = set(python_slim_programs(python_version, release) if base_programs is None else base_programs)
    on_path |= environment_programs(files) | SHELL_BUILTINS

    scan = scan_environment(files, machine)
    skipped = window_only(scan)
    distributions = {f.distribution for f in files}
    per_dist = _needed_from_system(scan, skipped)
    missing, ctypes_sonames = _missing_from_base(scan, per_dist, base, distributions)
    uses = _program_uses(program_sources, distributions, on_path)
    dpkg_release = release if use_host_dpkg else None
    lib_packages = _packages(missing, package_for_soname, table, "lib", dpkg_release)
    program_packages = _packages(uses, package_for_program, table, "bin", dpkg_release)
    return SystemPlan(
        notes=_variant_notes(per_dist, missing) + _window_notes(scan, skipped, base, missing),
        skipped=sorted(display_path(r) for r in skipped),
        packages=_reasons(extra_packages, lib_packages, missing, program_packages, uses),
        unknown=[(s, missing[s]) for s, p in sorted(lib_packages.items()) if not p],
        unknown_programs=[(p, ", ".join(uses[p][:2])) for p, pkg in sorted(program_packages.items()) if not pkg],
        libraries={s: package_for_soname(s, table) or lib_packages.get(s) for s in _all_system_sonames(scan, skipped)}
        | lib_packages,
        programs=program_packages,
        ctypes_libraries={soname: lib_packages.get(soname) for soname in ctypes_sonames},
        release=release,
    )


def _needed_from_system(scan: Scan, skipped: set[str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """``{distribution: {relpath: sonames}}`` the scanned files expect from the system, but for ``skipped``."""
    per_dist: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for relpath, sonames in scan.system.items():
        if sonames and relpath not in skipped:
            per_dist[scan.distribution[relpath]][relpath] = sonames
    return dict(per_dist)


def _missing_from_base(
    scan: Scan,
    per_dist: Mapping[str, Mapping[str, Sequence[str]]],
    base: set[str],
    distributions: Iterable[str],
) -> tuple[dict[str, str], list[str]]:
    """The sonames the base image lacks, each with who needs it, and those only ctypes/cffi loads.

    Returns ``({soname: who}, [ctypes sonames])``: the libraries the ELF files need first, then
    those well-known wrappers load with ctypes (:func:`libraries_of_distributions`).
    """
    missing = {s: _who(paths, scan) for s, paths in missing_libraries(per_dist, base).items()}
    ctypes_sonames: list[str] = []
    for soname, dists in libraries_of_distributions(distributions).items():
        if soname not in base and soname not in missing:
            missing[soname] = f"the {', '.join(dists)} package (loaded with ctypes)"
            ctypes_sonames.append(soname)
    return missing, ctypes_sonames


def _program_uses(
    program_sources: Iterable[str], distributions: Iterable[str], on_path: set[str]
) -> dict[str, list[str]]:
    """``{program: [who runs it]}`` for the programs the code or its packages run that are not ``on_path``."""
    uses: dict[str, list[str]] = defaultdict(list)
    for source in program_sources:
        for use in programs_in_source(source):
            uses[use.program].append(f"{use.how} at line {use.line}")
    for program, dists in programs_of_distributions(distributions).items():
        uses[program].append(f"the {', '.join(dists)} package")
    return {p: who for p, who in uses.items() if p not in on_path}


def _packages(
    names: Iterable[str],
    lookup: Callable[[str, Optional[DebianTable]], Optional[str]],
    table: Optional[DebianTable],
    kind: str,
    dpkg_release: Optional[str],
) -> dict[str, Optional[str]]:
    """Each name's package by ``lookup`` in ``table``, then by this machine's dpkg when it runs ``dpkg_release``.

    ``kind`` is ``"lib"`` for sonames, ``"bin"`` for programs (:func:`host_dpkg_packages`);
    ``dpkg_release`` None leaves dpkg out.
    """
    packages = {name: lookup(name, table) for name in names}
    if dpkg_release is not None:
        packages.update(host_dpkg_packages([n for n, p in packages.items() if not p], kind, dpkg_release))
    return packages


def _reasons(
    extra_packages: Iterable[str],
    lib_packages: Mapping[str, Optional[str]],
    missing: Mapping[str, str],
    program_packages: Mapping[str, Optional[str]],
    uses: Mapping[str, Sequence[str]],
) -> list[tuple[str, str]]:
    """``(package, reason)`` sorted by package: asked with ``--apt``, then the libraries, then the programs."""
    reasons: dict[str, list[str]] = defaultdict(list)
    for package in extra_packages:
        reasons[package].append("added with --apt")
    sonames_of: dict[str, list[str]] = defaultdict(list)
    for soname, lib_package in lib_packages.items():
        if lib_package:
            sonames_of[lib_package].append(soname)
    for package, names in sonames_of.items():
        names.sort()
        reasons[package].append(f"{', '.join(names)} needed by {missing[names[0]]}")
    for program, program_package in program_packages.items():
        if program_package:
            reasons[program_package].append(f"{program} run by {', '.join(uses[program][:2])}")
    return [(p, "; ".join(r)) for p, r in sorted(reasons.items())]


def _variant_notes(per_dist: Mapping[str, Mapping[str, Sequence[str]]], missing: Mapping[str, str]) -> list[str]:
    """A note for each distribution with a lighter variant (:data:`LIGHTER_VARIANTS`) that needs missing libraries."""
    notes = []
    for dist, per_file in sorted(per_dist.items()):
        variant = LIGHTER_VARIANTS.get(normalize(dist))
        gui = {soname for needs in per_file.values() for soname in needs if soname in missing}
        if variant and gui:
            notes.append(
                f"{dist} needs {len(gui)} system libraries for its GUI; {variant} has the same API without them"
            )
    return notes


def _window_notes(scan: Scan, skipped: set[str], base: set[str], missing: Mapping[str, str]) -> list[str]:
    """A note naming the libraries left out for Qt's window plugins (:func:`window_only`), if any."""
    windowless = sorted(
        {s for r in skipped for s in scan.system[r] if s not in base and s not in missing}
        - ALWAYS_PRESENT
        - PROVIDED_AT_RUN_TIME
    )
    if not windowless:
        return []
    plugin = min((r for r in skipped if WINDOW_PLUGIN.search(r)), key=module_first)
    return [
        f"not installed: {', '.join(windowless)} for {display_path(plugin)} (Qt's window plugin: a container "
        "has no display); add them with --apt if the image opens windows on one"
    ]


def _all_system_sonames(scan: Scan, skipped: AbstractSet[str] = frozenset()) -> set[str]:
    """Every soname the scanned files but ``skipped`` expect from the system."""
    return {s for relpath, sonames in scan.system.items() if relpath not in skipped for s in sonames}
