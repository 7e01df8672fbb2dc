"""Imports: which modules a program imports, and which of them are the notebook's own code.

Found with ``ast`` in the exported program: ``import``/``from`` statements anywhere, literal
``importlib.import_module``/``__import__`` calls, and the Python bodies of cell magics such
as ``%%time``. An import inside a ``try`` that catches ImportError is optional.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """A top-level module name the program imports."""

    module: str
    cell: str
    optional: bool = False
    dotted: str = ""


def _handles_import_error(handler):
    names = []
    if handler.type is None:
        return True
    for node in ast.walk(handler.type):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
    return bool({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"} & set(names))


#: cell magics whose body is Python that runs in the program; imports in it count
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}


def cell_magic_body(node):
    """The parsed body of ``get_ipython().run_cell_magic('time', '', body)``, or None."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run_cell_magic"
        and len(node.args) >= 3
    ):
        return None
    name, body = node.args[0], node.args[2]
    if not (
        isinstance(name, ast.Constant)
        and name.value in PYTHON_CELL_MAGICS
        and isinstance(body, ast.Constant)
        and isinstance(body.value, str)
    ):
        return None
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(body.value))
    except SyntaxError:
        return None


def find_imports(code, cell="program"):
    """Top-level modules a piece of Python code imports, with where and whether optionally.

    Absolute ``import``/``from`` statements anywhere (functions, ``try`` blocks, class
    bodies) and ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name.
    An import is optional when it sits in a ``try`` whose handler catches ImportError.
    """
    tree = ast.parse(code) if isinstance(code, str) else code
    found = []

    def visit(node, optional):
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            guarded = optional or any(_handles_import_error(h) for h in node.handlers)
            for child in node.body:
                visit(child, guarded)
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, optional)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(alias.name.partition(".")[0], cell, optional, alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(node.module.partition(".")[0], cell, optional, node.module))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                isinstance(node.func, ast.Name)
                and node.func.id == "__import__"
                or isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
            )
        ):
            name = node.args[0].value
            if name and not name.startswith("."):
                found.append(Import(name.partition(".")[0], cell, optional, name))
        body = cell_magic_body(node)
        if body is not None:
            visit(body, optional)
        for child in ast.iter_child_nodes(node):
            visit(child, optional)

    visit(tree, False)
    return found


def local_module_path(module, folder):
    """The file or package beside the notebook that ``import module`` would load, or None."""
    folder = Path(folder)
    for candidate in (folder / f"{module}.py", folder / module / "__init__.py"):
        if candidate.is_file():
            return candidate if candidate.name != "__init__.py" else candidate.parent
    package = folder / module
    if package.is_dir() and any(package.glob("*.py")):
        return package
    return None


def _local_imports(path, seen):
    """Imports made by a local module (file or package), following local imports of its own."""
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    found = []
    for file in files:
        try:
            found += find_imports(file.read_text(encoding="utf-8", errors="replace"), cell=file.name)
        except SyntaxError:
            continue
    return found


def _folder_of(node) -> str | None:
    """A folder an expression names, relative to the notebook's folder: ``".."`` for
    ``os.path.abspath("..")``, ``Path.cwd().parent``, ``os.path.dirname(os.getcwd())``..."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("getcwd", "cwd") and not node.args:
            return "."
        if name in ("abspath", "realpath", "normpath", "str", "Path", "expanduser", "resolve", "absolute"):
            inner = node.args[0] if node.args else (func.value if isinstance(func, ast.Attribute) else None)
            return _folder_of(inner) if inner is not None else None
        if name == "dirname" and node.args:
            inner = _folder_of(node.args[0])
            return None if inner is None else f"{inner}/.."
        if name == "join" and node.args:
            parts = [_folder_of(a) for a in node.args]
            return None if None in parts else "/".join(parts)  # type: ignore[arg-type]
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _folder_of(node.value)
        return None if inner is None else f"{inner}/.."
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _folder_of(node.left), _folder_of(node.right)
        return None if left is None or right is None else f"{left}/{right}"
    return None


def sys_path_folders(codes, folder) -> list[Path]:
    """Folders the program adds to ``sys.path`` (``sys.path.append("..")``, ``sys.path.insert(0,
    os.path.abspath("../src"))``), resolved from the notebook's folder; modules found there are
    the notebook's own code."""
    found: list[Path] = []
    for code in codes:
        try:
            tree = code if isinstance(code, ast.AST) else ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "insert")
            ):
                continue
            owner = node.func.value
            if not (
                isinstance(owner, ast.Attribute)
                and owner.attr == "path"
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "sys"
            ):
                continue
            arg = node.args[-1] if node.args else None
            text = _folder_of(arg) if arg is not None else None
            if text is not None:
                path = (Path(folder) / text).resolve() if not Path(text).is_absolute() else Path(text)
                if path.is_dir() and path not in found:
                    found.append(path)
    return found
