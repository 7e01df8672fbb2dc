"""Diagnosis: why a build step failed, said in the notebook's terms.

Pure functions over log lines; the building and running stages attach what they find to
their errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

_NOT_ON_INDEX = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9][\w.-]*)"),  # pip
    re.compile(r"Could not find a version that satisfies the requirement ([A-Za-z0-9][\w.-]*)"),  # pip
    re.compile(r"Because ([A-Za-z0-9][\w.-]*) was not found in the package registry"),  # uv
    re.compile(r"([A-Za-z0-9][\w.-]*) was not found in the package registry"),  # uv
    re.compile(r"there is no version of ([A-Za-z0-9][\w.-]*?)(?:==| and|,|$)", re.M),  # uv
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_named(name: str, requirements: Sequence) -> Optional[Any]:
    return next((r for r in requirements if _canonical(r.name) == _canonical(name)), None)


def _named_in(text: str, requirements: Sequence) -> Optional[Any]:
    """The requirement the last error lines name, when the installer's wording is not recognised."""
    for line in reversed(text.splitlines()[-12:]):
        words = {_canonical(w) for w in re.findall(r"[A-Za-z0-9][\w.-]*", line)}
        found = next((r for r in requirements if _canonical(r.name) in words), None)
        if found is not None:
            return found
    return None


def build_hint(log: Sequence[str], requirements: Sequence = ()) -> Optional[str]:
    """A likely cause of a failed step, from its output, said in the notebook's terms: the
    requirement at fault and where it came from (``nosuchpkg from %pip in cell 2``), whatever
    the installer's (pip's or uv's) wording."""
    text = "\n".join(log[-60:])
    name = next((m.group(1) for pattern in _NOT_ON_INDEX for m in [pattern.search(text)] if m), None)
    unsatisfiable = name is not None or "requirements are unsatisfiable" in text or "ResolutionImpossible" in text
    if unsatisfiable:
        req = _requirement_named(name, requirements) if name else _named_in(text, requirements)
        if req is not None:
            what = f"{req.name} from {req.origin}" if not str(req.origin).startswith("import") else str(req)
            return (
                f"{what} is not on the package index the build uses"
                f"{' (' + str(req.origin) + ')' if str(req.origin).startswith('import') else ''}: "
                "check its name and version, or your index settings"
            )
        return (
            f"{name or 'a requirement'} is not on the package index the build uses: check its name and "
            "version, or your index settings"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "invalid peer certificate" in text:
        return "the index's TLS certificate is not trusted: set pip's 'cert' (PIP_CERT) in the kernel"
    if "requires a different Python" in text or "Requires-Python" in text or "current Python version" in text:
        return "a requirement does not support the image's Python version: choose --base with another Python"
    if any(
        s in text
        for s in ("error: command 'gcc' failed", "gcc: not found", "fatal error:", "pg_config executable not found")
    ):
        return "a requirement compiles from source and needs a system library or compiler the base image lacks"
    unreachable = ("Temporary failure in name resolution", "Network is unreachable", "dns error", "Connection refused")
    if any(s in text for s in unreachable):
        return "the build cannot reach the package index: check the engine's network and proxy settings"
    return None


_MARKER = re.compile(r"^# %% (.+)$")
_FRAME = re.compile(r'^(\s*)File "(?:/app/)?(?:[\w./-]*/)?program\.py", line (\d+)(.*)$')


def cell_map(program: str) -> list[tuple[int, str]]:
    """``[(first program line, cell label)]`` from the ``# %% <label>`` markers the export writes."""
    found = []
    for number, line in enumerate(program.splitlines(), start=1):
        match = _MARKER.match(line)
        if match:
            found.append((number + 1, match.group(1).strip()))
    return found


def cell_line(cells: Sequence[Sequence], program_line: int) -> Optional[tuple[str, int]]:
    """The notebook cell and line a line of program.py comes from."""
    where = None
    for start, label in cells:
        if start <= program_line:
            where = (str(label), program_line - int(start) + 1)
    return where


def map_traceback_line(line: str, cells: Sequence[Sequence]) -> str:
    """A traceback frame of program.py said in the notebook's terms: ``File "program.py", line 11,
    in <module>`` -> ``cell 3, line 2, in <module>``; other lines unchanged."""
    match = _FRAME.match(line)
    if not match or not cells:
        return line
    where = cell_line(cells, int(match.group(2)))
    if where is None:
        return line
    return f"{match.group(1)}{where[0]}, line {where[1]}{match.group(3)}"


_ENV_READ = re.compile(
    r"""(?:os\.)?(?:environ\s*\[\s*|environ\.get\(\s*|getenv\(\s*)["']([A-Za-z_][A-Za-z0-9_]*)["']"""
)


def environment_reads(code: str) -> list[str]:
    """Names of the environment variables a program reads with ``os.environ[...]``,
    ``os.environ.get(...)`` or ``os.getenv(...)`` and a literal name."""
    return sorted(set(_ENV_READ.findall(code)))


def missing_environment(reads: Sequence[str], kernel_env: Mapping[str, str], passed: Mapping[str, str]) -> list[str]:
    """Variables the program reads that the kernel has and the container was not given."""
    return [name for name in reads if name in kernel_env and name not in passed]
