"""Live views of builds and runs in the notebook (HTML) or a terminal (plain text).

Only this module and the magics talk to IPython's display. A view is a callable: pass it
as ``on_progress=`` to :func:`dockermagic.dockerize` or :func:`dockermagic.run`.
"""

import html
import sys
import time
import uuid

from .results import human_size

#: the MIME type of every progress, result and error payload (the JupyterLab panel reads it)
MIME = "application/vnd.dockermagic.progress+json"
#: at most this many updates a second, unless a phase or a step's state changes
MAX_UPDATES_PER_SECOND = 4
_ICONS = {"pending": "·", "cached": "♻", "running": "▶", "done": "✔", "failed": "✘", "interrupted": "■"}
_COLORS = {
    "pending": "#888",
    "cached": "#2a7",
    "running": "#06c",
    "done": "#2a7",
    "failed": "#c22",
    "interrupted": "#c70",
}


def in_notebook():
    """Whether output goes to a Jupyter front end (not a terminal IPython or plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


#: what each phase of a build is called in a live view
PHASE_WORDS = {
    "capture": "reading the notebook",
    "requirements": "working out requirements",
    "context": "writing the build context",
    "pull": "pulling the base image",
    "send": "sending the context to the engine",
    "build": "building",
    "done": "built",
    "failed": "build failed",
    "interrupted": "interrupted",
}
_CELL = "padding:1px 6px;text-align:left;vertical-align:top"
_LOG = (
    "margin:2px 0 4px 0;padding:4px 6px;max-height:14em;overflow:auto;font-size:85%;text-align:left;"
    "white-space:pre-wrap;word-break:break-all"
)


def _headline(d) -> str:
    """One line on where the build is: the phase, the step, the wall time."""
    words = PHASE_WORDS.get(d["phase"], d["phase"])
    steps = d["steps"]
    running = next((s for s in steps if s["state"] == "running"), None)
    if d["phase"] == "build" and running is not None:
        words = f"building step {running['n']} of {len(steps)}"
    line = f"<b>{html.escape(d['tag'] or 'image')}</b>: {words} ({d['elapsed']:.1f} s)"
    if d["phase"] == "done":
        cached = [s["n"] for s in steps if s["state"] == "cached"]
        line += f", {human_size(d['size'])}"
        if cached:
            line += f", {len(cached)} of {len(steps)} steps from cache"
        if d.get("engine_seconds") is not None:
            line += f"; the engine's part {d['engine_seconds']:.1f} s"
    return line


def _step_rows(d) -> str:
    rows = []
    for step in d["steps"]:
        color = _COLORS.get(step["state"], "#888")
        secs = "" if step["seconds"] is None else f"{step['seconds']:.1f}&nbsp;s"
        instruction = html.escape(step["instruction"])
        rows.append(
            f"<tr><td style='{_CELL};color:{color};text-align:center'>{_ICONS.get(step['state'], '')}</td>"
            f"<td style='{_CELL};color:{color};white-space:nowrap'>{step['state']}</td>"
            f"<td style='{_CELL};white-space:nowrap;text-align:right'>{secs}</td>"
            f"<td style='{_CELL};white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:0' "
            f"title='{instruction}'><code>{instruction}</code></td></tr>"
        )
        if step["log"] and step["state"] in ("running", "failed", "interrupted"):
            bg = "#fee" if step["state"] == "failed" else "#f6f6f6"
            text = html.escape(chr(10).join(step["log"][-15:]))
            rows.append(
                f"<tr><td></td><td colspan=3 style='{_CELL}'><pre style='{_LOG};background:{bg}'>{text}</pre></td></tr>"
            )
    return "".join(rows)


def build_html(d, log=()):
    """HTML of a build payload (``BuildProgress.to_dict()``), with the full ``log`` once it ended.

    While building, every step shows on one line (long instructions end in an ellipsis; the
    whole text is their tooltip) and the running step's latest output shows under it. A
    successful build folds into its one-line summary (click to see the steps); a failed one
    stays open with the failing step's output.
    """
    finished = d["phase"] in ("done", "failed", "interrupted")
    pulls = ""
    if d["pull"] and not finished:
        items = "".join(
            f"<li><code>{html.escape(layer)}</code> {html.escape(p['status'])}"
            + (f" {human_size(p['current'])}/{human_size(p['total'])}" if p.get("total") else "")
            + "</li>"
            for layer, p in d["pull"].items()
        )
        pulls = f"<ul style='text-align:left;margin:2px 0'>{items}</ul>"
    notes = ""
    if d["phase"] == "done" and d.get("changes") and any(s["state"] == "cached" for s in d["steps"]):
        notes += f"<div>rebuilt because {html.escape('; '.join(d['changes']))}</div>"
    if d["phase"] in ("failed", "interrupted") and d["message"]:
        notes += f"<div style='color:#c22'>{html.escape(d['message'])}</div>"
    table = (
        "<table style='border-collapse:collapse;table-layout:fixed;width:100%;margin:0'>"
        "<colgroup><col style='width:2em'><col style='width:7em'><col style='width:5.5em'><col></colgroup>"
        f"{_step_rows(d)}</table>"
    )
    steps = f"<details{'' if d['phase'] == 'done' else ' open'}><summary>{_headline(d)}</summary>{table}</details>"
    if not d["steps"]:
        steps = f"<div>{_headline(d)}</div>"
    full = ""
    if finished and log:
        full = (
            f"<details><summary>full build log ({len(log)} lines)</summary>"
            f"<pre style='{_LOG};max-height:20em'>{html.escape(chr(10).join(log))}</pre></details>"
        )
    return f"<div class='dockermagic-build' style='text-align:left'>{steps}{pulls}{notes}{full}</div>"


def build_text(d):
    """Plain-text summary of a build payload, for terminals and ``text/plain``."""
    lines = [f"{d['tag']}: {d['phase']} ({d['elapsed']:.1f} s)"]
    for step in d["steps"]:
        secs = "" if step["seconds"] is None else f"{step['seconds']:6.1f}s"
        lines.append(f"  {_ICONS.get(step['state'], ' ')} {step['state']:<7} {secs:>7}  {step['instruction'][:100]}")
        if step["state"] == "failed":
            lines += [f"      | {line}" for line in step["log"][-12:]]
    if d["message"] and d["phase"] == "failed":
        lines.append(f"  {d['message']}")
    return "\n".join(lines)


class _Bundle:
    def __init__(self, data):
        self.data = data

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.data


def _ipython_display(bundle, display_id, update):
    from IPython.display import display, update_display

    if update:
        update_display(bundle, raw=True, display_id=display_id)
    else:
        display(bundle, raw=True, display_id=display_id)


def plain(payload: dict) -> str:
    """A one-line ``text/plain`` of a progress, result or error payload."""
    kind = payload.get("kind")
    if kind == "build":
        return f"dockermagic: building {payload.get('tag') or ''} ({payload.get('phase')})"
    if kind == "run":
        return f"dockermagic: run {payload.get('name') or ''} ({payload.get('state')})"
    if kind in ("push", "pull"):
        return f"dockermagic: {kind} {payload.get('ref') or ''}"
    if kind == "sweep":
        done = sum(p["status"] in ("done", "skipped") for p in payload.get("points") or [])
        return f"dockermagic: sweep {payload.get('name')}: {done} of {len(payload.get('points') or [])} points done"
    if kind == "result":
        return f"dockermagic: {payload.get('op')} finished"
    if kind == "error":
        return f"dockermagic: {payload.get('type')}: {payload.get('message')}"
    return "dockermagic"


def signature(payload: dict) -> tuple:
    """What makes an update worth sending at once: a new phase or state, a step changing state."""
    kind = payload.get("kind")
    if kind == "build":
        steps = tuple((s.get("n"), s.get("state")) for s in payload.get("steps") or [])
        return ("build", payload.get("phase"), steps, payload.get("message"))
    if kind == "run":
        return ("run", payload.get("state"), payload.get("exit_code"))
    if kind in ("push", "pull"):
        return (kind, payload.get("done"))
    if kind == "sweep":
        return ("sweep", payload.get("phase"), tuple(p["status"] for p in payload.get("points") or []))
    return (kind,)


class Publisher:
    """Publish payloads as one display, updated in place and throttled.

    An update that changes a phase or a step's state is sent at once; one that only adds log
    lines waits until ``min_interval`` has passed (it is kept, and :meth:`flush` sends it).

    Args:
        send: ``send(bundle, display_id, update)``; defaults to IPython's display.
        clock: a monotonic clock (for tests).
        min_interval: seconds between two updates that change nothing but logs.
        render: ``render(payload) -> MIME bundle``; by default the payload under :data:`MIME`
            with a one-line ``text/plain``.
    """

    def __init__(self, send=None, clock=time.monotonic, min_interval=1.0 / MAX_UPDATES_PER_SECOND, render=None):
        self.display_id = "dockermagic-" + uuid.uuid4().hex
        self._send = send or _ipython_display
        self._clock = clock
        self._min_interval = min_interval
        self._render = render or (lambda payload: {MIME: payload, "text/plain": plain(payload)})
        self._shown = False
        self._last_time = None
        self._last_signature = None
        self._pending = None
        self.sent = 0

    def publish(self, payload: dict, force: bool = False) -> bool:
        """Send ``payload`` now if it matters or enough time has passed; else keep it."""
        now = self._clock()
        sig = signature(payload)
        due = self._last_time is None or now - self._last_time >= self._min_interval
        if force or due or sig != self._last_signature:
            self._emit(payload)
            self._last_time = now
            self._last_signature = sig
            self._pending = None
            return True
        self._pending = payload
        return False

    def flush(self) -> None:
        """Send the last held-back payload, if any."""
        if self._pending is not None:
            self.publish(self._pending, force=True)

    def finish(self, payload: dict) -> None:
        """Send a final payload (never throttled)."""
        self._pending = None
        self.publish(payload, force=True)

    def _emit(self, payload):
        self._send(self._render(payload), self.display_id, self._shown)
        self._shown = True
        self.sent += 1


class _LiveView:
    """A view that updates one display in Jupyter, or prints lines in a terminal."""

    def __init__(self, interval=1.0 / MAX_UPDATES_PER_SECOND, stream=None):
        self.notebook = in_notebook()
        self.stream = stream or sys.stdout
        self._printed = {}
        self._publisher = Publisher(min_interval=interval, render=self.bundle) if self.notebook else None

    def bundle(self, payload):
        return {MIME: payload, "text/plain": plain(payload)}


class BuildView(_LiveView):
    """Shows a build as it happens: a live HTML table in Jupyter, step lines in a terminal."""

    _state = None

    def bundle(self, payload):
        log = self._state.log if self._state is not None else []
        return {"text/html": build_html(payload, log), "text/plain": build_text(payload), MIME: payload}

    def __call__(self, state):
        if self._publisher is not None:
            self._state = state
            self._publisher.publish(state.to_dict(), force=state.phase in ("done", "failed", "interrupted"))
        else:
            self._print(state)

    def _print(self, state):
        out = self.stream
        for step in state.steps:
            seen = self._printed.setdefault(step.n, {"state": None, "lines": 0})
            if step.state == "pending":
                continue
            if seen["state"] is None:
                out.write(f"Step {step.n}/{len(state.steps)}: {step.instruction[:120]}\n")
            for line in step.log[seen["lines"] :]:
                out.write(f"    {line}\n")
            seen["lines"] = len(step.log)
            if step.state != seen["state"] and step.state in ("cached", "done", "failed", "interrupted"):
                secs = f" ({step.seconds:.1f} s)" if step.seconds is not None else ""
                out.write(f"  -> {step.state}{secs}\n")
            seen["state"] = step.state
        if state.phase in ("done", "failed", "interrupted") and not self._printed.get("end"):
            self._printed["end"] = True
            out.write(build_text(state.to_dict()).splitlines()[0] + "\n")
        out.flush()


class RunView:
    """Streams a container's output into the cell (or terminal) as it is printed."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._lines = 0
        self._started = False

    def __call__(self, state):
        if not self._started:
            self._started = True
            self.stream.write(f"[dockermagic] running {state.image} as {state.name}\n")
        for line in state.logs[self._lines :]:
            self.stream.write(line + "\n")
        self._lines = len(state.logs)
        self.stream.flush()


def transfer_html(d):
    """HTML of a push or pull payload (``TransferProgress.to_dict()``)."""
    rows = "".join(
        f"<tr><td><code>{html.escape(layer)}</code></td><td>{html.escape(p['status'])}</td>"
        f"<td>{human_size(p['current']) + ' / ' + human_size(p['total']) if p.get('total') else ''}</td></tr>"
        for layer, p in d["layers"].items()
    )
    verb = "pushing" if d["kind"] == "push" else "pulling"
    head = f"<b>{html.escape(d['ref'])}</b>: {verb if not d['done'] else d['kind'] + 'ed'} ({d['elapsed']:.1f} s)"
    status = html.escape(d["status"])
    return f"<div class='dockermagic-transfer'><div>{head}</div><table>{rows}</table><div>{status}</div></div>"


class TransferView(_LiveView):
    """Per-layer progress of a push or pull: a live table in Jupyter, status lines in a terminal."""

    def bundle(self, payload):
        return {"text/html": transfer_html(payload), "text/plain": plain(payload), MIME: payload}

    def __call__(self, state):
        if self._publisher is not None:
            self._publisher.publish(state.to_dict(), force=state.done)
            return
        for layer, p in state.layers.items():
            if self._printed.get(layer) != p["status"] and not p["status"].startswith(
                ("Pushing", "Downloading", "Extracting")
            ):
                self._printed[layer] = p["status"]
                self.stream.write(f"{layer}: {p['status']}\n")
        if state.done:
            self.stream.write(f"{state.kind}ed {state.ref}\n")
        self.stream.flush()


class RichBuildView:
    """A build on a terminal: finished steps as coloured lines, and one live line for what runs now."""

    _STYLES = {"cached": "green", "done": "green", "failed": "bold red", "interrupted": "yellow"}

    def __init__(self, console=None):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self._live = Live(console=self.console, transient=True, auto_refresh=False)
        self._printed = {}
        self._ended = False

    def _step_line(self, step, total):
        from rich.text import Text

        secs = f"{step.seconds:5.1f}s" if step.seconds is not None else "      "
        line = Text(f"{_ICONS.get(step.state, ' ')} {step.state:<11}", style=self._STYLES.get(step.state, ""))
        line.append(f" {secs}  {step.n:>2}/{total} ")
        line.append(step.instruction[:110], style="bold" if step.state == "failed" else "")
        return line

    def __call__(self, state):
        from rich.text import Text

        if self._ended:
            return
        for step in state.steps:
            if step.state in self._STYLES and self._printed.get(step.n) != step.state:
                self._printed[step.n] = step.state
                self.console.print(self._step_line(step, len(state.steps)))
                if step.state == "failed":
                    for line in step.log[-12:]:
                        self.console.print(Text(f"      | {line}", style="dim"))
        d = state.to_dict()
        if d["phase"] in ("done", "failed", "interrupted"):
            self._ended = True
            self._live.stop()
            style = "bold green" if d["phase"] == "done" else "bold red"
            self.console.print(Text(build_text(d).splitlines()[0], style=style))
            return
        running = next((s for s in state.steps if s.state == "running"), None)
        words = PHASE_WORDS.get(d["phase"], d["phase"])
        if running is not None:
            words = f"step {running.n}/{len(state.steps)}: {running.instruction[:80]}"
            if running.log:
                words += f"  | {running.log[-1][:60]}"
        if not self._live.is_started:
            self._live.start()
        self._live.update(Text(f"⠿ {d['tag'] or 'image'}: {words} ({d['elapsed']:.0f} s)", style="cyan"), refresh=True)


def terminal_build_view():
    """The live build view for a terminal (rich)."""
    return RichBuildView()


def sweep_html(d) -> str:
    """HTML of a sweep's live state: one row per point (values, state, node, attempt, elapsed)."""
    names = list(d["points"][0]["values"]) if d["points"] else []
    head = "".join(
        f"<th style='{_CELL}'>{html.escape(n)}</th>" for n in names + ["state", "node", "attempt", "elapsed"]
    )
    rows = []
    for p in d["points"]:
        color = {"done": "#2a7", "skipped": "#2a7", "failed": "#c22", "running": "#06c", "interrupted": "#c70"}.get(
            p["status"], "#888"
        )
        cells = [html.escape(str(p["values"][n])) for n in names]
        elapsed = "" if p["elapsed"] is None else f"{p['elapsed']:.0f}&nbsp;s"
        cells += [
            f"<span style='color:{color}'>{p['status']}</span>",
            html.escape(p["node"] or ""),
            str(p["attempts"] or ""),
            elapsed,
        ]
        rows.append("<tr>" + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>")
    done = sum(p["status"] in ("done", "skipped") for p in d["points"])
    title = (
        f"<b>{html.escape(d['name'])}</b>: {done} of {len(d['points'])} points done on {d['backend']} "
        f"({d['elapsed']:.0f} s)"
    )
    return (
        f"<div class='dockermagic-sweep' style='text-align:left'><div>{title}</div>"
        f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div>"
    )


class SweepView(_LiveView):
    """A sweep as it runs: a live table in Jupyter, a line per finished point in a terminal."""

    def bundle(self, payload):
        return {"text/html": sweep_html(payload), "text/plain": plain(payload), MIME: payload}

    def __call__(self, state):
        d = state.to_dict()
        if self._publisher is not None:
            self._publisher.publish(d, force=d["phase"] != "running")
            return
        for p in d["points"]:
            if (
                p["status"] in ("done", "failed", "skipped", "interrupted")
                and self._printed.get(p["name"]) != p["status"]
            ):
                self._printed[p["name"]] = p["status"]
                values = ", ".join(f"{k}={v}" for k, v in p["values"].items())
                where = f" on {p['node']}" if p["node"] else ""
                self.stream.write(f"{p['status']:<11} {values}{where} (attempts {p['attempts']})\n")
        self.stream.flush()
