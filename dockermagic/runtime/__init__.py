"""Support code copied into every image as the package ``_dockermagic_runtime``.

It makes a notebook behave as a program the way it behaved in the kernel: figures are saved
as PNG files by the inline backend's rule (at the end of each cell every open figure is shown
and closed; a figure, or any object with a PNG representation, that a cell ends with or that
``display()`` shows is shown too, in that order), the value a cell ends with is printed (and
tables saved as CSV), ``display()`` exists, IPython's common magics run as plain functions
(:mod:`.magics`), and, when the program still needs IPython, ``get_ipython()`` answers and
matplotlib starts as it does under the kernel's inline backend. It needs nothing but the
standard library; matplotlib support loads only when the program imports matplotlib.
"""

import os
import re
import sys

from . import magics
from .magics import (  # noqa: F401 - the exported program calls them as _dockermagic_runtime.NAME
    HIDDEN,
    CapturedIO,
    SList,
    Timed,
    TimeitResult,
    UsageError,
    capture,
    capturing_display,
    cd,
    env,
    getoutput,
    pwd,
    script,
    set_env,
    system,
    timeit,
    who,
    who_ls,
    whos,
    writefile,
)

FIGURES = os.environ.get("DOCKERMAGIC_FIGURES", "figures")
TABLES = os.environ.get("DOCKERMAGIC_TABLES", "tables")
_counts = {"figure": 0, "table": 0}


def _next_path(kind, folder, suffix, cell=None):
    _counts[kind] += 1
    os.makedirs(folder, exist_ok=True)
    stem = f"{kind}-{_counts[kind]:03d}"
    if cell:
        stem += "-" + re.sub(r"[^A-Za-z0-9]+", "", cell)
    return os.path.join(folder, stem + suffix)


def _is_figure(value):
    """A matplotlib Figure (checked by name: matplotlib may not even be installed)."""
    return type(value).__name__ in ("Figure", "SubFigure") and hasattr(value, "savefig")


def _open_figures(close=False):
    """pyplot's open figures in the order they were made; closed when ``close``."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    figures = [plt.figure(number) for number in plt.get_fignums()]
    if close and figures:
        plt.close("all")
    return figures


def _save_png(data, cell=None):
    path = _next_path("figure", FIGURES, ".png", cell)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _show_figure(figure):
    """Show one figure as the inline backend does: a PNG, unless the figure is empty."""
    print(repr(figure), flush=True)  # the text the kernel shows with the image
    if not figure.axes and not getattr(figure, "lines", None):
        return None  # the inline backend shows no image for an empty figure
    path = _next_path("figure", FIGURES, ".png")
    figure.savefig(path, bbox_inches="tight")
    print(f"[dockermagic] figure saved: {path}", flush=True)
    return path


def _png_of(value):
    try:
        data = value._repr_png_()
    except Exception:
        return None
    if isinstance(data, tuple):  # (data, metadata)
        data = data[0]
    if isinstance(data, str):
        import base64

        data = base64.b64decode(data)
    return data if isinstance(data, (bytes, bytearray)) else None


def save_open_figures():
    """Show (save as PNG) every open matplotlib figure, in the order they were made, and close them.

    Inside ``%%capture`` the figures go to the captured outputs instead, as in the kernel.
    """
    captured = capturing_display()
    figures = _open_figures(close=True)
    if captured is not None:
        captured.outputs.extend(figures)
        return []
    return [path for path in map(_show_figure, figures) if path]


MARKERS = os.environ.get("DOCKERMAGIC_MARKERS") == "1"
MARK = "\x1e[dockermagic cell end] "


def cell_done(cell):
    """End of a notebook cell: show what the inline backend would have shown."""
    save_open_figures()
    if MARKERS:
        sys.stderr.flush()
        print(MARK + cell, flush=True)


def _is_table(value):
    return type(value).__name__ in ("DataFrame", "Series") and hasattr(value, "to_csv")


def show(value, cell=None):
    """What a notebook does with a value it displays (a cell's last value, ``display(x)``).

    A figure, or any object with a PNG representation (``_repr_png_``), is saved as PNG; a
    table is saved as CSV; the text the kernel would show is printed. Inside ``%%capture``
    the value goes to the captured outputs.
    """
    if value is None:
        return
    captured = capturing_display()
    if captured is not None:
        captured.outputs.append(value)
        return
    if _is_figure(value):
        _show_figure(value)
        return
    if hasattr(value, "_repr_png_") and not isinstance(value, type):
        data = _png_of(value)
        if data:
            print(repr(value), flush=True)
            print(f"[dockermagic] figure saved: {_save_png(data)}", flush=True)
            return
    if _is_table(value):
        path = _next_path("table", TABLES, ".csv", cell)
        value.to_csv(path)
        print(f"[dockermagic] table saved: {path}", flush=True)
    print(repr(value), flush=True)


def display(*values, **kwargs):
    """Stand-in for IPython's ``display()``: each value is shown as a cell's last value would be."""
    for value in values:
        show(value)


#: IPython's modules that define ``display``; when the program imports them without a kernel,
#: their ``display`` becomes this runtime's, so ``display(fig)`` still saves the figure
_DISPLAY_MODULES = ("IPython.core.display_functions", "IPython.core.display", "IPython.display")


def _use_our_display(module):
    if "display" in vars(module):
        module.display = display


class _DisplayFinder:
    """Import hook: after one of IPython's display modules loads, its ``display`` is ours."""

    def find_spec(self, name, path=None, target=None):
        if name not in _DISPLAY_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            run(module)
            _use_our_display(module)

        loader.exec_module = exec_module
        return spec


def _patch_display():
    for name in _DISPLAY_MODULES:
        if name in sys.modules:
            _use_our_display(sys.modules[name])
    if not any(isinstance(finder, _DisplayFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DisplayFinder())


def quiet_matplotlib_integration(shell):
    """Let pyplot start under this IPython shell as it does under the kernel's inline backend.

    When IPython is running, pyplot hooks itself into the shell the first time it picks its
    backend, and asks IPython which GUI event loop the backend needs. matplotlib < 3.9 asks
    through ``IPython.core.pylabtools.backend2gui``, which IPython 9 removed: the first
    ``plt.plot()`` then dies with ``ImportError: cannot import name 'backend2gui'``. The
    kernel survives it only because matplotlib-inline catches that error. Here the question
    gets the answer the inline backend gets, "no GUI": ``backend2gui`` exists (empty) when
    IPython lacks it, and the shell's ``enable_gui`` does nothing (newer matplotlib may ask for
    a "headless" loop, which a plain ``InteractiveShell`` refuses).
    """
    import warnings

    try:
        from IPython.core import pylabtools
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        present = hasattr(pylabtools, "backend2gui")
    if not present:
        pylabtools.backend2gui = {}
    shell.enable_gui = lambda gui=None: None


def start(namespace, ipython=False, micro=None):
    """Prepare the program's global namespace.

    Args:
        namespace: the program's ``globals()``.
        ipython: give the program a real IPython shell for the magics that still need it.
        micro: the micro sign the kernel's IPython prints in timings, when not ``\u00b5``.
    """
    if micro:
        magics.MICRO = micro
    namespace.setdefault("display", display)
    HIDDEN["display"] = namespace["display"]
    if ipython:
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(user_module=sys.modules["__main__"], user_ns=namespace)
        quiet_matplotlib_integration(shell)
        namespace["get_ipython"] = lambda: shell
        namespace.setdefault("In", [""])
        namespace.setdefault("Out", {})
        for name in ("get_ipython", "In", "Out"):
            HIDDEN[name] = namespace[name]
    _patch_display()


def load_objects(namespace, folder="_dockermagic_objects"):
    """Load the kernel objects carried into the image (``--carry NAME``) into the program's globals."""
    import pickle

    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pkl"):
            with open(os.path.join(folder, name), "rb") as f:
                namespace[name[:-4]] = pickle.load(f)
            print(f"[dockermagic] loaded {name[:-4]} from the notebook's kernel", flush=True)


def serve(function, port, path=None):
    """Serve ``function`` as a JSON endpoint: ``POST /<name>`` with a JSON body.

    A JSON object is passed as keyword arguments, anything else as the one argument; the
    return value is sent back as JSON (NumPy arrays and pandas objects are converted).
    ``GET /health`` answers 200 for health checks.
    """
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    route = "/" + (path or function.__name__).strip("/")

    def to_json(value):
        for method in ("tolist", "to_dict"):
            if hasattr(value, method):
                return getattr(value, method)()
        if hasattr(value, "item"):
            return value.item()
        raise TypeError(f"cannot send {type(value).__name__} as JSON")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code, payload):
            body = json.dumps(payload, default=to_json).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": f"POST JSON to {route}"})

        def do_POST(self):
            if self.path != route:
                self._send(404, {"error": f"POST JSON to {route}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"null")
            except ValueError as exc:
                self._send(400, {"error": f"the body is not JSON: {exc}"})
                return
            try:
                result = function(**data) if isinstance(data, dict) else function(data)
            except Exception as exc:  # the caller gets the error, the server stays up
                self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
                return
            self._send(200, result)

        def log_message(self, fmt, *args):
            print(f"[dockermagic] {self.address_string()} {fmt % args}", flush=True)

    server = ThreadingHTTPServer(("0.0.0.0", int(port)), Handler)
    print(f"[dockermagic] serving {function.__name__} at POST {route} on port {port}", flush=True)
    server.serve_forever()


_START_DIR = os.getcwd()
RECORDS_FILE = "records.json"


def record(name, value):
    """``dockermagic.record(name, value)`` in the image: the value joins ``records.json`` in the
    program's folder, which comes back with its outputs (``run.records``, a sweep's table)."""
    import json

    path = os.path.join(_START_DIR, RECORDS_FILE)
    try:
        with open(path) as f:
            records = json.load(f)
    except (OSError, ValueError):
        records = {}
    records[str(name)] = value
    with open(path + ".tmp", "w") as f:
        json.dump(records, f, default=repr)
    os.replace(path + ".tmp", path)
    print(f"[dockermagic] record {name} = {value!r}", flush=True)
    return value


def inject_parameters(namespace):
    """Right after the parameters cell: the values of ``DOCKERMAGIC_PARAMETERS`` (``--param``,
    a sweep's point) replace the cell's defaults, as papermill's injected cell does."""
    import ast
    import json

    text = os.environ.get("DOCKERMAGIC_PARAMETERS")
    if not text:
        return
    for name, literal in json.loads(text).items():
        namespace[name] = ast.literal_eval(literal)
        print(f"[dockermagic] parameter {name} = {namespace[name]!r}", flush=True)
