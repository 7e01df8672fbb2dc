"""Program export: the notebook's cells as a program that runs in the image.

Each cell is translated with IPython's own input transformer, so magics and ``!`` lines
mean what they meant in the kernel. Lines that only make sense in the kernel are dropped
(``%matplotlib``, ``%load_ext dockermagic``, dockermagic's own magics) and ``%pip`` /
``!pip install`` lines are handed to the requirements stage instead of being run. The
value a cell ends with is printed, as the notebook showed it; figures are saved as PNG.
"""

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from IPython.core.inputtransformer2 import TransformerManager

from . import __version__
from .errors import NotebookError

RUNTIME_PACKAGE = "_dockermagic_runtime"
PROGRAM_FILE = "program.py"

#: line magics that only concern the kernel; dropped from the program
KERNEL_ONLY_MAGICS = {"matplotlib", "config", "load_ext", "reload_ext", "unload_ext",
                      "autoreload", "aimport", "who", "whos", "lsmagic", "env", "store"}
#: dockermagic's own magics, never run inside the image
OWN_MAGICS = {"dockerize", "docker_run", "docker_stop", "docker_logs", "docker_ps", "docker_push"}
INSTALL_MAGICS = {"pip", "conda", "mamba"}


@dataclass(frozen=True)
class PipLine:
    """A ``%pip install`` (or ``!pip install``) line of the notebook.

    Attributes:
        cell: label of the cell holding it.
        args: its arguments after ``install``, split as a shell would.
        text: the line as written, for messages.
    """

    cell: str
    args: Tuple[str, ...]
    text: str


@dataclass
class CellCode:
    """One cell as plain Python (after IPython's translation and the drops)."""

    label: str
    code: str
    uses_ipython: bool = False
    dropped_lines: Tuple[Tuple[int, int], ...] = ()


@dataclass
class Program:
    """The exported program.

    Attributes:
        files: ``{relative path: text}`` of the files the program is made of.
        command: the exec-form command that runs it, relative to its folder.
        cells: every cell as Python, for the requirements stage.
        pip_lines: the ``%pip install`` lines, not run in the image.
        uses_ipython: the program needs IPython installed in the image.
        dropped: ``(cell, line)`` for each kernel-only line left out.
    """

    files: dict
    command: List[str]
    cells: List[CellCode]
    pip_lines: List[PipLine] = field(default_factory=list)
    uses_ipython: bool = False
    dropped: List[Tuple[str, str]] = field(default_factory=list)


def _magic_call(node):
    """``(kind, name, args)`` when ``node`` is ``get_ipython().run_line_magic(...)`` and the like."""
    if isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign)):
        node = node.value
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
            and owner.func.id == "get_ipython"):
        return None
    kind = node.func.attr
    consts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if kind in ("run_line_magic", "run_cell_magic") and consts:
        return kind, consts[0], consts[1] if len(consts) > 1 else ""
    if kind in ("system", "getoutput") and consts:
        return kind, "!", consts[0]
    return kind, "", ""


def _uses_ipython(tree):
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(tree))


def _pip_args(line):
    """Arguments after ``install`` of a pip command line, or None when it is not an install."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    while words and words[0] in ("python", "python3", "-m", "pip", "pip3", "%pip", "!pip"):
        words = words[1:]
    if not words or words[0] != "install":
        return None
    return tuple(words[1:])


def _replace_lines(lines, start, end, replacement):
    """Replace 1-based lines ``start..end`` with ``replacement`` lines."""
    lines[start - 1:end] = replacement


def _wrap_expression(lines, node, label):
    """Wrap the expression ``node`` in ``show(...)`` in place, keeping every line number."""
    first = lines[node.lineno - 1].encode()
    last = lines[node.end_lineno - 1].encode()
    head, tail = f"{RUNTIME_PACKAGE}.show((".encode(), f"), cell={label!r})".encode()
    if node.lineno == node.end_lineno:
        lines[node.lineno - 1] = (first[:node.col_offset] + head + first[node.col_offset:node.end_col_offset]
                                  + tail + first[node.end_col_offset:]).decode()
    else:
        lines[node.lineno - 1] = (first[:node.col_offset] + head + first[node.col_offset:]).decode()
        lines[node.end_lineno - 1] = (last[:node.end_col_offset] + tail + last[node.end_col_offset:]).decode()


def _own_import(stmt):
    """Names a statement binds to dockermagic (``import dockermagic as dm`` -> {"dm"})."""
    if isinstance(stmt, ast.Import):
        return {(a.asname or a.name).partition(".")[0] for a in stmt.names if a.name.partition(".")[0] == "dockermagic"}
    if isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and (stmt.module or "").partition(".")[0] == "dockermagic":
        return {a.asname or a.name for a in stmt.names} or {"*"}
    return set()


def translate_cell(label, source, own_names=None):
    """Translate one cell to plain Python.

    ``own_names`` collects names bound to dockermagic across cells: statements importing
    or using dockermagic concern the kernel only and are dropped.

    Returns:
        (CellCode, pip lines, dropped lines).

    Raises:
        NotebookError: the cell is not valid Python even after IPython's translation.
    """
    code = TransformerManager().transform_cell(source)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        hint = ""
        first = text.split()[0] if text.split() else ""
        if first in ("pip", "conda", "apt", "apt-get", "ls", "cd", "wget", "curl", "git"):
            hint = f" (a shell command? write it as !{text})"
        raise NotebookError(f"{label} has a syntax error on line {exc.lineno}: {exc.msg}: "
                            f"{text}{hint}") from None
    lines = code.splitlines()
    pips, dropped = [], []
    edits = []  # (start, end, replacement), applied bottom-up
    body = tree.body
    own_names = set() if own_names is None else own_names
    for stmt in body:
        bound = _own_import(stmt)
        used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)} & own_names
        if bound or used:
            own_names |= bound
            text = "\n".join(lines[stmt.lineno - 1:stmt.end_lineno]).strip().splitlines()[0]
            dropped.append((label, text))
            edits.append((stmt.lineno, stmt.end_lineno, [f"# {text}  (dockermagic: kernel only, not run)"]))
            continue
        call = _magic_call(stmt)
        if call is None:
            continue
        kind, name, args = call
        original = "\n".join(lines[stmt.lineno - 1:stmt.end_lineno])
        if kind == "run_line_magic" and name in INSTALL_MAGICS or kind in ("system", "getoutput") and _pip_args(args) is not None:
            pip_words = _pip_args(args if kind != "run_line_magic" else "pip " + args)
            if pip_words is not None and name != "conda" and name != "mamba":
                shown = ("%pip " if kind == "run_line_magic" else "!") + args
                pips.append(PipLine(label, pip_words, shown))
                edits.append((stmt.lineno, stmt.end_lineno, [f"# {shown}  (installed in the image's requirements layer)"]))
                continue
        if kind == "run_line_magic" and name in OWN_MAGICS and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            own_names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if kind == "run_line_magic" and (name in KERNEL_ONLY_MAGICS or name in OWN_MAGICS):
            dropped.append((label, f"%{name} {args}".strip()))
            edits.append((stmt.lineno, stmt.end_lineno, [f"# %{name} {args}  (kernel only: not run)".rstrip()]))
        elif kind == "run_cell_magic" and name in OWN_MAGICS:
            dropped.append((label, f"%%{name} {args}".strip()))
            edits.append((stmt.lineno, stmt.end_lineno, [f"# %%{name} cell  (not run)"]))
    last = body[-1] if body else None
    if (isinstance(last, ast.Expr) and not any(e[0] <= last.lineno <= e[1] for e in edits) and not source.rstrip().endswith(";")
            and not any(e[0] == last.lineno for e in edits)
            and _magic_call(last) is None):
        _wrap_expression(lines, last, label)
    dropped_lines = tuple((start, end) for start, end, replacement in edits if replacement[0].startswith("#"))
    for start, end, replacement in sorted(edits, reverse=True):
        _replace_lines(lines, start, end, replacement)
    new_code = "\n".join(lines)
    return CellCode(label, new_code, _uses_ipython(ast.parse(new_code)), dropped_lines), pips, dropped


def _definitions_only(code):
    """Keep imports, function and class definitions and literal constants of a cell's code."""
    tree = ast.parse(code)
    lines = code.splitlines()
    kept = []
    for stmt in tree.body:
        keep = isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            try:
                ast.literal_eval(stmt.value)
                keep = True
            except ValueError:
                keep = False
        if keep:
            start = stmt.lineno - 1 - len(getattr(stmt, "decorator_list", []) or [])
            start = min([start] + [d.lineno - 1 for d in getattr(stmt, "decorator_list", [])])
            kept += lines[start:stmt.end_lineno]
    return "\n".join(kept)


def export_script(cells, final_body=None, source="", final_label="%%dockerize cell", carry=(),
                  serve_function=None, port=None):
    """Export cells (and the ``%%dockerize`` cell body) as one Python script.

    Args:
        cells: :class:`dockermagic.capture.Cell` list, in run order.
        final_body: the body of the ``%%dockerize`` cell: the program's last step.
        source: where the cells came from, for the script's header.
        carry: names of kernel objects loaded from pickles instead of recomputed: the cells
            then contribute only their imports, definitions and constants.
        serve_function: name of a function to serve as a JSON endpoint on ``port``.

    Returns:
        Program
    """
    translated, pips, dropped = [], [], []
    own_names = set()
    pairs = [(c.label, c.source) for c in cells]
    if final_body and final_body.strip():
        pairs.append((final_label, final_body))
    for label, text in pairs:
        if not text.strip():
            continue
        cell, cell_pips, cell_dropped = translate_cell(label, text, own_names)
        translated.append(cell)
        pips += cell_pips
        dropped += cell_dropped
    uses_ipython = any(c.uses_ipython for c in translated)
    parts = [f"# Exported by dockermagic {__version__} from {source or 'a notebook'}.",
             f"import {RUNTIME_PACKAGE}",
             f"{RUNTIME_PACKAGE}.start(globals(), ipython={uses_ipython})", ""]
    if carry:
        parts += [f"# objects carried from the kernel: {', '.join(carry)}",
                  f"{RUNTIME_PACKAGE}.load_objects(globals())", ""]
    for cell in translated:
        code = cell.code if not carry or cell.label == final_label else _definitions_only(cell.code)
        parts += [f"# %% {cell.label}", code.rstrip(), f"{RUNTIME_PACKAGE}.cell_done({cell.label!r})", ""]
    if serve_function:
        parts += [f"{RUNTIME_PACKAGE}.serve({serve_function}, {int(port)})", ""]
    text = "\n".join(parts)
    return Program(files={PROGRAM_FILE: text}, command=["python", PROGRAM_FILE],
                   cells=translated, pip_lines=pips, uses_ipython=uses_ipython, dropped=dropped)


NOTEBOOK_FILE = "notebook.ipynb"
#: raw lines that concern the kernel only, commented out in the notebook form
_KERNEL_ONLY_LINE = re.compile(r"^\s*(?:[\w.]+\s*=\s*)?(?:%load_ext\s+dockermagic|%+docker\w*|%pip\b|%conda\b|!\s*pip3?\s+install)")


LAB_PORT = 8888


def export_lab(cells, final_body=None, source="", final_label="%%dockerize cell"):
    """Export for ``--form lab``: JupyterLab serving the notebook in exactly its environment.

    The notebook (dockermagic's own lines commented out) is the only program file; the
    command starts JupyterLab on port 8888 with token authentication (set ``JUPYTER_TOKEN``
    at run time, or read the generated token from the logs).
    """
    program = export_notebook(cells, final_body, source, final_label)
    program.command = ["jupyter", "lab", "--ip=0.0.0.0", f"--port={LAB_PORT}", "--no-browser",
                       "--ServerApp.root_dir=/app"]
    return program


def export_notebook(cells, final_body=None, source="", final_label="%%dockerize cell"):
    """Export cells as a notebook that the image executes headless (``--form notebook``).

    Magics run natively under the image's kernel; dockermagic's own lines and ``%pip``
    lines are commented out (``%pip`` lines become requirements). The program writes the
    executed notebook, an HTML report and the figures.
    """
    import nbformat

    script = export_script(cells, final_body, source, final_label)  # for requirements and checks
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    pairs = [(c.label, c.source) for c in cells]
    if final_body and final_body.strip():
        pairs.append((final_label, final_body))
    translated = {c.label: c for c in script.cells}
    for label, text in pairs:
        if text.lstrip().startswith("%%docker"):
            continue
        lines = text.splitlines()
        cell_code = translated.get(label)
        same_shape = cell_code is not None and len(TransformerManager().transform_cell(text).splitlines()) == len(lines)
        drop = set()
        if same_shape:
            for start, end in cell_code.dropped_lines:
                drop.update(range(start - 1, end))
        lines = [f"# {line}  (kernel only: not run)" if i in drop or _KERNEL_ONLY_LINE.match(line) else line
                 for i, line in enumerate(lines)]
        if any(line.strip() for line in lines):
            cell = nbformat.v4.new_code_cell("\n".join(lines))
            cell.metadata["dockermagic"] = {"source_cell": label}
            nb.cells.append(cell)
    text = nbformat.writes(nb)
    return Program(files={NOTEBOOK_FILE: text}, command=["python", "-m", f"{RUNTIME_PACKAGE}.notebook", NOTEBOOK_FILE],
                   cells=script.cells, pip_lines=script.pip_lines, uses_ipython=True, dropped=script.dropped)
