"""Capture: what the live kernel knows that the image must reproduce.

The notebook's cells (from the saved notebook the kernel belongs to, or from the kernel's
execution history when there is no file), and facts about the kernel: Python version, the
modules it has loaded and its package-index settings. This is the only stage that looks
at the kernel; everything after it works on the plain :class:`Capture` it returns.
"""

import configparser
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from . import opened as _opened
from .errors import DockermagicError, NotebookError
from .layout import cache_home
from .ownlines import is_own_cell


@dataclass(frozen=True)
class Cell:
    """One code cell of the program.

    Attributes:
        label: how messages name the cell: ``"cell 3"`` (notebook position) or ``"In [7]"``.
        source: the cell's raw text, IPython syntax included.
        execution_count: the kernel's count for it, when known.
        outputs_text: the text outputs the cell showed, when known.
        tags: the cell's tags in the saved notebook (``parameters`` marks papermill's defaults).
        error: the traceback the cell showed when it raised in the kernel (saved notebooks).
    """

    label: str
    source: str
    execution_count: Optional[int] = None
    outputs_text: str = ""
    tags: tuple = ()
    error: str = ""


@dataclass(frozen=True)
class IndexSettings:
    """Package-index settings of the kernel's pip, as they must reach a build.

    Attributes:
        index_url: replaces PyPI when set.
        extra_index_urls: searched as well.
        trusted_hosts: hosts pip accepts without TLS verification.
        ca_bundle: CA certificates pip verifies the index with (e.g. behind a TLS proxy).
        dropped: settings that cannot work inside a container (``file://`` indexes, local
            ``find-links`` folders), for a note to the user.
    """

    index_url: Optional[str] = None
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    ca_bundle: Optional[Path] = None
    dropped: tuple[str, ...] = ()
    #: let uv pick the best version across every index (needed with PyTorch's index, which also
    #: serves copies of common packages)
    best_match: bool = False


@dataclass
class Capture:
    """Everything later stages need from the kernel.

    Attributes:
        cells: the program's cells, in the order they run.
        source: a sentence naming where the cells came from.
        notebook_path: the notebook file, when one was found.
        workdir: the folder relative paths in the program are relative to.
        python_version: ``(major, minor)`` of the kernel.
        loaded_modules: top-level names of the modules loaded in the kernel.
        index: the kernel's package-index settings.
        notes: things the user should know about this capture.
        live: captured from a running kernel (not only from a notebook file).
        opened: ``(path, kind, origin)`` of the files the kernel opened since the extension loaded.
        module_files: ``{top-level module: file or package folder}`` of the notebook's own code
            the kernel imported (not installed distributions: ``sys.path`` edits, ``src/`` folders).
        objects: ``{name: pickle}`` of kernel objects carried into the image (``--carry``).
        object_modules: the modules the carried objects' classes come from.
    """

    cells: list[Cell]
    source: str
    notebook_path: Optional[Path]
    workdir: Path
    python_version: tuple[int, int] = sys.version_info[:2]
    loaded_modules: frozenset = frozenset()
    index: IndexSettings = field(default_factory=IndexSettings)
    notes: list[str] = field(default_factory=list)
    live: bool = False
    opened: tuple = ()
    module_files: dict[str, Path] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    object_modules: list[str] = field(default_factory=list)


def find_notebook(user_ns=None, environ=None, cwd=None, hint=None) -> Optional[Path]:
    """The notebook file the kernel belongs to, or None.

    Looks, in order, at VS Code's ``__vsc_ipynb_file__``, JupyterLab's ``__session__``
    and the ``JPY_SESSION_NAME`` environment variable. Relative paths are tried against
    the kernel's working folder, then by file name alone.

    With ``hint`` (a path relative to the Jupyter server's root, as the JupyterLab front end
    knows it), only that notebook is looked for: a session name that ends with it, then the
    kernel's folder (the kernel runs in the notebook's own folder).
    """
    user_ns = user_ns or {}
    environ = os.environ if environ is None else environ
    cwd = Path(cwd or os.getcwd())
    sessions = [user_ns.get("__vsc_ipynb_file__"), user_ns.get("__session__"), environ.get("JPY_SESSION_NAME")]
    if hint:
        norm = str(hint).replace("\\", "/").lstrip("/")
        options = [Path(str(s)) for s in sessions if s and str(s).replace("\\", "/").endswith(norm)]
        options += [cwd / Path(norm).name, cwd / norm]
    else:
        options = []
        for value in sessions:
            if value and str(value).endswith(".ipynb"):
                path = Path(str(value))
                options += [path, cwd / path, cwd / path.name]
    return next((option.resolve() for option in options if option.is_file()), None)


def read_notebook_cells(path):
    """The code cells of a saved notebook, labelled by position (``cell 1`` is the first cell)."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise NotebookError(f"notebook not found: {path}") from None
    except Exception as exc:  # nbformat raises several kinds for a damaged file
        raise NotebookError(f"cannot read notebook {path}: {exc}") from None
    cells = []
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        cells.append(
            Cell(
                label=f"cell {position}",
                source=cell.source,
                execution_count=cell.get("execution_count"),
                outputs_text=_outputs_text(cell.get("outputs", [])),
                tags=tuple((cell.get("metadata") or {}).get("tags") or ()),
                error="\n".join(
                    "\n".join(o.get("traceback") or [])
                    for o in cell.get("outputs", [])
                    if o.get("output_type") == "error"
                ),
            )
        )
    return cells


def _outputs_text(outputs):
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)


def history_cells(inputs, outputs=None):
    """Cells from the kernel's execution history (``In``), oldest first.

    Args:
        inputs: the kernel's ``In`` list (``In[0]`` is empty).
        outputs: the kernel's ``Out`` dict, for the text each cell returned.
    """
    outputs = outputs or {}
    cells = []
    for count, source in enumerate(inputs):
        if count == 0 or not source.strip():
            continue
        out = outputs.get(count)
        cells.append(
            Cell(
                label=f"In [{count}]",
                source=source,
                execution_count=count,
                outputs_text="" if out is None else repr(out),
            )
        )
    return cells


def cells_before(cells, current_source):
    """The cells above the one whose text is ``current_source`` (the last such cell).

    Returns None when no cell has that text (the notebook on disk is not the one running,
    or the cell was edited since it was saved).
    """
    wanted = current_source.strip()
    for i in range(len(cells) - 1, -1, -1):
        if cells[i].source.strip() == wanted:
            return cells[:i]
    return None


def own_modules(modules=None) -> dict[str, Path]:
    """The notebook's own code the kernel imported: top-level modules whose file is neither in
    the Python installation nor in an installed distribution's folder."""
    import sysconfig

    modules = sys.modules if modules is None else modules
    paths = sysconfig.get_paths()
    installed = {
        os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, paths["purelib"], paths["platlib"], paths["stdlib"])
    }
    found = {}
    for name, module in list(modules.items()):
        if "." in name or name.startswith("_") or name == "__main__":
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        real = os.path.realpath(file)
        if any(real.startswith(prefix + os.sep) for prefix in installed) or "site-packages" in real:
            continue
        path = Path(real)
        found[name] = path.parent if path.name == "__init__.py" else path
    return found


def top_level_modules(modules=None):
    """Top-level names of the loaded modules (``sys.modules`` by default)."""
    modules = sys.modules if modules is None else modules
    return frozenset(name.partition(".")[0] for name in list(modules) if not name.startswith("_"))


def _pip_config_files(environ):
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf")]
    for xdg in environ.get("XDG_CONFIG_DIRS", "").split(os.pathsep):
        if xdg:
            files.append(Path(xdg) / "pip" / "pip.conf")
    home = Path(environ.get("HOME", str(Path.home())))
    files += [
        home / ".pip" / "pip.conf",
        Path(environ.get("XDG_CONFIG_HOME", str(home / ".config"))) / "pip" / "pip.conf",
        Path(sys.prefix) / "pip.conf",
    ]
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    return files


def index_settings(environ=None, config_files=None):
    """The kernel's pip index settings: config files, then ``PIP_*`` variables, as pip reads them."""
    environ = os.environ if environ is None else environ
    values = {}
    parser = configparser.RawConfigParser()
    for path in config_files if config_files is not None else _pip_config_files(environ):
        try:
            parser.read(path)
        except (configparser.Error, OSError):
            continue
    for section in ("global", "install"):
        if parser.has_section(section):
            values.update(dict(parser.items(section)))
    for key in ("index-url", "extra-index-url", "trusted-host", "cert", "find-links"):
        env_value = environ.get("PIP_" + key.upper().replace("-", "_"))
        if env_value:
            values[key] = env_value

    dropped = []

    def usable(url):
        if url.startswith(("http://", "https://")):
            return True
        dropped.append(url)
        return False

    index_url = values.get("index-url", "").strip() or None
    if index_url and not usable(index_url):
        index_url = None
    extras = tuple(u for u in values.get("extra-index-url", "").split() if usable(u))
    for link in values.get("find-links", "").split():
        dropped.append(link)
    cert = values.get("cert") or environ.get("REQUESTS_CA_BUNDLE") or environ.get("SSL_CERT_FILE")
    ca_bundle = Path(cert) if cert and Path(cert).is_file() else None
    return IndexSettings(
        index_url=index_url,
        extra_index_urls=extras,
        trusted_hosts=tuple(values.get("trusted-host", "").split()),
        ca_bundle=ca_bundle,
        dropped=tuple(dropped),
    )


def packaging_cell(path) -> tuple[Optional[str], Optional[str]]:
    """``(cell, body)`` of the notebook's own packaging cell, if it has one: a notebook that
    packages itself with ``%dockerize`` means the cells above that cell as its program, and a
    ``%%dockerize`` cell's body as its last step. The JupyterLab button and the command line
    build what the notebook's own cell would."""
    from .ownlines import packaging_cell as _first

    cell = _first(c.source for c in read_notebook_cells(path))
    if cell is None or not cell.lstrip().startswith("%%dockerize"):
        return cell, None
    head, _, body = cell.lstrip().partition("\n")
    return cell, body


def last_failure():
    """``(cell source, failing line)`` of the kernel's most recent exception (IPython keeps it in
    ``sys.last_value``), found even when it happened before the extension was loaded; None."""
    import linecache

    from . import replay

    error = getattr(sys, "last_value", None)
    trace = getattr(error, "__traceback__", None)
    found = None
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if replay.is_cell_file(filename) and linecache.getlines(filename):
            found = ("".join(linecache.getlines(filename)), trace.tb_lineno)
        trace = trace.tb_next
    return found


def replay_failures(cells, failed=None, last=None):
    """The cells as the kernel's state came to be: a cell that raised keeps the top-level
    statements that ran before the one that raised, and loses the rest.

    A cell failed when the failure hook saw it (``failed``: execution count -> failing line,
    None when unknown), when the saved notebook shows its error, or, known by no other way,
    when it reads a name nothing before it defined (:func:`dockermagic.replay.static_failure`).

    ``last`` is the kernel's most recent exception (:func:`last_failure`): it names its cell
    when exactly one cell has that source.

    Returns:
        ``(cells, notes)``: the cells to export and a note for each cell cut short.
    """
    from . import replay

    failed = dict(failed or {})
    statically = replay.static_failure([(c.label, c.source) for c in cells])
    latest = {}
    if last is not None:
        same = [c for c in cells if c.source.strip() == last[0].strip()]
        if len(same) == 1 and same[0].execution_count not in failed and not same[0].error:
            latest[same[0].label] = last[1]
    kept, notes = [], []
    for cell in cells:
        line, why = None, ""
        if cell.execution_count in failed:
            line, why = failed[cell.execution_count], "raised in the kernel"
            if line is None and cell.error:
                line = replay.error_line(cell.error, cell.source)
            if line is None:
                line = 1
        elif cell.error:
            line, why = replay.error_line(cell.error, cell.source) or 1, "shows an error in the saved notebook"
        elif cell.label in latest:
            line, why = latest[cell.label], "raised the kernel's most recent error"
        elif cell.label in statically:
            line, why = statically[cell.label], "reads a name nothing before it defines (it must have raised)"
        if line is None:
            kept.append(cell)
            continue
        source, dropped = replay.keep_before(cell.source, line)
        left_out = "; ".join(f"line {n}: {text}" for n, text in dropped[:3]) + (" ..." if len(dropped) > 3 else "")
        notes.append(
            f"{cell.label} {why} at line {line}: the image runs only what ran before it"
            + (f" (left out: {left_out})" if left_out else "")
        )
        if source.strip():
            kept.append(replace(cell, source=source, error=""))
    return kept, notes


def _saved_cells_covering(saved, history):
    """The saved cells up to the last one the kernel ran, if the saved notebook holds every cell
    the kernel ran; else None."""
    sources = [c.source.strip() for c in saved]
    ran = [c.source.strip() for c in history]
    if not all(s in sources for s in ran):
        return None
    last = max((sources.index(s) for s in ran), default=-1)
    return [c for c in saved[: last + 1] if not is_own_cell(c.source)]


def carried_objects(kernel, names) -> tuple[dict[str, bytes], list[str]]:
    """Pickles of the kernel objects ``names`` (``--carry``), and the modules their classes come from."""
    import pickle

    if names and kernel.shell is None:
        raise DockermagicError("--carry needs a live kernel to take the objects from")
    blobs, modules = {}, []
    for name in names:
        if name not in kernel.user_ns:
            raise DockermagicError(f"--carry {name}: no such name in the kernel")
        value = kernel.user_ns[name]
        try:
            blobs[name] = pickle.dumps(value)
        except Exception as exc:
            raise DockermagicError(f"--carry {name}: cannot serialize {type(value).__name__}: {exc}") from None
        modules.append(type(value).__module__)
    return blobs, modules


def capture(kernel=None, notebook=None, *, carry=(), function=None) -> Capture:
    """Capture the live notebook.

    Args:
        kernel: the :class:`~dockermagic.request.KernelContext` (shell, calling cell, failed
            cells); None outside a kernel (then ``notebook`` is needed).
        notebook: path of the notebook to package; found from the kernel when None.
        carry: names of kernel objects to carry into the image, serialized.
        function: a kernel function the image serves (it must exist).

    Raises:
        NotebookError: no notebook file and no kernel history to take cells from.
        DockermagicError: a carried object or the served function is not in the kernel.
    """
    from .request import KernelContext

    kernel = kernel or KernelContext()
    shell, current_cell, user_ns = kernel.shell, kernel.current_cell, kernel.user_ns
    if function and shell is not None and not callable(user_ns.get(function)):
        raise DockermagicError(f"--function {function}: no such function in the kernel")
    objects, object_modules = carried_objects(kernel, carry)
    path = Path(notebook).resolve() if notebook else find_notebook(user_ns)
    notes: list[str] = []
    cells = None
    unsaved: list = []
    saved_cells: list = []
    if path is not None:
        cells = saved_cells = read_notebook_cells(path)
        source = f"saved notebook {path.name}"
        if current_cell is not None:
            above = cells_before(cells, current_cell)
            if above is not None:
                cells = above
            elif notebook:
                # another notebook, named explicitly: all of its cells, as saved
                return Capture(
                    cells=cells,
                    source=source + " (all cells, as saved)",
                    notebook_path=path,
                    workdir=path.parent,
                    index=index_settings(),
                    notes=notes,
                    objects=objects,
                    object_modules=object_modules,
                )
            else:
                unsaved = cells
                cells = None
    history = None
    if shell is not None:
        raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        inputs = list(raw or user_ns.get("In", []))
        if current_cell is not None and inputs and inputs[-1].strip() == current_cell.strip():
            inputs = inputs[:-1]
        history = [c for c in history_cells(inputs, user_ns.get("Out", {})) if not is_own_cell(c.source)]
    if path is not None and cells is None and history is not None and not notebook:
        # the calling cell was edited since the notebook was saved: the saved cells still do
        # if they hold everything the kernel ran; only otherwise is the unsaved state packaged
        cells = _saved_cells_covering(unsaved, history)
        if cells is None:
            notes.append(
                f"the kernel ran cells that are not in the saved {path.name} (unsaved edits?): "
                "packaging the kernel's execution history instead"
            )
    if cells is not None and history:
        from .hidden import compare

        reasons, remarks = compare([c for c in cells if not is_own_cell(c.source)], history)
        if reasons:
            notes.append(
                "hidden state: running the saved notebook top to bottom would not reproduce this "
                "kernel: " + "; ".join(reasons + remarks) + ". The image replays the kernel's own "
                "execution order instead."
            )
            cells = None
        notes += [] if reasons else remarks
    if cells is None:
        if history is None:
            raise NotebookError("no notebook given and no kernel to read cells from")
        # the saved notebook's tags (``parameters``) still mark the cells the kernel ran
        tags = {c.source.strip(): c.tags for c in (unsaved or saved_cells) if c.tags}
        cells = [replace(c, tags=tags.get(c.source.strip(), ())) for c in history]
        source = f"kernel execution history ({len(cells)} cells)"
    cells, replayed = replay_failures(cells, kernel.failed, last_failure() if shell is not None else None)
    notes += replayed
    workdir = path.parent if path is not None else Path(os.getcwd())
    return Capture(
        cells=cells,
        source=source,
        notebook_path=path,
        workdir=workdir,
        loaded_modules=top_level_modules() - kernel_baseline() if shell is not None else frozenset(),
        index=index_settings(),
        notes=notes,
        live=shell is not None,
        opened=tuple(_opened.opened()) if shell is not None else (),
        module_files=own_modules() if shell is not None else {},
        objects=objects,
        object_modules=object_modules,
    )


_BASELINE_CODE = """
import sys, json
import importlib
for name in ("ipykernel.ipkernel", "ipykernel.kernelapp", "IPython",
             "dockermagic.magics", "dockermagic.building", "dockermagic.running", "dockermagic.lab"):
    try:
        importlib.import_module(name)
    except Exception:
        pass
import nbformat
nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]))
print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))
"""


def kernel_baseline():
    """Top-level modules a fresh kernel with dockermagic loaded has, before any user code.

    Measured once per environment in a fresh interpreter and cached; a module in this set
    is never reported as loaded by the program.
    """
    import hashlib
    import json
    import subprocess
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    try:
        stamp = f"{sys.executable}|{site.stat().st_mtime_ns}|{sys.version}"
    except OSError:
        stamp = f"{sys.executable}|{sys.version}"
    key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    cache = cache_home() / f"baseline-{key}.json"
    try:
        return frozenset(json.loads(cache.read_text()))
    except (OSError, ValueError):
        pass
    try:
        out = subprocess.run(
            [sys.executable, "-c", _BASELINE_CODE],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, MPLBACKEND="Agg"),
        )
        names = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return frozenset()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(names))
    except OSError:
        pass
    return frozenset(names)
