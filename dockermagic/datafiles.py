"""Data files: what the program reads from the project, found precisely.

Two sources, each with its origin for the user: the program's code (a string is a path only
where it is used as one: an argument of ``open``/``Path``/``read_*``/``load*``/``glob`` and the
like, ``os.path.join``, ``Path / "x"``, a constant later used so, an f-string over a loop
variable read as a glob), and the files the kernel itself opened since the extension was
loaded (Python's audit hooks: ``open``, ``os.listdir``, ``os.scandir``, ``glob.glob``).

Paths resolve against the notebook's folder, as in the kernel; the image mirrors the needed
part of the project from its root (:func:`project_root`), so every relative path resolves the
same there. Companion files of multi-file formats come along (a shapefile's siblings, a
partitioned parquet dataset's folder). A file the program writes before it reads it is an
output, not input. A path outside the project, a URL or a database address is reported.
"""

from __future__ import annotations

import ast
import fnmatch
import glob as _glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

#: files that never enter an image, whatever names them
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    ".git",
    ".ssh",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    ".aws",
    ".azure",
    ".gcloud",
    "credentials",
    "credentials.json",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".docker",
    ".kube",
    "*.kubeconfig",
    "service-account*.json",
    ".git-credentials",
)
#: folders never copied as part of a data folder
SKIP_DIRS = {
    "__pycache__",
    ".ipynb_checkpoints",
    ".dockermagic",
    "dockermagic-outputs",
    ".venv",
    "venv",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".git",
    ".tox",
}
#: what makes a folder a project's root
ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")
#: methods and functions whose first argument is a file the program writes
WRITE_CALLS = {
    "to_csv",
    "to_parquet",
    "to_excel",
    "to_json",
    "to_pickle",
    "to_feather",
    "to_html",
    "to_latex",
    "to_markdown",
    "to_hdf",
    "to_stata",
    "to_xml",
    "savefig",
    "write_text",
    "write_bytes",
    "imsave",
    "imwrite",
    "savez",
    "savez_compressed",
    "save",
    "dump",
    "to_file",
    "mkdir",
    "makedirs",
    "render",
    "to_netcdf",
    "to_zarr",
    "write",
    "write_table",
    "write_dataset",
    "touch",
}
#: functions whose argument is a path, besides any ``read_*``/``load*``/``open*``
PATH_CALLS = {
    "open",
    "Path",
    "PurePath",
    "PosixPath",
    "join",
    "exists",
    "isfile",
    "isdir",
    "listdir",
    "scandir",
    "walk",
    "glob",
    "iglob",
    "rglob",
    "imread",
    "loadtxt",
    "genfromtxt",
    "fromfile",
    "File",
    "Image",
    "ParquetDataset",
    "dataset",
    "ZipFile",
    "TarFile",
    "connect",
    "stat",
    "getsize",
    "Dataset",
}
GLOB_CALLS = {"glob", "iglob", "rglob"}
#: companions of a file, by suffix: the library opens them although the code names only the first
COMPANIONS = {".shp": (".shx", ".dbf", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".fix", ".shp.xml", ".qpj")}
LARGE_FILE = 200 * 1024 * 1024
_URL = re.compile(r"^(?:https?|s3|gs|gcs|abfss?|az|hdfs|ftp)://", re.I)
_DATABASE = re.compile(
    r"^(?:postgres(?:ql)?|mysql|mariadb|mssql|oracle|mongodb(?:\+srv)?|redis|sqlite)(?:\+\w+)?://", re.I
)


def is_secret_path(path) -> bool:
    """Whether a path (any of its parts) is a credential file that must never be copied."""
    return any(fnmatch.fnmatch(part, pattern) for part in Path(path).parts for pattern in SECRET_PATTERNS)


@dataclass(frozen=True)
class PathUse:
    """A path the code uses: ``text`` (a glob pattern when ``pattern``), where, and how."""

    text: str
    cell: str
    line: int
    call: str
    writes: bool = False
    pattern: bool = False

    @property
    def origin(self) -> str:
        if self.call.startswith("!"):  # a shell line: "!ls data in cell 3, line 2"
            return f"{self.call} in {self.cell}, line {self.line}"
        return f"{self.call}({self.text!r}) in {self.cell}, line {self.line}"


@dataclass(frozen=True)
class DataFile:
    """A file or folder the image gets, where it goes (relative to the project root) and why."""

    path: Path
    rel: str
    origin: str
    size: int


@dataclass
class DataPlan:
    """What discovery found.

    Attributes:
        files: ``{path relative to the project root: DataFile}`` to copy.
        outside: ``(path, origin)`` the program reads outside the project: the build stops.
        refused: ``(path, origin)`` of credential files named by the program: the build stops.
        too_large: ``(path, origin, bytes)`` over the size limit: the build stops.
        remote: ``(address, origin)`` of URLs and databases the program reads: a note each.
        absolute: absolute host paths inside the project the program uses: the image maps them.
    """

    files: dict[str, DataFile] = field(default_factory=dict)
    outside: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    too_large: list[tuple[str, str, int]] = field(default_factory=list)
    remote: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    absolute: bool = False

    def notes(self) -> list[str]:
        """One line per data file and remote source, with its origin (for the dry run and ``img.notes``)."""
        lines = [f"data: {rel} ({f.origin})" for rel, f in sorted(self.files.items())]
        lines += [
            f"reads {address} ({origin}): the image reaches it at run time; pass credentials with -e NAME"
            for address, origin in self.remote
        ]
        return lines


def project_root(folder: Path, reads: Iterable[Path] = ()) -> Path:
    """The project a notebook belongs to: the nearest ancestor (or itself) holding ``.git``,
    ``pyproject.toml``, ``setup.py`` or ``setup.cfg``; else the common ancestor of the notebook's
    folder and what it reads (never the file system's root or the home folder itself)."""
    folder = Path(folder).resolve()
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            if candidate != Path(candidate.anchor) and candidate != Path.home():
                return candidate
            break
    root = folder
    for path in reads:
        try:
            common = Path(os.path.commonpath([str(root), str(Path(path).resolve())]))
        except ValueError:
            continue
        if common != Path(common.anchor) and common != Path.home() and len(common.parts) > 2:
            root = common
    return root


# --- the code ---------------------------------------------------------------------------------


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _is_path_call(name: str) -> bool:
    return (
        name in PATH_CALLS
        or name in WRITE_CALLS
        or name.startswith(("read_", "load", "open"))
        or name.endswith(("_from_file", "fromfile"))
    )


class _Paths(ast.NodeVisitor):
    """Collects path uses of one piece of code, following module-level string constants."""

    def __init__(self, label: str, constants: dict):
        self.label = label
        self.constants = constants
        self.found: list[PathUse] = []
        self.loop_vars: set = set()

    # what an expression names, as a path or a glob pattern (None: not a path we can read)
    def text(self, node) -> Optional[tuple[str, bool]]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value, False
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        if isinstance(node, ast.JoinedStr):
            parts, pattern = [], False
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    inner = self.text(value.value) if isinstance(value, ast.FormattedValue) else None
                    if inner is not None and not inner[1]:
                        parts.append(inner[0])
                    else:
                        parts.append("*")
                        pattern = True
            return "".join(parts), pattern
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
            left, right = self.text(node.left), self.text(node.right)
            if left is None or right is None:
                return None
            sep = "/" if isinstance(node.op, ast.Div) else ""
            return f"{left[0].rstrip('/') if sep else left[0]}{sep}{right[0]}", left[1] or right[1]
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in ("Path", "PurePath", "PosixPath") and node.args:
                return self.text(node.args[0])
            if name == "join" and node.args:
                pieces = [p for p in (self.text(a) for a in node.args) if p is not None]
                if len(pieces) == len(node.args):
                    return "/".join(p[0] for p in pieces), any(p[1] for p in pieces)
            if name == "joinpath" and isinstance(node.func, ast.Attribute):
                base = self.text(node.func.value)
                rest = [r for r in (self.text(a) for a in node.args) if r is not None]
                if base is not None and len(rest) == len(node.args):
                    return "/".join([base[0]] + [r[0] for r in rest]), base[1] or any(r[1] for r in rest)
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        magic = _magic_file(node)
        if magic is not None:
            self.found.append(PathUse(magic, self.label, node.lineno, "%run"))
        if name in ("system", "getoutput") and len(node.args) == 1 and isinstance(node.args[0], ast.Constant):
            command = str(node.args[0].value)
            for text, writes, pattern in shell_paths(command):
                self.found.append(PathUse(text, self.label, node.lineno, f"!{command}", writes, pattern))
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _DATABASE.match(arg.value):
                self.found.append(PathUse(arg.value, self.label, node.lineno, name or "call"))
        if _is_path_call(name):
            writes = name in WRITE_CALLS or (name == "open" and _writes_mode(node))
            # a write's path may come second (joblib.dump(model, "model.pkl"), np.save(path, array))
            candidates = list(node.args if writes else node.args[:1])
            candidates += [k.value for k in node.keywords if k.arg in _PATH_KEYWORDS]
            if (
                isinstance(node.func, ast.Attribute)
                and name in GLOB_CALLS | {"read_text", "read_bytes", "open", "exists", "iterdir"} | WRITE_CALLS
            ):
                candidates.append(node.func.value)  # Path("data").glob("*.csv"), Path("x.txt").read_text()
            for arg in candidates:
                found = self.text(arg)
                if found is None or not found[0].strip():
                    continue
                text, pattern = found
                if isinstance(node.func, ast.Attribute) and arg is node.func.value and name in GLOB_CALLS:
                    inner = self.text(node.args[0]) if node.args else None
                    if inner is None:
                        continue
                    text, pattern = f"{text.rstrip('/')}/{inner[0]}", True
                elif name in GLOB_CALLS:
                    pattern = True
                self.found.append(PathUse(text, self.label, node.lineno, name or "call", writes, pattern))
        self.generic_visit(node)


_PATH_KEYWORDS = {
    "path",
    "filepath",
    "filepath_or_buffer",
    "fname",
    "filename",
    "file",
    "io",
    "path_or_buf",
    "fp",
    "source",
    "uri",
    "dataset",
    "pathname",
    "dirname",
}


_SHELL_SEPARATORS = {"|", "||", "&&", ";", "&"}
_SHELL_REDIRECTS = {">", ">>", "2>", "&>", "2>>"}
_SHELL_OUTPUT_OPTIONS = {"-o", "-O", "--output", "--output-document"}


def shell_paths(command: str) -> list[tuple[str, bool, bool]]:
    """``(word, writes, pattern)`` for the words of a ``!`` shell line that may name files:
    ``!ls data`` lists ``data``, ``!cat a.csv > b.csv`` reads one and writes the other. Commands,
    options and words with ``$``/``{}`` expansions are not paths; a word that names nothing on
    disk is dropped later."""
    import shlex

    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    found, command_next, writes_next = [], True, False
    for word in words:
        if word in _SHELL_SEPARATORS:
            command_next = True
            continue
        if word in _SHELL_REDIRECTS or word in _SHELL_OUTPUT_OPTIONS:
            writes_next = True
            continue
        if command_next:
            command_next = False
            continue
        if word.startswith(("-", "<", ">")) or any(c in word for c in "${}`=") or "://" in word:
            writes_next = False
            continue
        found.append((word, writes_next, any(c in word for c in "*?[")))
        writes_next = False
    return found


#: line magics whose argument is a file the kernel reads
FILE_MAGICS = {"run", "load", "pycat", "loadpy"}


def _magic_file(node: ast.Call) -> Optional[str]:
    """The file of ``%run script.py`` / ``%load x.py`` (``get_ipython().run_line_magic('run', ...)``)."""
    if not (isinstance(node.func, ast.Attribute) and node.func.attr == "run_line_magic" and len(node.args) >= 2):
        return None
    name, line = node.args[0], node.args[1]
    if not (isinstance(name, ast.Constant) and name.value in FILE_MAGICS and isinstance(line, ast.Constant)):
        return None
    words = [w for w in str(line.value).split() if not w.startswith("-")]
    return words[0].strip("'\"") if words else None


def _writes_mode(node: ast.Call) -> bool:
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and bool(set(mode.value) & set("wax"))


def module_constants(trees: Sequence[ast.AST]) -> dict:
    """``NAME = "path"`` / ``NAME = Path("path")`` / ``NAME = BASE / "x"`` assigned at the top level."""
    constants: dict = {}
    for tree in trees:
        collector = _Paths("", constants)
        for stmt in getattr(tree, "body", []):
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                value = collector.text(stmt.value)
                if value is not None:
                    constants[stmt.targets[0].id] = value
    return constants


def path_uses(codes: Sequence[tuple[str, str]]) -> list[PathUse]:
    """The paths a program uses, from ``(cell label, python code)`` pairs, in order."""
    from .imports import cell_magic_body

    trees = []
    for label, code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        trees.append((label, tree))
        # the Python body of a %%time or %%capture cell is one string: read it as code too
        trees += [(label, body) for body in map(cell_magic_body, ast.walk(tree)) if body is not None]
    constants = module_constants([t for _, t in trees])
    uses = []
    for label, tree in trees:
        collector = _Paths(label, constants)
        collector.visit(tree)
        uses += collector.found
    return uses


# --- discovery --------------------------------------------------------------------------------


def companions(path: Path) -> list[Path]:
    """Files that travel with ``path``: a shapefile's siblings; the whole dataset folder of a
    partitioned parquet/Arrow dataset (its ``key=value`` partition folders)."""
    found = []
    name = path.name.lower()
    for suffix, others in COMPANIONS.items():
        if name.endswith(suffix):
            stem = path.name[: -len(suffix)]
            found += [p for p in (path.with_name(stem + other) for other in others) if p.exists()]
            found += [p for p in path.parent.glob(stem + ".*") if p.suffix.lower() in {o[-4:] for o in others}]
    if path.suffix.lower() in (".parquet", ".arrow", ".feather") and "=" in path.parent.name:
        dataset = path.parent
        while "=" in dataset.name and dataset.parent != dataset:
            dataset = dataset.parent
        found.append(dataset)
    return sorted(set(found) - {path})


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not (set(p.parts) & SKIP_DIRS))


def _resolve(text: str, workdir: Path) -> Path:
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else workdir / path


def _inside(path: Path, root: Path) -> Optional[str]:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def discover(
    uses: Sequence[PathUse],
    workdir: Path,
    root: Path,
    opened: Sequence[tuple[str, str, str]] = (),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    limit: int = LARGE_FILE,
) -> DataPlan:
    """What the image must hold for the program's reads to work as in the kernel.

    Args:
        uses: the code's path uses (:func:`path_uses`).
        workdir: the notebook's folder (relative paths resolve there).
        root: the project's root (:func:`project_root`); the image mirrors it.
        opened: ``(path, "read"|"write"|"list", origin)`` the kernel opened (audit hooks).
        include: more paths or globs (relative to the notebook) the user asked for.
        exclude: paths or globs (relative to the notebook) never to copy.
        limit: bytes above which a file or folder is not copied (mount it at run time).
    """
    workdir, root = Path(workdir).resolve(), Path(root).resolve()
    plan = DataPlan()
    written: set = set()
    candidates: list[tuple[Path, str]] = []
    # the kernel's own opens first: they are facts, not guesses (the first use of a path decides)
    # a folder the kernel listed is not data by itself: the files it then read are
    events = [(_resolve(p, workdir), kind, origin) for p, kind, origin in opened if kind != "list"]
    events += [
        (_resolve(u.text, workdir), "write" if u.writes else ("glob" if u.pattern else "read"), u.origin) for u in uses
    ]
    seen: set = set()
    for path, kind, origin in events:
        text = str(path)
        if _URL.match(str(path)) or _DATABASE.match(str(path)):
            continue
        key = os.path.normpath(text)
        if kind == "write":
            if key not in seen:
                written.add(key)
            seen.add(key)
            continue
        seen.add(key)
        if kind == "glob" or any(c in Path(text).name for c in "*?["):
            matches = [Path(m) for m in _glob.glob(text, recursive=True)]
            candidates += [(m, origin) for m in matches]
        elif key not in written:
            candidates.append((path, origin))
    for use in uses:
        if _URL.match(use.text) or _DATABASE.match(use.text):
            plan.remote.append((use.text, use.origin))
    for pattern in include:
        matches = [Path(m) for m in _glob.glob(str(_resolve(pattern, workdir)), recursive=True)]
        if not matches:
            plan.unmatched.append(pattern)
        candidates += [(m, f"--include {pattern}") for m in matches]
    excluded = [str(_resolve(pattern, workdir)) for pattern in exclude]
    for path, origin in candidates:
        if not path.exists():
            continue
        for extra in [path] + companions(path):
            _add(plan, extra, origin, root, excluded, limit)
    plan.absolute = any(Path(os.path.expanduser(u.text)).is_absolute() and _inside(Path(u.text), root) for u in uses)
    return plan


def _add(plan: DataPlan, path: Path, origin: str, root: Path, excluded: Sequence[str], limit: int) -> None:
    if any(
        fnmatch.fnmatch(str(path), pattern) or str(path).startswith(pattern.rstrip("/") + "/") for pattern in excluded
    ):
        return
    rel = _inside(path, root)
    if rel is None:
        if (path.resolve().as_posix(), origin) not in plan.outside:
            plan.outside.append((path.resolve().as_posix(), origin))
        return
    if rel in (".", "") or set(Path(rel).parts) & SKIP_DIRS:
        return
    if any(rel == have or rel.startswith(have + "/") for have in plan.files):
        return  # inside a folder already copied
    if is_secret_path(rel):
        plan.refused.append((rel, origin))
        return
    size = _tree_size(path)
    if size > limit:
        plan.too_large.append((rel, origin, size))
        return
    for have in [h for h in plan.files if h.startswith(rel + "/")]:
        del plan.files[have]  # a folder holding files already listed replaces them
    plan.files[rel] = DataFile(path=path.resolve(), rel=rel, origin=origin, size=size)
