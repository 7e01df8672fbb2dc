"""What dockermagic remembers in this kernel: the last image built, the last build's progress,
and the notes already shown (a note is shown once per kernel unless it changes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

_last_image: Optional[str] = None
_last_build: Any = None
_last_sweep: Any = None
_shown: set[str] = set()


def remember_image(tag: str) -> None:
    """The image ``%docker_run`` runs when it is given none."""
    global _last_image
    _last_image = tag


def last_image() -> Optional[str]:
    """The tag of the last image this kernel built, or None."""
    return _last_image


def remember_build(progress: Any) -> None:
    global _last_build
    _last_build = progress


def last_build() -> Any:
    """The :class:`~dockermagic.progress.BuildProgress` of the last build this kernel started."""
    return _last_build


def new_notes(notes: Iterable[str]) -> list[str]:
    """The notes not shown yet in this kernel; they count as shown from now on."""
    fresh = [note for note in notes if note not in _shown]
    _shown.update(fresh)
    return fresh


def remember_sweep(sweep: Any) -> None:
    global _last_sweep
    _last_sweep = sweep


def last_sweep() -> Any:
    """The :class:`~dockermagic.sweep.Sweep` this kernel ran last."""
    return _last_sweep


_records: dict = {}


def remember_record(name: str, value: Any) -> None:
    _records[name] = value


def records() -> dict:
    return dict(_records)
