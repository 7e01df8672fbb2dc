"""Messages that fit where they appear: the same advice reads ``%docker_run -e NAME`` in a
notebook, ``dockermagic run -e NAME`` in a terminal and ``dockermagic.run(env=...)`` from Python.

The magics and the command line say where they are (:func:`speaking`); every message that
names a command asks :func:`build` or :func:`run` for its spelling.
"""

from __future__ import annotations

import contextlib
import contextvars
import platform
from collections.abc import Iterator
from pathlib import Path

_SURFACE: contextvars.ContextVar[str] = contextvars.ContextVar("dockermagic_surface", default="python")

_BUILD = {"magic": "%dockerize", "cli": "dockermagic build NOTEBOOK", "python": "dockermagic.dockerize()"}
_RUN = {"magic": "%docker_run", "cli": "dockermagic run", "python": "dockermagic.run()"}
_SWEEP = {"magic": "%docker_sweep", "cli": "dockermagic sweep", "python": "dockermagic.sweep()"}
_BODY = {
    "magic": "a %%dockerize cell body that starts the app",
    "cli": "a notebook whose last cell starts the app",
    "python": "cell= code that starts the app",
}


@contextlib.contextmanager
def speaking(surface: str) -> Iterator[None]:
    """Word messages for ``surface`` (``magic``, ``cli`` or ``python``) inside the block."""
    token = _SURFACE.set(surface)
    try:
        yield
    finally:
        _SURFACE.reset(token)


def surface() -> str:
    return _SURFACE.get()


def build(options: str = "") -> str:
    """How to build here: ``%dockerize -t x`` / ``dockermagic build NOTEBOOK -t x``."""
    return f"{_BUILD[surface()]} {options}".strip() if surface() != "python" else _BUILD["python"]


def run(options: str = "") -> str:
    """How to run here: ``%docker_run -e NAME`` / ``dockermagic run IMAGE -e NAME``."""
    if surface() == "python":
        return "dockermagic.run(" + _python_options(options) + ")"
    return f"{_RUN[surface()]} {options}".strip()


def sweep(options: str = "") -> str:
    """How to sweep here: ``%docker_sweep ... --resume`` / ``dockermagic sweep ... --resume``."""
    if surface() == "python":
        return "dockermagic.sweep(..., resume=True)" if "--resume" in options else "dockermagic.sweep()"
    return f"{_SWEEP[surface()]} IMAGE ... {options}".strip()


def app_body() -> str:
    """What starts a service when ``--serve`` is given without ``--function``."""
    return _BODY[surface()]


def _python_options(options: str) -> str:
    words = options.split()
    if len(words) == 2 and words[0] == "-e":
        return f"env=[{words[1]!r}]"
    if len(words) == 2 and words[0] == "-v":
        return f"volumes=[{words[1]!r}]"
    return options


def start_docker() -> str:
    """How to start a Docker engine on this platform (and this checkout's script, when there is one)."""
    system = platform.system()
    if system == "Darwin" or system == "Windows":
        advice = "start Docker Desktop"
    else:
        advice = "start Docker ('sudo systemctl start docker', or run dockerd)"
    script = Path(__file__).resolve().parents[1] / "scripts" / "ensure-engine.sh"
    if script.is_file():
        advice += f", or run 'bash {script}' from this dockermagic checkout"
    return advice
