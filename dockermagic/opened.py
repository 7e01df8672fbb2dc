"""The files the kernel opens, recorded from the moment the extension loads.

Python's audit hooks (``sys.addaudithook``) report ``open``, ``os.listdir``, ``os.scandir``
and ``glob.glob`` wherever they happen (pandas, numpy, PIL, geopandas: all open files through
Python), so data discovery knows what the notebook really read, without re-running anything.
A hook cannot be removed: it is installed once per kernel and does as little as it can.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable, Optional

WATCHED = {"open", "os.listdir", "os.scandir", "glob.glob"}
#: at most this many distinct paths are kept (a notebook looping over a huge folder)
MAX_PATHS = 20000
_IGNORED = ("/proc/", "/sys/", "/dev/", "/etc/", "/usr/", "/lib", "/bin/", "/sbin/", "/var/lib/", "/run/")
#: what the import system and the kernel open: code, not data
_CODE = (".py", ".pyc", ".pyi", ".so", ".pth", ".egg-link", ".dist-info", ".json.lock")

_events: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()
_installed = False


def _no_count() -> Optional[int]:
    return None


_counter: Callable[[], Optional[int]] = _no_count
_ignored_prefixes: tuple = ()


def _kind(event: str, args: tuple) -> Optional[str]:
    if event == "open":
        mode, flags = (args[1] if len(args) > 1 else "r"), (args[2] if len(args) > 2 else 0)
        if isinstance(mode, str) and mode:
            return "write" if set(mode) & set("wax+") else "read"
        return "write" if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) else "read"
    if event == "glob.glob":
        return "glob"
    return "list"


_paused = threading.local()


def _depth() -> int:
    return int(getattr(_paused, "depth", 0))


def _hook(event: str, args: tuple) -> None:
    if event not in WATCHED or _depth():
        return
    try:
        path = args[0] if args else None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str) or not path or path.startswith(_IGNORED) or path.startswith(_ignored_prefixes):
            return
        if path.endswith(_CODE):
            return
        absolute = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
        if absolute.startswith(_ignored_prefixes):
            return
        with _lock:
            if absolute not in _events and len(_events) < MAX_PATHS:
                count = _counter()
                _events[absolute] = (_kind(event, args) or "read", f"In [{count}]" if count else "the kernel")
    except Exception:  # an audit hook must never break what it watches
        return


def install(execution_count: Callable[[], Optional[int]]) -> None:
    """Start recording (once per process); ``execution_count`` names the cell running now."""
    global _installed, _counter, _ignored_prefixes
    _counter = execution_count
    import site
    import sysconfig

    prefixes = {
        sys.prefix,
        sys.base_prefix,
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["stdlib"],
        os.path.expanduser("~/.cache"),
        os.path.expanduser("~/.ipython"),
        os.path.expanduser("~/.local"),
        os.path.expanduser("~/.config"),
        os.path.expanduser("~/.jupyter"),
    }
    prefixes |= set(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    prefixes.add(os.path.dirname(os.path.abspath(__file__)))  # dockermagic itself (an editable checkout)
    _ignored_prefixes = tuple(sorted(p for p in prefixes if p))
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def opened() -> list[tuple[str, str, str]]:
    """``(absolute path, "read"|"write"|"list"|"glob", origin)`` in the order first seen."""
    with _lock:
        return [(path, kind, f"opened by the kernel in {where}") for path, (kind, where) in _events.items()]


class paused:
    """``with paused(): ...``: what dockermagic itself opens (the notebook, its own files) is not
    the notebook's data."""

    def __enter__(self):
        _paused.depth = getattr(_paused, "depth", 0) + 1
        return self

    def __exit__(self, *exc):
        _paused.depth -= 1
        return False
