"""Program export: the notebook's cells as a program that runs in the image.

Each cell becomes plain Python with :func:`dockermagic.translate.translate_cell`, which lists
the magics that are translated, dropped or left to IPython. :func:`export_script` joins the
cells into ``program.py``: it starts dockermagic's runtime, runs the cells in order and saves
the open figures at the end of each cell, as the inline backend shows them. When a magic
still needs IPython, the image runs the program under it (:attr:`Program.uses_ipython`,
:attr:`Program.ipython_magics` says why) and the ``%load_ext`` lines run there too
(:attr:`Program.extension_imports`).

:func:`export_notebook` and :func:`export_lab` keep the cells as a notebook that the image's
kernel runs; :func:`add_script_metadata` puts a PEP 723 block at the top of ``program.py``.
"""

import ast
import json
import re
from dataclasses import dataclass, field, replace
from typing import Optional

from IPython.core.inputtransformer2 import TransformerManager

from . import __version__
from .layout import LAB_PORT, NOTEBOOK_FILE, PROGRAM_FILE, RUNTIME_PACKAGE
from .ownlines import is_own_line
from .translate import CellCode, PipLine, translate_cell


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
        extension_imports: ``(cell, module)`` for each ``%load_ext MODULE`` (not dockermagic,
            not one of IPython's own): the module's distribution is a requirement.
        written_files: paths the program writes itself with ``%%writefile`` (relative to the
            notebook folder, normalized): a later ``import`` of such a module is not missing.
        written_text: ``{path: text}`` of those files (``-a`` appends included), so the imports
            of a written module can be read too.
        ipython_magics: ``(cell, magic)`` for each magic that keeps IPython in the image.
    """

    files: dict
    command: list[str]
    cells: list[CellCode]
    pip_lines: list[PipLine] = field(default_factory=list)
    uses_ipython: bool = False
    dropped: list[tuple[str, str]] = field(default_factory=list)
    extension_imports: list[tuple[str, str]] = field(default_factory=list)
    written_files: list[str] = field(default_factory=list)
    written_text: dict = field(default_factory=dict)
    ipython_magics: list[tuple[str, str]] = field(default_factory=list)


def _kernel_micro():
    """The micro sign the kernel's IPython prints in timings (8.x: U+00B5, 9.x: U+03BC), or None."""
    try:
        from IPython.core.magics.execution import _format_time

        unit = _format_time(2e-6).split()[-1]
    except Exception:
        return None
    return unit[0] if unit in ("\u00b5s", "\u03bcs") else None


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
            kept += lines[start : stmt.end_lineno]
    return "\n".join(kept)


def export_script(
    cells,
    final_body=None,
    source="",
    final_label="%%dockerize cell",
    carry=(),
    serve_function=None,
    port=None,
    *,
    force_ipython=False,
    parameters_cell=None,
):
    """Export cells (and the ``%%dockerize`` cell body) as one Python script.

    Args:
        cells: :class:`dockermagic.capture.Cell` list, in run order.
        final_body: the body of the ``%%dockerize`` cell: the program's last step.
        source: where the cells came from, for the script's header.
        carry: names of kernel objects loaded from pickles instead of recomputed: the cells
            then contribute only their imports, definitions and constants.
        serve_function: name of a function to serve as a JSON endpoint on ``port``.
        force_ipython: the program runs under IPython anyway (the notebook form): keep the
            ``%load_ext`` lines.
        parameters_cell: the label of the parameters cell: right after it, values given at run
            time (``--param``) replace its defaults.

    Returns:
        Program
    """
    pairs = [(c.label, c.source) for c in cells if c.source.strip()]
    if final_body and final_body.strip():
        pairs.append((final_label, final_body))

    def translate_all(keep_extensions):
        own_names = set()
        return [translate_cell(label, text, own_names, keep_extensions=keep_extensions) for label, text in pairs]

    results = translate_all(force_ipython)
    uses_ipython = force_ipython or any(cell.uses_ipython for cell, _, _ in results)
    if uses_ipython and not force_ipython and any(cell.extensions for cell, _, _ in results):
        results = translate_all(True)  # the image runs IPython: its extensions load there too
    translated = [cell for cell, _, _ in results]
    pips = [pip for _, cell_pips, _ in results for pip in cell_pips]
    dropped = [line for _, _, cell_dropped in results for line in cell_dropped]
    written, written_text = [], {}
    for cell in translated:
        for path in cell.written_files:
            if path not in written:
                written.append(path)
        for path, append, text in cell.written_text:
            written_text[path] = (written_text.get(path, "") if append else "") + text
    micro = _kernel_micro()
    options = f", micro={micro!a}" if micro and micro != "\u00b5" else ""
    parts = [
        f"# Exported by dockermagic {__version__} from {source or 'a notebook'}.",
        f"import {RUNTIME_PACKAGE}",
        f"{RUNTIME_PACKAGE}.start(globals(), ipython={uses_ipython}{options})",
        "",
    ]
    if carry:
        parts += [
            f"# objects carried from the kernel: {', '.join(carry)}",
            f"{RUNTIME_PACKAGE}.load_objects(globals())",
            "",
        ]
    for cell in translated:
        code = cell.code if not carry or cell.label == final_label else _definitions_only(cell.code)
        parts += [f"# %% {cell.label}", code.rstrip(), f"{RUNTIME_PACKAGE}.cell_done({cell.label!r})", ""]
        if cell.label == parameters_cell:
            parts += [f"{RUNTIME_PACKAGE}.inject_parameters(globals())", ""]
    if serve_function:
        parts += [f"{RUNTIME_PACKAGE}.serve({serve_function}, {int(port)})", ""]
    text = "\n".join(parts)
    return Program(
        files={PROGRAM_FILE: text},
        command=["python", PROGRAM_FILE],
        cells=translated,
        pip_lines=pips,
        uses_ipython=uses_ipython,
        dropped=dropped,
        extension_imports=[(cell.label, module) for cell in translated for module in cell.extensions],
        written_files=written,
        written_text=written_text,
        ipython_magics=[(cell.label, magic) for cell in translated for magic in cell.ipython_magics],
    )


#: raw install lines, commented out in the notebook form (they become requirements)
_INSTALL_LINE = re.compile(r"^\s*(?:%pip\b|%conda\b|!\s*pip3?\s+install)")


def export_lab(cells, final_body=None, source="", final_label="%%dockerize cell"):
    """Export for ``--form lab``: JupyterLab serving the notebook in exactly its environment.

    The notebook (dockermagic's own lines commented out) is the only program file; the
    command starts JupyterLab on port 8888 with token authentication (set ``JUPYTER_TOKEN``
    at run time, or read the generated token from the logs).
    """
    program = export_notebook(cells, final_body, source, final_label)
    program.command = [
        "jupyter",
        "lab",
        "--ip=0.0.0.0",
        f"--port={LAB_PORT}",
        "--no-browser",
        "--ServerApp.root_dir=/app",
    ]
    return program


def export_notebook(cells, final_body=None, source="", final_label="%%dockerize cell"):
    """Export cells as a notebook that the image executes headless (``--form notebook``).

    Magics run natively under the image's kernel; dockermagic's own lines and ``%pip``
    lines are commented out (``%pip`` lines become requirements). The program writes the
    executed notebook, an HTML report and the figures.
    """
    import nbformat

    script = export_script(cells, final_body, source, final_label, force_ipython=True)  # for requirements and checks
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    pairs = [(c.label, c.source) for c in cells]
    if final_body and final_body.strip():
        pairs.append((final_label, final_body))
    tags = {c.label: list(getattr(c, "tags", ()) or ()) for c in cells}
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
        lines = [
            f"# {line}  (kernel only: not run)" if i in drop or is_own_line(line) or _INSTALL_LINE.match(line) else line
            for i, line in enumerate(lines)
        ]
        if any(line.strip() for line in lines):
            cell = nbformat.v4.new_code_cell("\n".join(lines))
            cell.metadata["dockermagic"] = {"source_cell": label}
            if tags.get(label):
                cell.metadata["tags"] = tags[label]  # ``parameters``: run-time values go after it
            nb.cells.append(cell)
    text = nbformat.writes(nb)
    return Program(
        files={NOTEBOOK_FILE: text},
        command=["python", "-m", f"{RUNTIME_PACKAGE}.notebook", NOTEBOOK_FILE],
        cells=script.cells,
        pip_lines=script.pip_lines,
        uses_ipython=True,
        dropped=script.dropped,
        extension_imports=script.extension_imports,
        written_files=script.written_files,
        written_text=script.written_text,
        ipython_magics=script.ipython_magics,
    )


#: the index uv and pip use when none is configured
PYPI_SIMPLE = ("https://pypi.org/simple", "https://pypi.org/simple/", "https://pypi.python.org/simple")


def script_metadata(
    requirements: list[str],
    python_version: tuple,
    index_url: Optional[str] = None,
    extra_index_urls: list[str] = (),
) -> str:
    """The PEP 723 block (``# /// script`` ... ``# ///``) describing a program's environment.

    ``requires-python`` pins the kernel's ``major.minor`` (``"==3.11.*"``: the exact pins were
    resolved for it); ``dependencies`` are the requirement lines as given (exact pins); a
    ``[tool.uv]`` table names the index when it is not PyPI, which ``uv run`` honours.
    Lines that are pip options rather than requirements (``--hash``, ``-e``...) are left out.
    """
    major, minor = (int(part) for part in tuple(python_version)[:2])
    dependencies = [line.strip() for line in requirements if line.strip() and not line.strip().startswith("-")]
    toml = [f'requires-python = "=={major}.{minor}.*"']
    if dependencies:
        toml.append("dependencies = [")
        toml += [f"    {json.dumps(line)}," for line in dependencies]
        toml.append("]")
    else:
        toml.append("dependencies = []")
    extras = [url for url in extra_index_urls or () if url]
    if index_url and index_url not in PYPI_SIMPLE or extras:
        toml += ["", "[tool.uv]"]
        if index_url and index_url not in PYPI_SIMPLE:
            toml.append(f"index-url = {json.dumps(index_url)}")
        if extras:
            toml.append(f"extra-index-url = [{', '.join(json.dumps(url) for url in extras)}]")
    return "\n".join(["# /// script"] + [f"# {line}" if line else "#" for line in toml] + ["# ///"])


def add_script_metadata(
    program: Program,
    requirements: list[str],
    python_version: tuple,
    index_url: Optional[str] = None,
    extra_index_urls: list[str] = (),
) -> Program:
    """The program with a PEP 723 block at the top of ``program.py``, so that ``uv run program.py``
    outside Docker installs the same pinned environment (see :func:`script_metadata`).

    Returns a new :class:`Program`; a program without ``program.py`` (the notebook and lab
    forms) is returned as it is. A block already there is replaced.
    """
    text = program.files.get(PROGRAM_FILE)
    if text is None:
        return program
    text = re.sub(r"(?ms)\A# /// script\n.*?^# ///\n+", "", text)
    block = script_metadata(requirements, python_version, index_url, extra_index_urls)
    return replace(program, files={**program.files, PROGRAM_FILE: f"{block}\n{text}"})
