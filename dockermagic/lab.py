"""The kernel side of dockermagic's JupyterLab button.

The front end (``labextension/``) runs one expression in the notebook's own kernel::

    __import__('dockermagic.lab').lab.dockerize_from_lab('{"notebook": "...", "tag": "...", "form": "script"}')

with ``store_history=False``. The functions here call the public API with an ``on_progress``
callback that publishes each progress snapshot under :data:`~dockermagic.display.MIME`, in
one display updated in place and throttled (:class:`~dockermagic.display.Publisher`). The
last message is always a ``{"kind": "result", ...}`` or ``{"kind": "error", ...}`` payload;
errors are reported, never raised, so the notebook never shows a traceback for them. The
front end's Cancel interrupts the kernel: the build or run stops and cleans up as on Ctrl-C.

Payloads (typed in ``labextension/src/protocol.ts``; the contract test writes real ones to
``labextension/test/fixtures/``)::

    {"kind": "build", ...}   BuildProgress.to_dict()
    {"kind": "run", ...}     RunProgress.to_dict()
    {"kind": "result", "op": "dockerize", "summary": Image.to_dict()}
    {"kind": "result", "op": "run", "summary": Run.to_dict(), "figures": [...], "files": [...]}
    {"kind": "error", "op": "dockerize"|"run", "error": DockermagicError.to_dict()}
"""

from __future__ import annotations

import base64
import json
import traceback
from pathlib import Path
from typing import Any, Optional

from .display import MIME, Publisher

#: Figures larger than this are listed by path, not inlined into the panel.
MAX_INLINE_FIGURE_BYTES = 2_000_000
MAX_INLINE_FIGURES = 12
MAX_LISTED_FILES = 200
MAX_LOG_LINES = 200
MAX_STEP_LOG_LINES = 30

__all__ = ["MIME", "Publisher", "dockerize_from_lab", "run_from_lab", "progress_payload", "error_payload"]


def _jsonable(value: Any) -> Any:
    """A deep copy of ``value`` that json.dumps accepts (Paths and the like become strings)."""
    return json.loads(json.dumps(value, default=str))


def progress_payload(progress: Any) -> dict[str, Any]:
    """A progress snapshot as the panel receives it: plain JSON, logs trimmed."""
    data = _jsonable(progress.to_dict() if hasattr(progress, "to_dict") else dict(progress))
    if data.get("kind") == "build":
        for step in data.get("steps") or []:
            if isinstance(step, dict) and step.get("log"):
                step["log"] = step["log"][-MAX_STEP_LOG_LINES:]
    elif data.get("kind") == "run" and data.get("logs"):
        data["logs"] = data["logs"][-MAX_LOG_LINES:]
    return data


def error_payload(op: str, exc: BaseException) -> dict[str, Any]:
    """The final payload of a failed call: the error's ``kind``, one-line message and details."""
    from .errors import DockermagicError

    if isinstance(exc, DockermagicError):
        error = exc.to_dict()
    else:
        text = str(exc).strip()
        interrupted = isinstance(exc, KeyboardInterrupt)
        error = {
            "kind": "interrupted" if interrupted else "internal",
            "type": type(exc).__name__,
            "message": text.splitlines()[0] if text else type(exc).__name__,
            "step": None,
            "exit_code": None,
            "hint": None,
            # not a user mistake: keep the traceback so a bug can be reported
            "details": [] if interrupted else traceback.format_exception(type(exc), exc, exc.__traceback__),
        }
    error["details"] = [str(line) for line in error["details"]][-MAX_STEP_LOG_LINES:]
    return _jsonable({"kind": "error", "op": op, "error": error})


def _publisher(publisher: Optional[Publisher]) -> Publisher:
    return publisher or Publisher()


def _options(args: Any) -> dict[str, Any]:
    return dict(json.loads(args) if isinstance(args, str) else args or {})


def dockerize_from_lab(args: Any, publisher: Optional[Publisher] = None) -> None:
    """Build an image for the JupyterLab button; report progress and the outcome as displays.

    Args:
        args: JSON text or dict with ``notebook`` (path relative to the server root),
            ``tag`` and ``form`` (``"script"``, ``"notebook"`` or ``"lab"``).
        publisher: a :class:`~dockermagic.display.Publisher` (tests pass one with a fake ``send``).
    """
    pub = _publisher(publisher)
    try:
        options = _options(args)
        from . import api, capture
        from .request import KernelContext

        notebook = capture.find_notebook(KernelContext.current().user_ns, hint=options.get("notebook"))
        cell, body = capture.packaging_cell(notebook) if notebook is not None else (None, None)
        kernel = KernelContext(shell=KernelContext.current().shell, current_cell=cell)
        image = api.dockerize(
            notebook,
            options.get("tag") or None,
            form=options.get("form") or "script",
            cell=body,
            kernel=kernel,
            on_progress=lambda state: pub.publish(progress_payload(state)),
        )
        pub.finish({"kind": "result", "op": "dockerize", "summary": _jsonable(image.to_dict())})
    except (Exception, KeyboardInterrupt) as exc:  # reported in the panel, never as a traceback
        pub.finish(error_payload("dockerize", exc))


def _figures(run: Any) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    for path in list(getattr(run, "figures", None) or []):
        path = Path(path)
        entry: dict[str, Any] = {"name": path.name, "path": str(path), "png": None, "bytes": None}
        try:
            size = path.stat().st_size
            entry["bytes"] = size
            if size <= MAX_INLINE_FIGURE_BYTES and len([f for f in figures if f["png"]]) < MAX_INLINE_FIGURES:
                entry["png"] = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            pass
        figures.append(entry)
    return figures


def _files(run: Any) -> list[str]:
    outputs = getattr(run, "outputs", None)
    if not outputs or not Path(outputs).is_dir():
        return []
    root = Path(outputs)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())[:MAX_LISTED_FILES]


def run_payload(run: Any) -> dict[str, Any]:
    """The final payload of a finished run: its summary, figures inlined, files listed."""
    return {
        "kind": "result",
        "op": "run",
        "summary": _jsonable(run.to_dict()),
        "figures": _figures(run),
        "files": _files(run),
    }


def run_from_lab(args: Any, publisher: Optional[Publisher] = None) -> None:
    """Run an image for the JupyterLab panel; report logs, figures and files as displays.

    Args:
        args: JSON text or dict with ``image`` (a tag; default: the last one built here)
            and ``port`` (a container port to publish on 127.0.0.1, or null). With a port
            the container is a server: it runs detached and the panel shows where it listens.
        publisher: a :class:`~dockermagic.display.Publisher`.
    """
    pub = _publisher(publisher)
    try:
        options = _options(args)
        from . import api

        kwargs: dict[str, Any] = {}
        port = options.get("port")
        if port:
            # published as PORT:PORT on 127.0.0.1; a server runs until stopped, so detach
            kwargs["ports"] = [str(int(port))]
            kwargs["detach"] = True
        run = api.run(
            options.get("image") or None, on_progress=lambda state: pub.publish(progress_payload(state)), **kwargs
        )
        pub.finish(run_payload(run))
    except (Exception, KeyboardInterrupt) as exc:
        pub.finish(error_payload("run", exc))
