"""Capture: what the live kernel knows that the image must reproduce.

The notebook's cells (from the saved notebook the kernel belongs to, or from the kernel's
execution history when there is no file), and facts about the kernel: Python version, the
modules it has loaded and its package-index settings. This is the only stage that looks
at the kernel; everything after it works on the plain :class:`Capture` it returns.
"""

import configparser
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import nbformat

from .errors import NotebookError


@dataclass(frozen=True)
class Cell:
    """One code cell of the program.

    Attributes:
        label: how messages name the cell: ``"cell 3"`` (notebook position) or ``"In [7]"``.
        source: the cell's raw text, IPython syntax included.
        execution_count: the kernel's count for it, when known.
        outputs_text: the text outputs the cell showed, when known.
    """

    label: str
    source: str
    execution_count: Optional[int] = None
    outputs_text: str = ""


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
    extra_index_urls: Tuple[str, ...] = ()
    trusted_hosts: Tuple[str, ...] = ()
    ca_bundle: Optional[Path] = None
    dropped: Tuple[str, ...] = ()


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
    """

    cells: List[Cell]
    source: str
    notebook_path: Optional[Path]
    workdir: Path
    python_version: Tuple[int, int] = sys.version_info[:2]
    loaded_modules: frozenset = frozenset()
    index: IndexSettings = field(default_factory=IndexSettings)
    notes: List[str] = field(default_factory=list)


def find_notebook(user_ns=None, environ=None, cwd=None):
    """The notebook file the kernel belongs to, or None.

    Looks, in order, at VS Code's ``__vsc_ipynb_file__``, JupyterLab's ``__session__``
    and the ``JPY_SESSION_NAME`` environment variable. Relative paths are tried against
    the kernel's working folder, then by file name alone.
    """
    user_ns = user_ns or {}
    environ = os.environ if environ is None else environ
    cwd = Path(cwd or os.getcwd())
    candidates = [user_ns.get("__vsc_ipynb_file__"), user_ns.get("__session__"),
                  environ.get("JPY_SESSION_NAME")]
    for value in candidates:
        if not value or not str(value).endswith(".ipynb"):
            continue
        path = Path(str(value))
        for option in (path, cwd / path, cwd / path.name):
            if option.is_file():
                return option.resolve()
    return None


def read_notebook_cells(path):
    """The code cells of a saved notebook, labelled by position (``cell 1`` is the first cell)."""
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
        cells.append(Cell(label=f"cell {position}", source=cell.source,
                          execution_count=cell.get("execution_count"),
                          outputs_text=_outputs_text(cell.get("outputs", []))))
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


def history_cells(inputs, outputs=None, failed=()):
    """Cells from the kernel's execution history (``In``), oldest first.

    Args:
        inputs: the kernel's ``In`` list (``In[0]`` is empty).
        outputs: the kernel's ``Out`` dict, for the text each cell returned.
        failed: execution counts of cells that raised; they are left out.
    """
    outputs = outputs or {}
    cells = []
    for count, source in enumerate(inputs):
        if count == 0 or not source.strip() or count in failed:
            continue
        out = outputs.get(count)
        cells.append(Cell(label=f"In [{count}]", source=source, execution_count=count,
                          outputs_text="" if out is None else repr(out)))
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


def _is_dockermagic_only(source):
    lines = [l.strip() for l in source.strip().splitlines() if l.strip() and not l.strip().startswith("#")]
    return bool(lines) and all(("%load_ext dockermagic" in l or "%docker" in l or "%%docker" in l) for l in lines)


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
    files += [home / ".pip" / "pip.conf",
              Path(environ.get("XDG_CONFIG_HOME", str(home / ".config"))) / "pip" / "pip.conf",
              Path(sys.prefix) / "pip.conf"]
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
            values.update({k: v for k, v in parser.items(section)})
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
    return IndexSettings(index_url=index_url, extra_index_urls=extras,
                         trusted_hosts=tuple(values.get("trusted-host", "").split()),
                         ca_bundle=ca_bundle, dropped=tuple(dropped))


def capture(shell=None, notebook=None, current_cell=None, failed=()):
    """Capture the live notebook.

    Args:
        shell: the running IPython shell; None outside a kernel (then ``notebook`` is needed).
        notebook: path of the notebook to package; found from the kernel when None.
        current_cell: the raw text of the cell running ``%dockerize``; the program is the
            cells above it. None packages every cell (the JupyterLab button).
        failed: execution counts of cells that raised in the kernel.

    Raises:
        NotebookError: no notebook file and no kernel history to take cells from.
    """
    user_ns = shell.user_ns if shell is not None else {}
    path = Path(notebook).resolve() if notebook else find_notebook(user_ns)
    notes = []
    cells = None
    if path is not None:
        cells = read_notebook_cells(path)
        source = f"saved notebook {path.name}"
        own = True
        if current_cell is not None:
            above = cells_before(cells, current_cell)
            if above is not None:
                cells = above
            elif notebook:
                own = False  # another notebook, named explicitly: all of its cells, as saved
            else:
                notes.append(f"the running cell is not in the saved {path.name} (unsaved edits?): "
                             "using the kernel's execution history instead")
                cells = None
        if not own:
            source += " (all cells, as saved)"
            return Capture(cells=cells, source=source, notebook_path=path, workdir=path.parent,
                           python_version=sys.version_info[:2], loaded_modules=frozenset(),
                           index=index_settings(), notes=notes)
    history = None
    if shell is not None:
        raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        inputs = list(raw or user_ns.get("In", []))
        if current_cell is not None and inputs and inputs[-1].strip() == current_cell.strip():
            inputs = inputs[:-1]
        history = [c for c in history_cells(inputs, user_ns.get("Out", {}), failed)
                   if not _is_dockermagic_only(c.source)]
    if cells is not None and history:
        from .hidden import compare

        reasons, remarks = compare([c for c in cells if not _is_dockermagic_only(c.source)], history)
        if reasons:
            notes.append("hidden state: running the saved notebook top to bottom would not reproduce this "
                         "kernel: " + "; ".join(reasons + remarks) + ". The image replays the kernel's own "
                         f"execution order instead ({len(history)} cells, failed ones left out).")
            cells = None
        notes += [] if reasons else remarks
    if cells is None:
        if history is None:
            raise NotebookError("no notebook given and no kernel to read cells from")
        cells = history
        source = f"kernel execution history ({len(cells)} cells)"
    workdir = path.parent if path is not None else Path(os.getcwd())
    return Capture(cells=cells, source=source, notebook_path=path, workdir=workdir,
                   python_version=sys.version_info[:2],
                   loaded_modules=top_level_modules() - kernel_baseline() if shell is not None else frozenset(),
                   index=index_settings(), notes=notes)


_BASELINE_CODE = """
import sys, json
import importlib
for name in ("ipykernel.ipkernel", "ipykernel.kernelapp", "IPython",
             "dockermagic.api", "dockermagic.magics", "dockermagic.display"):
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
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockermagic" / f"baseline-{key}.json"
    try:
        return frozenset(json.loads(cache.read_text()))
    except (OSError, ValueError):
        pass
    try:
        out = subprocess.run([sys.executable, "-c", _BASELINE_CODE], capture_output=True, text=True,
                             timeout=60, env=dict(os.environ, MPLBACKEND="Agg"))
        names = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return frozenset()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(names))
    except OSError:
        pass
    return frozenset(names)
