"""Statement-level replay of cells that failed in the kernel.

When a cell raised, the kernel kept what the statements before the failing one did (an
``import numpy as np`` above the failing line defined ``np`` for every later cell) and never
ran the rest. To hold what the kernel held, the image keeps those statements and drops the
failing one and everything after it. These are pure functions over text:

- :func:`error_line`: the failing line of a cell, from the traceback a saved notebook shows;
- :func:`line_from_exception`: the same, from a live exception (the failure hook);
- :func:`static_failure`: for cells nothing recorded, the first statement that reads a name
  nothing before it defined (the ``NameError`` the kernel must have raised);
- :func:`keep_before`: the cell cut before that line, still in IPython syntax.

Lines are those of IPython's translation of the cell, which is what the kernel compiled and
what its tracebacks count; they are the cell's own lines except inside cell magics.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from typing import Optional

from IPython.core.inputtransformer2 import TransformerManager

from .translate import MagicCall, magic_call

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: frame headers naming a cell of the kernel: IPython >= 8.5, 8.0-8.4, and 7.x
_CELL_FRAME = re.compile(
    r"^\s*(?:Cell In\s*\[\s*\d*\s*\],\s*line (?P<line>\d+)"
    r"|Input In\s*\[\s*\d*\s*\],\s*in <cell line: (?P<line2>\d+)>"
    r"|(?:File \")?<ipython-input-\d+-[0-9a-f]+>(?:\", line (?P<line3>\d+))?)"
)
_ARROW = re.compile(r"^-+>\s*(\d+)\b(.*)$")
_TIMED_FRAME = re.compile(r"^\s*File <timed (exec|eval)>:(\d+)")
_OTHER_FRAME = re.compile(r"^\s*(?:File\s|Cell In\s*\[|Input In\s*\[|<ipython-input-)")
_COMPILE_ERRORS = ("SyntaxError", "IndentationError", "TabError")
#: cell magics whose body is Python run in the user's namespace
_PYTHON_BODY_MAGICS = ("time", "capture")
#: file names the kernel gives to a cell's code: ipykernel's ``/tmp/ipykernel_<pid>/<hash>.py``
_KERNEL_CELL_FILE = re.compile(r"(?:^|[\\/])ipykernel_\d+[\\/]\d+\.py$")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def _timed_line(kind: str, line: int, source: Optional[str]) -> Optional[int]:
    """The cell line of a failure inside ``%time`` (``<timed eval>``) or ``%%time`` (``<timed exec>``)."""
    if source is None:
        return None
    lines = source.split("\n")
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    if first is not None and re.match(r"%%time\b", lines[first]):
        return first + 1 + line
    timed = [i + 1 for i, text in enumerate(lines) if re.match(r"\s*(?:[\w.,\s]+=\s*)?%time\b", text)]
    return timed[0] if len(timed) == 1 else None


def error_line(traceback_text, source: Optional[str] = None) -> Optional[int]:
    """The line of the cell that raised, read from a saved notebook's error output.

    Args:
        traceback_text: the output's ``traceback`` (a list of strings, or one string);
            colour codes are stripped. IPython 9/8 (``Cell In[5], line 3``), 8.0-8.4
            (``Input In [5], in <cell line: 3>()``) and 7 (``<ipython-input-5-...> in
            <module>`` and its ``---->`` arrow) formats are read.
        source: the cell's source, when known: it places a failure inside ``%%time`` or a
            ``%time`` line (whose traceback names ``<timed exec>`` instead of the cell).

    Returns:
        The 1-based line, or None when the traceback does not say. A cell that did not
        compile (its ``SyntaxError`` has no traceback) gives 1: nothing in it ran.
    """
    if not isinstance(traceback_text, str):
        traceback_text = "\n".join(traceback_text or [])
    lines = strip_ansi(traceback_text).splitlines()
    last = next((text.strip() for text in reversed(lines) if text.strip()), "")
    has_header = any("Traceback (most recent call last)" in text for text in lines)
    if not has_header and last.split(":")[0] in _COMPILE_ERRORS:
        return 1
    cell_line, cell_code = None, ""
    for number, text in enumerate(lines):
        match = _CELL_FRAME.match(text)
        if match:
            found = match.group("line") or match.group("line2") or match.group("line3")
            for following in lines[number + 1 :]:
                if _OTHER_FRAME.match(following):
                    break
                arrow = _ARROW.match(following.strip())
                if arrow:
                    found = found or arrow.group(1)
                    cell_code = arrow.group(2)
                    break
            if found:
                cell_line = int(found)
                break
    for text in lines:
        timed = _TIMED_FRAME.match(text)
        if timed:
            if cell_line is not None and "run_cell_magic('time'" in cell_code:
                return cell_line + int(timed.group(2))
            if cell_line is None:
                return _timed_line(timed.group(1), int(timed.group(2)), source)
            break
    return cell_line


def is_cell_file(filename: str) -> bool:
    """Whether a code object's file name is one the kernel gives a cell (not a module's file)."""
    return filename.startswith("<ipython-input-") or bool(_KERNEL_CELL_FILE.search(filename))


def line_from_exception(exc: BaseException, filename: Optional[str] = None) -> Optional[int]:
    """The line of the cell that raised, from a live exception's traceback.

    The outermost frame running a cell's code (``<ipython-input-...>`` or ipykernel's
    ``/tmp/ipykernel_<pid>/<n>.py``; or exactly ``filename`` when given) is the failing cell;
    a failure inside ``%%time`` gives the body's line in the cell.
    """
    import linecache

    tb = exc.__traceback__
    cell_line = cell_file = None
    while tb is not None:
        code = tb.tb_frame.f_code
        name = code.co_filename
        if cell_line is None:
            if (name == filename if filename else is_cell_file(name)) and code.co_name == "<module>":
                cell_line, cell_file = tb.tb_lineno, name
        elif name == "<timed exec>":
            text = linecache.getline(cell_file, cell_line)
            if "run_cell_magic('time'" in text or 'run_cell_magic("time"' in text:
                return cell_line + tb.tb_lineno
        tb = tb.tb_next
    return cell_line


# ---------------------------------------------------------------------------------------------
# Static detection: the first statement that reads a name nothing defined before it.

_BUILTINS = set(dir(builtins)) | {
    "get_ipython",
    "display",
    "In",
    "Out",
    "exit",
    "quit",
    "__name__",
    "__file__",
    "__builtins__",
    "__builtin__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "_oh",
    "_ih",
    "_dh",
    "_exit_code",
}
#: the kernel's output and input history names: ``_``, ``__``, ``___``, ``_i``, ``_ii``, ``_5``, ``_i5``
_HISTORY_NAME = re.compile(r"^(?:_{1,3}|_i{1,3}|_i?\d+)$")
#: magics that may define names nobody can see statically
_DEFINING_MAGICS = {"run", "store", "load", "macro", "recall", "rerun", "reset", "autoreload", "aimport"}


class _Names:
    """Names a statement reads before it could have bound them, and names it binds."""

    def __init__(self):
        self.reads = []  # in order
        self.binds = set()
        self.anything = False  # a star import or a magic that may define any name

    # -- binding ------------------------------------------------------------------------------

    def bind_target(self, node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                self.binds.add(sub.id)
            elif isinstance(sub, ast.Starred) and isinstance(sub.value, ast.Name):
                self.binds.add(sub.value.id)

    def bind_everything_in(self, node):
        """Over-approximate: any name stored anywhere in ``node`` (branches that may not run)."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                self.binds.add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.binds.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                self.bind_import(sub)
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                self.binds.add(sub.name)
            elif isinstance(sub, ast.NamedExpr):
                self.binds.add(sub.target.id)
            elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                self.binds.update(sub.names)

    def bind_import(self, node):
        for alias in node.names:
            if alias.name == "*":
                self.anything = True
            elif isinstance(node, ast.Import):
                self.binds.add(alias.asname or alias.name.partition(".")[0])
            else:
                self.binds.add(alias.asname or alias.name)

    # -- reading ------------------------------------------------------------------------------

    def read_expr(self, node, local=frozenset()):
        """Names an expression reads when evaluated (lambda bodies and comprehension variables aside)."""
        if node is None:
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in local and node.id not in self.binds:
                self.reads.append(node.id)
            return
        if isinstance(node, ast.Lambda):
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                self.read_expr(default, local)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            bound = set(local)
            for number, generator in enumerate(node.generators):
                self.read_expr(generator.iter, bound)
                if isinstance(node, ast.GeneratorExp) and number == 0:
                    return  # only the first iterable of a generator is evaluated at once
                bound |= {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
                for condition in generator.ifs:
                    self.read_expr(condition, bound)
            for part in (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,):
                self.read_expr(part, bound)
            return
        if isinstance(node, ast.NamedExpr):
            self.read_expr(node.value, local)
            self.binds.add(node.target.id)
            return
        for child in ast.iter_child_nodes(node):
            self.read_expr(child, local)


def _statement_names(stmt) -> _Names:
    """What a top-level statement surely reads when it runs, and what it may bind."""
    names = _Names()
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        names.bind_import(stmt)
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        for decorator in stmt.decorator_list:
            names.read_expr(decorator)
        if isinstance(stmt, ast.ClassDef):
            for base in stmt.bases + [k.value for k in stmt.keywords]:
                names.read_expr(base)
        else:
            arguments = stmt.args
            for default in arguments.defaults + [d for d in arguments.kw_defaults if d is not None]:
                names.read_expr(default)
        names.binds.add(stmt.name)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        value = stmt.value
        magic = magic_call(value)
        if magic is not None:
            _magic_names(magic, names)
        else:
            names.read_expr(value)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(stmt, ast.AugAssign) and isinstance(target, ast.Name):
                names.reads.append(target.id)
            elif not isinstance(target, ast.Name):  # obj.attr = ..., d[k] = ...: the object is read
                for child in ast.iter_child_nodes(target):
                    if not isinstance(child, ast.expr_context):
                        names.read_expr(child)
            names.bind_target(target)
    elif isinstance(stmt, ast.Expr):
        magic = magic_call(stmt.value)
        if magic is not None:
            _magic_names(magic, names)
        else:
            names.read_expr(stmt.value)
    elif isinstance(stmt, (ast.If, ast.While)):
        names.read_expr(stmt.test)
        names.bind_everything_in(stmt)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        names.read_expr(stmt.iter)
        names.bind_everything_in(stmt)
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            names.read_expr(item.context_expr)
        names.bind_everything_in(stmt)
    elif isinstance(stmt, ast.Delete):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                names.reads.append(target.id)
            else:
                names.read_expr(target)
    elif isinstance(stmt, (ast.Return, ast.Raise, ast.Assert)):
        for child in ast.iter_child_nodes(stmt):
            names.read_expr(child)
    else:  # try, match, global...: anything inside may or may not run; nothing is sure
        names.bind_everything_in(stmt)
    return names


def _python(text):
    try:
        return ast.parse(TransformerManager().transform_cell(text or ""))
    except SyntaxError:
        return None


def _magic_names(magic: MagicCall, names: _Names):
    """What a magic reads and binds: ``%time stmt`` and ``%%time``/``%%capture`` bodies are Python."""
    kind, name, args, body = magic.kind, magic.name, magic.args, magic.body
    if kind == "run_line_magic" and name in ("time", "timeit") and isinstance(args, str):
        code = args if name == "time" else re.sub(r"^(\s*-[nrpv]\s*\S+|\s*-[tcqo]+)*", "", args)
        tree = _python(code)
        for stmt in tree.body if tree else []:
            inner = _statement_names(stmt)
            names.reads += [n for n in inner.reads if n not in names.binds]
            names.binds |= inner.binds
            names.anything |= inner.anything
    elif kind == "run_cell_magic" and name in _PYTHON_BODY_MAGICS and isinstance(body, str):
        tree = _python(body)
        for stmt in tree.body if tree else []:
            inner = _statement_names(stmt)
            names.reads += [n for n in inner.reads if n not in names.binds]
            names.binds |= inner.binds
            names.anything |= inner.anything
        if name == "capture" and isinstance(args, str):
            names.binds |= {w for w in args.split() if re.fullmatch(r"[A-Za-z_]\w*", w)}
    elif kind == "run_line_magic" and name in _DEFINING_MAGICS:
        names.anything = True


def static_failure(cells: Iterable[tuple[str, str]], defined: Iterable[str] = ()) -> dict[str, int]:
    """Cells that must have failed in the kernel, found without running anything.

    Walks the history in order, keeping the names each statement defines; in each cell, the
    first top-level statement that surely reads a name that nothing before it defined (nor a
    builtin) raised ``NameError`` in the kernel: that cell failed there, and its later
    statements never ran (what they would define does not count for the cells after it).

    Only reads that surely happen count (not inside function bodies, lambdas, branches or
    ``try`` blocks); a star import or a magic such as ``%run`` that can define anything ends
    the search. Unreadable cells (syntax errors) are skipped.

    Args:
        cells: ``(label, source)`` in the kernel's history order, in IPython syntax.
        defined: names defined before the first cell (the kernel's startup names...).

    Returns:
        ``{label: line}``: the failing line in each such cell (IPython's translation's lines).
    """
    known = set(defined) | _BUILTINS
    failures = {}
    for label, source in cells:
        tree = _python(source)
        if tree is None:
            continue
        for stmt in tree.body:
            names = _statement_names(stmt)
            missing = [name for name in names.reads if name not in known and not _HISTORY_NAME.match(name)]
            if missing:
                failures[label] = _reported_line(source, stmt, missing[0])
                break
            known |= names.binds
            if names.anything:
                return failures
    return failures


def _reported_line(source, stmt, name):
    """The line the kernel reports for ``stmt`` failing on ``name`` (the body line inside ``%%time``)."""
    magic = magic_call(stmt.value) if isinstance(stmt, ast.Expr) else None
    if magic and magic.kind == "run_cell_magic" and magic.name in _PYTHON_BODY_MAGICS and isinstance(magic.body, str):
        tree = _python(magic.body)
        offset = next((i for i, text in enumerate(source.split("\n")) if text.strip()), 0) + 1
        for inner in tree.body if tree else []:
            if name in _statement_names(inner).reads:
                return offset + inner.lineno
    return stmt.lineno


# ---------------------------------------------------------------------------------------------
# Cutting a cell


def _first_text(lines, start, end):
    for text in lines[start - 1 : end]:
        if text.strip():
            return text.strip()
    return ""


def keep_before(source: str, line: Optional[int]) -> tuple[str, list[tuple[int, str]]]:
    """The cell without the statement at ``line`` (the one that raised) and those after it.

    Works on IPython syntax: the cell is translated with IPython's transformer to find its
    top-level statements, and the kept part is given back as the cell's own lines (or, when
    the translation moved lines, as the translated Python, which exports the same). The body
    of a ``%%time`` or ``%%capture`` cell is cut the same way, under its magic line. When the
    last kept statement is an expression, a ``pass`` follows it: the kernel never showed its
    value (the cell failed later).

    Args:
        source: the cell as the kernel ran it.
        line: the failing line (from :func:`error_line`, :func:`line_from_exception` or
            :func:`static_failure`); None keeps the whole cell.

    Returns:
        ``(kept source, dropped)``; ``dropped`` lists ``(line, first text)`` of each
        statement left out. The kept source is ``""`` when nothing ran.
    """
    if line is None:
        return source, []
    lines = source.split("\n")
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    if first is None:
        return source, []
    magic = re.match(r"%%(\w+)", lines[first])
    if magic:
        if magic.group(1) in _PYTHON_BODY_MAGICS and line > first + 1:
            body = "\n".join(lines[first + 1 :])
            kept_body, dropped = keep_before(body, line - first - 1)
            dropped = [(number + first + 1, text) for number, text in dropped]
            kept = "\n".join(lines[: first + 1] + ([kept_body] if kept_body.strip() else []))
            return kept, dropped
        return "", [(first + 1, lines[first].strip())]
    code = TransformerManager().transform_cell(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "", [(first + 1, lines[first].strip())]  # it did not compile: nothing ran
    statements = tree.body
    cut = next((i for i, stmt in enumerate(statements) if stmt.end_lineno >= line), None)
    if cut is None:
        return source, []
    code_lines = code.rstrip("\n").split("\n")
    shift = _line_shift(lines, code_lines)

    def start_of(stmt):
        return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])

    def shown(stmt):
        start = start_of(stmt)
        if shift is None:
            return start, _first_text(code_lines, start, stmt.end_lineno)
        return start + shift, _first_text(lines, start + shift, stmt.end_lineno + shift)

    dropped = [shown(stmt) for stmt in statements[cut:]]
    end = start_of(statements[cut]) - 1
    if shift is None:
        kept_lines = code_lines[:end]
    else:
        kept_lines = lines[: end + shift]
    while kept_lines and not kept_lines[-1].strip():
        kept_lines.pop()
    if cut and isinstance(statements[cut - 1], ast.Expr):
        kept_lines.append(f"pass  # (dockermagic) the kernel stopped this cell at: {dropped[0][1][:60]}")
    return "\n".join(kept_lines), dropped


def _line_shift(lines, code_lines):
    """How many lines IPython's translation moved the cell (leading blank lines go), or None if not 1:1."""
    lead = next((i for i, text in enumerate(lines) if text.strip()), 0)
    body = lines[lead:]
    while body and not body[-1].strip():
        body = body[:-1]
    translated = list(code_lines)
    while translated and not translated[-1].strip():
        translated.pop()
    return lead if len(body) == len(translated) else None
