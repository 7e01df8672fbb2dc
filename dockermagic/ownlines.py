"""Which lines of a notebook are dockermagic's own (``%load_ext dockermagic``, ``%dockerize``,
``img = %docker_run ...``): they concern the kernel only and never run inside an image."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Optional

#: dockermagic's magics, never run inside the image
OWN_MAGICS = frozenset(
    {"dockerize", "docker_run", "docker_stop", "docker_logs", "docker_ps", "docker_push", "docker_sweep"}
)
#: the magics that package or run the notebook itself
PACKAGING_MAGICS = ("dockerize", "docker_run", "docker_sweep")

_ASSIGNED = r"(?:[\w.,\s\[\]()]+=\s*)?"
_OWN_LINE = re.compile(
    rf"^\s*{_ASSIGNED}(?:%(?:re)?load_ext\s+dockermagic\b|%{{1,2}}(?:{'|'.join(sorted(OWN_MAGICS))})\b)"
)
_PACKAGING_LINE = re.compile(rf"^\s*{_ASSIGNED}%{{1,2}}(?:{'|'.join(PACKAGING_MAGICS)})\b", re.M)


def is_own_line(line: str) -> bool:
    """Whether one line of IPython source is dockermagic's own (possibly ``x = %dockerize ...``)."""
    return bool(_OWN_LINE.match(line))


def is_own_cell(source: str) -> bool:
    """Whether a cell only concerns dockermagic: a ``%%dockerize`` cell, or only own lines and comments."""
    lines = [line for line in source.strip().splitlines() if line.strip() and not line.strip().startswith("#")]
    if not lines:
        return False
    if lines[0].lstrip().startswith("%%") and is_own_line(lines[0]):
        return True
    return all(is_own_line(line) for line in lines)


def packaging_cell(sources: Iterable[str]) -> Optional[str]:
    """The first cell that packages or runs the notebook (``%dockerize``, ``%%dockerize``,
    ``%docker_run``), or None. A notebook that packages itself means "the cells above this one"."""
    return next((source for source in sources if _PACKAGING_LINE.search(source)), None)
