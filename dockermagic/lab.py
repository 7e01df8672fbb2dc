"""The kernel side of dockermagic's JupyterLab button.

The front end (``labextension/``) runs one expression in the notebook's own kernel::

    __import__('dockermagic.lab').lab.dockerize_from_lab('{"notebook": "...", "tag": "...", "form": "script"}')

with ``store_history=False``. The functions here call the public API
(:func:`dockermagic.dockerize`, :func:`dockermagic.run`) with a progress callback that
publishes each progress snapshot as a display with the mimetype :data:`MIME_TYPE` under
one ``display_id``, updated in place and throttled to a few updates a second. The last
message is always a ``{"kind": "result", ...}`` or ``{"kind": "error", ...}`` payload;
errors are reported, never raised, so the notebook never shows a traceback for them.

Payloads (see ``labextension/src/protocol.ts``)::

    {"kind": "build", ...}   BuildProgress.to_dict()
    {"kind": "run", ...}     RunProgress.to_dict()
    {"kind": "result", "op": "dockerize"|"run", "summary": {...}, "figures": [...], "files": [...]}
    {"kind": "error", "op": ..., "type": "BuildError", "mro": [...], "message": "one line",
     "step": ..., "exit_code": ..., "log_tail": [...], "hint": ...}
"""

import base64
import json
import os
import re
import time
import traceback
import uuid
from pathlib import Path

MIME_TYPE = "application/vnd.dockermagic.progress+json"
#: At most this many progress updates a second, unless the phase or a step's state changes.
MAX_UPDATES_PER_SECOND = 4
#: Figures larger than this are listed by path, not inlined into the panel.
MAX_INLINE_FIGURE_BYTES = 2_000_000
MAX_INLINE_FIGURES = 12
MAX_LISTED_FILES = 200
MAX_LOG_LINES = 200
MAX_STEP_LOG_LINES = 30

#: The tag of the image the button built last in this kernel (the panel's Run uses it).
last_tag = None


def _ipython_display(bundle, display_id, update):
    from IPython.display import display, update_display

    if update:
        update_display(bundle, raw=True, display_id=display_id)
    else:
        display(bundle, raw=True, display_id=display_id)


class Publisher:
    """Publish progress payloads as one display, updated in place and throttled.

    Args:
        send: ``send(bundle, display_id, update)``; defaults to IPython's display.
        clock: a monotonic clock (for tests).
        min_interval: seconds between two updates that change nothing but logs.
    """

    def __init__(self, send=None, clock=time.monotonic, min_interval=1.0 / MAX_UPDATES_PER_SECOND):
        self.display_id = "dockermagic-" + uuid.uuid4().hex
        self._send = send or _ipython_display
        self._clock = clock
        self._min_interval = min_interval
        self._shown = False
        self._last_time = None
        self._last_signature = None
        self._pending = None
        self.sent = 0

    def progress(self, progress):
        """The callback handed to ``dockerize(progress=...)`` / ``run(progress=...)``."""
        try:
            payload = _progress_payload(progress)
        except Exception:  # a malformed snapshot must never break the build
            return
        self.publish(payload)

    def publish(self, payload, force=False):
        """Send ``payload`` now if it matters or enough time has passed; else keep it."""
        now = self._clock()
        signature = _signature(payload)
        due = self._last_time is None or now - self._last_time >= self._min_interval
        if force or due or signature != self._last_signature:
            self._emit(payload)
            self._last_time = now
            self._last_signature = signature
            self._pending = None
            return True
        self._pending = payload
        return False

    def flush(self):
        """Send the last held-back payload, if any."""
        if self._pending is not None:
            self.publish(self._pending, force=True)

    def finish(self, payload):
        """Send the final result or error payload (never throttled)."""
        self._pending = None
        self.publish(payload, force=True)

    def _emit(self, payload):
        bundle = {MIME_TYPE: payload, "text/plain": _plain(payload)}
        self._send(bundle, self.display_id, self._shown)
        self._shown = True
        self.sent += 1


def _plain(payload):
    kind = payload.get("kind")
    if kind == "build":
        return f"dockermagic: building {payload.get('tag') or ''} ({payload.get('phase')})"
    if kind == "run":
        return f"dockermagic: run {payload.get('name') or ''} ({payload.get('state')})"
    if kind == "result":
        return f"dockermagic: {payload.get('op')} finished"
    if kind == "error":
        return f"dockermagic: {payload.get('type')}: {payload.get('message')}"
    return "dockermagic"


def _signature(payload):
    """What makes an update worth sending at once: a new phase or state, a step changing state."""
    kind = payload.get("kind")
    if kind == "build":
        steps = tuple((s.get("n"), s.get("state")) for s in payload.get("steps") or [])
        return ("build", payload.get("phase"), steps, payload.get("message"))
    if kind == "run":
        return ("run", payload.get("state"), payload.get("exit_code"))
    return (kind,)


def _jsonable(value):
    """A deep copy of ``value`` that json.dumps accepts (Paths and the like become strings)."""
    return json.loads(json.dumps(value, default=str))


def _tail(lines, n):
    lines = list(lines or [])
    return lines[-n:]


def _progress_payload(progress):
    data = progress.to_dict() if hasattr(progress, "to_dict") else dict(progress)
    data = _jsonable(data)
    if data.get("kind") == "build":
        for step in data.get("steps") or []:
            if isinstance(step, dict) and step.get("log"):
                step["log"] = _tail(step["log"], MAX_STEP_LOG_LINES)
    elif data.get("kind") == "run":
        if data.get("logs"):
            data["logs"] = _tail(data["logs"], MAX_LOG_LINES)
    return data


def _error_payload(op, exc):
    cls = type(exc)
    names = [c.__name__ for c in cls.__mro__ if c not in (object, BaseException, Exception)]
    text = str(exc).strip()
    message = text.splitlines()[0] if text else cls.__name__
    payload = {
        "kind": "error",
        "op": op,
        "type": cls.__name__,
        "mro": names,
        "message": message,
        "step": getattr(exc, "step", None),
        "exit_code": getattr(exc, "exit_code", None),
        "log_tail": _tail([str(line) for line in (getattr(exc, "log_tail", None) or [])], MAX_STEP_LOG_LINES),
        "hint": getattr(exc, "hint", None),
    }
    from .errors import DockermagicError

    if isinstance(exc, DockermagicError):
        extra = getattr(exc, "problems", None) or getattr(exc, "findings", None)
        if extra and not payload["log_tail"]:
            payload["log_tail"] = [str(item) for item in extra][:MAX_STEP_LOG_LINES]
        run = getattr(exc, "run", None)
        if run is not None and not payload["log_tail"]:
            logs = getattr(run, "logs", "") or ""
            lines = logs.splitlines() if isinstance(logs, str) else [str(x) for x in logs]
            payload["log_tail"] = _tail(lines, MAX_STEP_LOG_LINES)
    elif not isinstance(exc, KeyboardInterrupt):
        # Not a user mistake: keep the traceback so a bug can be reported.
        payload["log_tail"] = traceback.format_exception(cls, exc, exc.__traceback__)[-MAX_STEP_LOG_LINES:]
    return _jsonable(payload)


def resolve_notebook(path, cwd=None, session_name=None):
    """The notebook file the front end means, as an absolute path the kernel can read.

    ``path`` is relative to the Jupyter server's root; the kernel runs in the notebook's
    folder. Returns None when no candidate exists (the API then finds the notebook itself).
    """
    if not path:
        return None
    cwd = Path(cwd or os.getcwd())
    session_name = session_name if session_name is not None else os.environ.get("JPY_SESSION_NAME", "")
    candidates = []
    norm = path.replace("\\", "/").lstrip("/")
    if session_name and session_name.replace("\\", "/").endswith(norm):
        candidates.append(Path(session_name))
    candidates.append(cwd / Path(norm).name)
    candidates.append(cwd / norm)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate.resolve())
    return None


_OWN_MAGIC = re.compile(r"^\s*(?:[\w.,\s\[\]]+=\s*)?%{1,2}(?:dockerize|docker_run)\b", re.M)


def packaging_stop(notebook):
    """The source of the notebook's first code cell that calls ``%dockerize``/``%%dockerize``/
    ``%docker_run`` (possibly as ``x = %dockerize ...``), or None.

    A notebook that packages itself (like ``examples/heart_roc.ipynb``) means "the cells above
    this one" by its program; the button builds that same program.
    """
    if not notebook:
        return None
    try:
        with open(notebook, encoding="utf-8") as fh:
            cells = json.load(fh).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if _OWN_MAGIC.search(source):
            return source
    return None


def _parse(args):
    if isinstance(args, str):
        args = json.loads(args)
    return dict(args or {})


def dockerize_from_lab(args, publisher=None):
    """Build an image for the JupyterLab button; report progress and the outcome as displays.

    Args:
        args: JSON text or dict with ``notebook`` (path relative to the server root),
            ``tag`` and ``form`` (``"script"`` or ``"notebook"``).
        publisher: a :class:`Publisher` (tests pass one with a fake ``send``).
    """
    global last_tag
    pub = publisher or Publisher()
    try:
        options = _parse(args)
        from . import api

        kwargs = {"tag": options.get("tag") or None, "progress": pub.progress,
                  "form": options.get("form") or "script"}
        notebook = resolve_notebook(options.get("notebook"))
        stop = packaging_stop(notebook)
        if stop is not None:
            # The notebook packages itself with %dockerize: the button builds the same program
            # (the cells above that cell), not the docker cells and what follows them.
            kwargs["current_cell"] = stop
            if stop.lstrip().startswith("%%dockerize"):
                kwargs["cell"] = stop.lstrip().split("\n", 1)[1] if "\n" in stop.lstrip() else ""
        image = api.dockerize(notebook, **kwargs)
        summary = _jsonable(image.to_dict())
        last_tag = summary.get("tag") or getattr(image, "tag", None)
        pub.finish({"kind": "result", "op": "dockerize", "summary": summary})
    except (Exception, KeyboardInterrupt) as exc:  # reported in the panel, never as a traceback
        pub.finish(_error_payload("dockerize", exc))


def _figures(run):
    figures = []
    for path in list(getattr(run, "figures", None) or []):
        path = Path(path)
        entry = {"name": path.name, "path": str(path), "png": None}
        try:
            size = path.stat().st_size
            entry["bytes"] = size
            if size <= MAX_INLINE_FIGURE_BYTES and len([f for f in figures if f["png"]]) < MAX_INLINE_FIGURES:
                entry["png"] = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            pass
        figures.append(entry)
    return figures


def _files(run):
    outputs = getattr(run, "outputs", None)
    if not outputs:
        return []
    root = Path(outputs)
    if not root.is_dir():
        return []
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return files[:MAX_LISTED_FILES]


def run_from_lab(args, publisher=None):
    """Run an image for the JupyterLab panel; report logs, figures and files as displays.

    Args:
        args: JSON text or dict with ``image`` (a tag; default: the last one built here)
            and ``port`` (a container port to publish on 127.0.0.1, or null). With a port
            the container is a server: it runs detached and the panel shows where it listens.
        publisher: a :class:`Publisher`.
    """
    pub = publisher or Publisher()
    try:
        options = _parse(args)
        from . import api

        kwargs = {"progress": pub.progress}
        port = options.get("port")
        if port:
            # Published as PORT:PORT on 127.0.0.1; a server runs until stopped, so detach.
            kwargs["ports"] = [str(int(port))]
            kwargs["detach"] = True
        run = api.run(options.get("image") or last_tag, **kwargs)
        summary = _jsonable(run.to_dict())
        pub.finish(
            {"kind": "result", "op": "run", "summary": summary, "figures": _figures(run), "files": _files(run)}
        )
    except (Exception, KeyboardInterrupt) as exc:
        pub.finish(_error_payload("run", exc))
