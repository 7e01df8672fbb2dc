"""Support code copied into every image as the package ``_dockermagic_runtime``.

It makes a notebook behave as a program the way it behaved in the kernel: figures that
``plt.show()`` (or the end of a cell) would have shown are saved as PNG files, the value a
cell ends with is printed (and tables saved as CSV), ``display()`` exists, and, when the
program uses IPython syntax, ``get_ipython()`` answers. It needs nothing but the standard
library; matplotlib support loads only when the program imports matplotlib.
"""

import os
import re
import sys

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


def save_open_figures():
    """Save every open matplotlib figure as PNG, in the order they were made, and close them."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    saved = []
    for number in plt.get_fignums():
        figure = plt.figure(number)
        path = _next_path("figure", FIGURES, ".png")
        figure.savefig(path, bbox_inches="tight")
        saved.append(path)
    plt.close("all")
    for path in saved:
        print(f"[dockermagic] figure saved: {path}", flush=True)
    return saved


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
    """What a notebook does with the value a cell ends with: print it; save tables as CSV."""
    if value is None:
        return
    if _is_table(value):
        path = _next_path("table", TABLES, ".csv", cell)
        value.to_csv(path)
        print(f"[dockermagic] table saved: {path}", flush=True)
    print(repr(value), flush=True)


def display(*values, **kwargs):
    """Stand-in for IPython's ``display()`` in a program run outside a kernel."""
    for value in values:
        if type(value).__name__ == "Figure" and hasattr(value, "savefig"):
            path = _next_path("figure", FIGURES, ".png")
            value.savefig(path, bbox_inches="tight")
            print(f"[dockermagic] figure saved: {path}", flush=True)
        else:
            show(value)


def start(namespace, ipython=False):
    """Prepare the program's global namespace.

    Args:
        namespace: the program's ``globals()``.
        ipython: give the program a real IPython shell for magics and ``!`` lines.
    """
    namespace.setdefault("display", display)
    if ipython:
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(user_module=sys.modules["__main__"], user_ns=namespace)
        namespace["get_ipython"] = lambda: shell
        namespace.setdefault("In", [""])
        namespace.setdefault("Out", {})


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
