"""Live views of builds and runs in the notebook (HTML) or a terminal (plain text).

Only this module and the magics talk to IPython's display. A view is a callable: pass it
as ``progress=`` to :func:`dockermagic.dockerize` or :func:`dockermagic.run`.
"""

import html
import sys
import time

from .results import human_size

MIME = "application/vnd.dockermagic.progress+json"
_ICONS = {"pending": "·", "cached": "♻", "running": "▶", "done": "✔", "failed": "✘"}
_COLORS = {"pending": "#888", "cached": "#2a7", "running": "#06c", "done": "#2a7", "failed": "#c22"}


def in_notebook():
    """Whether output goes to a Jupyter front end (not a terminal IPython or plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def build_html(state):
    """HTML of a :class:`~dockermagic.progress.BuildProgress`."""
    d = state.to_dict()
    rows = []
    for step in d["steps"]:
        color = _COLORS.get(step["state"], "#888")
        secs = "" if step["seconds"] is None else f"{step['seconds']:.1f} s"
        rows.append(f"<tr><td style='color:{color};text-align:center'>{_ICONS.get(step['state'], '')}</td>"
                    f"<td style='text-align:left;color:{color}'>{step['state']}</td>"
                    f"<td style='text-align:right'>{secs}</td>"
                    f"<td style='text-align:left'><code>{html.escape(step['instruction'][:160])}</code></td></tr>")
        if step["log"] and step["state"] in ("running", "failed"):
            bg = "#fee" if step["state"] == "failed" else "#f6f6f6"
            rows.append(f"<tr><td></td><td colspan=3><pre style='margin:0;max-height:14em;overflow:auto;"
                        f"background:{bg};font-size:85%'>{html.escape(chr(10).join(step['log'][-15:]))}</pre></td></tr>")
    pulls = ""
    if d["pull"]:
        items = "".join(f"<li><code>{html.escape(layer)}</code> {html.escape(p['status'])}"
                        + (f" {human_size(p['current'])}/{human_size(p['total'])}" if p.get("total") else "")
                        + "</li>" for layer, p in d["pull"].items())
        pulls = f"<div>pulling the base image<ul>{items}</ul></div>"
    head = {"requirements": "working out requirements", "context": "writing the build context",
            "pull": "pulling the base image", "build": "building",
            "done": "built", "failed": "build failed"}.get(d["phase"], d["phase"])
    summary = f"<b>{html.escape(d['tag'])}</b>: {head} ({d['elapsed']:.1f} s)"
    if d["phase"] == "done":
        cached = [s["n"] for s in d["steps"] if s["state"] == "cached"]
        summary += f", {human_size(d['size'])}" + (f", steps {', '.join(map(str, cached))} from cache" if cached else "")
        if cached and d.get("changes"):
            summary += "<div>rebuilt because " + html.escape("; ".join(d["changes"])) + "</div>"
    if d["phase"] == "failed" and d["message"]:
        summary += f"<div style='color:#c22'>{html.escape(d['message'])}</div>"
    full = ""
    if d["phase"] in ("done", "failed") and state.log:
        full = (f"<details><summary>full build log ({len(state.log)} lines)</summary>"
                f"<pre style='max-height:20em;overflow:auto;font-size:85%'>{html.escape(chr(10).join(state.log))}</pre></details>")
    return (f"<div class='dockermagic-build'><div>{summary}</div>{pulls}"
            f"<table style='border-collapse:collapse'>{''.join(rows)}</table>{full}</div>")


def build_text(state):
    """Plain-text summary of a build, for terminals and ``text/plain``."""
    d = state.to_dict()
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


class _LiveView:
    """A view that updates one display in Jupyter, or prints lines in a terminal.

    Args:
        interval: least seconds between two updates of the notebook view.
    """

    def __init__(self, interval=0.25, stream=None):
        self.interval = interval
        self.notebook = in_notebook()
        self.stream = stream or sys.stdout
        self._handle = None
        self._last = 0.0
        self._printed = {}

    def _publish(self, bundle):
        from IPython.display import display

        if self._handle is None:
            self._handle = display(_Bundle(bundle), display_id=True)
        else:
            self._handle.update(_Bundle(bundle))


class BuildView(_LiveView):
    """Shows a build as it happens: a live HTML table in Jupyter, step lines in a terminal."""

    _last_states = None

    def bundle(self, state):
        return {"text/html": build_html(state), "text/plain": build_text(state), MIME: state.to_dict()}

    def __call__(self, state):
        if self.notebook:
            self._update_notebook(state)
        else:
            self._print(state)

    def _update_notebook(self, state):
        states = (state.phase, tuple(s.state for s in state.steps))
        now = time.monotonic()
        if states == self._last_states and now - self._last < self.interval:
            return
        self._last, self._last_states = now, states
        self._publish(self.bundle(state))

    def _print(self, state):
        out = self.stream
        for step in state.steps:
            seen = self._printed.setdefault(step.n, {"state": None, "lines": 0})
            if step.state == "pending":
                continue
            if seen["state"] is None:
                out.write(f"Step {step.n}/{len(state.steps)}: {step.instruction[:120]}\n")
            for line in step.log[seen["lines"]:]:
                out.write(f"    {line}\n")
            seen["lines"] = len(step.log)
            if step.state != seen["state"] and step.state in ("cached", "done", "failed"):
                secs = f" ({step.seconds:.1f} s)" if step.seconds is not None else ""
                out.write(f"  -> {step.state}{secs}\n")
            seen["state"] = step.state
        if state.phase in ("done", "failed") and not self._printed.get("end"):
            self._printed["end"] = True
            out.write(build_text(state).splitlines()[0] + "\n")
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
        for line in state.logs[self._lines:]:
            self.stream.write(line + "\n")
        self._lines = len(state.logs)
        self.stream.flush()


def show(obj):
    """Display a result (Image or Run) with its JSON summary for the JupyterLab panel."""
    from IPython.display import display

    bundle = {"text/plain": repr(obj), "text/html": obj._repr_html_(),
              "application/vnd.dockermagic.result+json": obj.to_dict()}
    display(_Bundle(bundle))


def transfer_html(state):
    d = state.to_dict()
    rows = "".join(f"<tr><td><code>{html.escape(layer)}</code></td><td>{html.escape(p['status'])}</td>"
                   f"<td>{human_size(p['current']) + ' / ' + human_size(p['total']) if p.get('total') else ''}</td></tr>"
                   for layer, p in d["layers"].items())
    verb = "pushing" if d["kind"] == "push" else "pulling"
    head = f"<b>{html.escape(d['ref'])}</b>: {verb if not d['done'] else d['kind'] + 'ed'} ({d['elapsed']:.1f} s)"
    return f"<div class='dockermagic-transfer'><div>{head}</div><table>{rows}</table><div>{html.escape(d['status'])}</div></div>"


class TransferView(_LiveView):
    """Per-layer progress of a push or pull: a live table in Jupyter, status lines in a terminal."""

    def __call__(self, state):
        if self.notebook:
            now = time.monotonic()
            if not state.done and now - self._last < self.interval and self._handle is not None:
                return
            self._last = now
            self._publish({"text/html": transfer_html(state), "text/plain": f"{state.kind} {state.ref}",
                           MIME: state.to_dict()})
            return
        for layer, p in state.layers.items():
            if self._printed.get(layer) != p["status"] and not p["status"].startswith(("Pushing", "Downloading", "Extracting")):
                self._printed[layer] = p["status"]
                self.stream.write(f"{layer}: {p['status']}\n")
        if state.done:
            self.stream.write(f"{state.kind}ed {state.ref}\n")
        self.stream.flush()
