"""Cell translation: one cell's IPython source as plain Python for the exported program.

Each cell is translated with IPython's own input transformer, so magics and ``!`` lines
mean what they meant in the kernel. Then:

- IPython's common magics become plain calls into dockermagic's runtime, with the same
  printed effect and no IPython in the image: ``%time``, ``%%time``, ``%timeit``,
  ``%%timeit``, ``%%capture [NAME]``, ``%env`` / ``%set_env``, ``%cd``, ``%pwd``, ``%who``,
  ``%whos``, ``%who_ls``, ``%%writefile`` / ``%%file`` (``-a`` too), ``%%bash`` / ``%%sh``,
  ``!cmd`` and ``x = !cmd`` (see :data:`TRANSLATED_MAGICS`). ``$name`` and ``{expr}`` in
  commands and arguments are expanded at run time from the program's variables, as IPython
  does.
- Lines that only make sense in the kernel are dropped (``%matplotlib``, ``%config``,
  ``%autoreload``, ``%load_ext dockermagic``, dockermagic's own magics, a notebook-only
  matplotlib backend). So are lines that import or use dockermagic, except its image API
  (:data:`IMAGE_API`: ``dockermagic.record``), which the runtime provides.
- ``%pip`` / ``!pip install`` lines are handed to the requirements stage instead of run.
- ``%load_ext NAME`` names an import (:attr:`CellCode.extensions`); the line is kept, with an
  ``import NAME``, only when asked: for a program that runs under IPython anyway.
- Every other magic (``%prun``, ``%lprun``, ``%memit``, ``%debug``, ``%run``, unknown ones,
  ``%time --no-raise-error``...) is left to IPython (:attr:`CellCode.uses_ipython`,
  :attr:`CellCode.ipython_magics` says which).

The value a cell ends with is shown as the notebook showed it (printed; figures saved as
PNG, tables as CSV), unless the cell ends with ``;``.
"""

import ast
import io
import posixpath
import re
import shlex
import tokenize
from dataclasses import dataclass, field
from typing import Optional

from IPython.core.inputtransformer2 import TransformerManager

from .errors import NotebookError
from .layout import RUNTIME_PACKAGE
from .ownlines import OWN_MAGICS

#: line magics that only concern the kernel; dropped from the program
KERNEL_ONLY_MAGICS = {
    "matplotlib",
    "config",
    "reload_ext",
    "unload_ext",
    "autoreload",
    "aimport",
    "lsmagic",
    "store",
}
INSTALL_MAGICS = {"pip", "conda", "mamba"}
#: line magics translated to plain Python calls into the runtime
TRANSLATED_LINE_MAGICS = frozenset({"time", "timeit", "env", "set_env", "cd", "pwd", "who", "whos", "who_ls"})
#: cell magics translated to plain Python
TRANSLATED_CELL_MAGICS = frozenset({"time", "timeit", "capture", "writefile", "file", "bash", "sh"})
#: every magic and shell form that runs without IPython in the image
TRANSLATED_MAGICS = tuple(
    sorted(f"%{m}" for m in TRANSLATED_LINE_MAGICS)
    + sorted(f"%%{m}" for m in TRANSLATED_CELL_MAGICS)
    + ["!cmd", "x = !cmd"]
)
#: extensions that ship inside IPython itself (nothing to install; their magics are kernel-only)
IPYTHON_EXTENSIONS = frozenset({"autoreload", "storemagic"})

_RT = RUNTIME_PACKAGE
_SIMPLE_LINE_MAGICS = {"env", "set_env", "cd", "who", "whos", "who_ls"}


@dataclass(frozen=True)
class PipLine:
    """A ``%pip install`` (or ``!pip install``) line of the notebook.

    Attributes:
        cell: label of the cell holding it.
        args: its arguments after ``install``, split as a shell would.
        text: the line as written, for messages.
    """

    cell: str
    args: tuple[str, ...]
    text: str


@dataclass
class CellCode:
    """One cell as plain Python (after IPython's translation, the drops and the magics' translation).

    Attributes:
        label: the cell's label (``cell 3``).
        code: its Python code.
        uses_ipython: the code still calls ``get_ipython()``.
        dropped_lines: ``(first, last)`` lines, in IPython's translation of the cell, that were
            commented out as kernel-only.
        written_files: files a ``%%writefile`` of the cell writes (relative to the notebook folder).
        extensions: modules named by the cell's ``%load_ext`` lines.
        ipython_magics: the magics of the cell that still need IPython (``%lprun``, ``%%html``).
        written_text: ``(path, append, text)`` of each of the cell's ``%%writefile``.
    """

    label: str
    code: str
    uses_ipython: bool = False
    dropped_lines: tuple[tuple[int, int], ...] = ()
    written_files: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    ipython_magics: tuple[str, ...] = ()
    written_text: tuple = field(default=(), repr=False)


@dataclass
class MagicCall:
    """A ``get_ipython().<kind>(...)`` call: ``kind`` is run_line_magic, run_cell_magic, system..."""

    kind: str
    name: str
    args: str
    body: Optional[str]
    call: ast.Call


def magic_call(node: ast.AST) -> Optional[MagicCall]:
    """The :class:`MagicCall` when ``node`` is ``get_ipython().run_line_magic(...)`` and the like."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "get_ipython"):
        return None
    kind = node.func.attr
    if node.keywords or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        return MagicCall(kind, "", "", None, node)
    consts = [a.value for a in node.args]
    if kind == "run_line_magic" and len(consts) == 2:
        return MagicCall(kind, consts[0], consts[1], None, node)
    if kind == "run_cell_magic" and len(consts) == 3:
        return MagicCall(kind, consts[0], consts[1], consts[2], node)
    if kind in ("system", "getoutput") and len(consts) == 1:
        return MagicCall(kind, "!", consts[0], None, node)
    return MagicCall(kind, "", "", None, node)


#: matplotlib backends that draw into a notebook's front end only
_NOTEBOOK_BACKEND = re.compile(r"module://(matplotlib_inline|ipympl)\b|^(inline|widget|ipympl|nbagg)$", re.I)


def _kernel_backend(stmt) -> bool:
    """``matplotlib.use("module://matplotlib_inline.backend_inline")`` / ``plt.switch_backend("widget")``:
    a backend that exists only in a notebook's front end."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return False
    if call.func.attr not in ("use", "switch_backend") or not call.args:
        return False
    arg = call.args[0]
    return isinstance(arg, ast.Constant) and isinstance(arg.value, str) and bool(_NOTEBOOK_BACKEND.search(arg.value))


def _uses_ipython(tree):
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(tree))


def _ipython_magics(tree):
    """What keeps IPython in a translated cell: ``%lprun``, ``%%html``, ``!cmd``, ``get_ipython()``."""
    found, extensions = [], False
    for node in ast.walk(tree):
        magic = magic_call(node)
        if magic is None:
            continue
        if magic.kind == "run_line_magic" and magic.name == "load_ext":
            extensions = True  # loaded because something else needs IPython
            continue
        if magic.kind == "run_line_magic" and magic.name:
            found.append(f"%{magic.name}")
        elif magic.kind == "run_cell_magic" and magic.name:
            found.append(f"%%{magic.name}")
        elif magic.kind in ("system", "getoutput"):
            found.append("!" + magic.args.split(" ")[0] if magic.args else "!")
        else:
            found.append(f"get_ipython().{magic.kind}")
    if not found and not extensions and _uses_ipython(tree):
        found.append("get_ipython()")
    return tuple(dict.fromkeys(found))


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


def _own_import(stmt):
    """Names a statement binds to dockermagic (``import dockermagic as dm`` -> {"dm"})."""
    if isinstance(stmt, ast.Import):
        return {(a.asname or a.name).partition(".")[0] for a in stmt.names if a.name.partition(".")[0] == "dockermagic"}
    if isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and (stmt.module or "").partition(".")[0] == "dockermagic":
        return {a.asname or a.name for a in stmt.names} or {"*"}
    return set()


#: what of dockermagic a program may use inside the image: the runtime provides it
IMAGE_API = frozenset({"record"})


def _runtime_import(stmt):
    """The same import of dockermagic's image API from the runtime (``import dockermagic as dm`` ->
    ``import _dockermagic_runtime as dm``; ``from dockermagic import record`` -> from the
    runtime); None when the statement imports nothing the image can use."""
    if isinstance(stmt, ast.Import):
        names = [a for a in stmt.names if a.name == "dockermagic"]
        if not names:
            return None
        return "; ".join(f"import {RUNTIME_PACKAGE} as {a.asname or 'dockermagic'}" for a in names)
    if isinstance(stmt, ast.ImportFrom) and stmt.module == "dockermagic":
        kept = [a for a in stmt.names if a.name in IMAGE_API]
        if not kept:
            return None
        return f"from {RUNTIME_PACKAGE} import " + ", ".join(
            a.name + (f" as {a.asname}" if a.asname else "") for a in kept
        )
    return None


def _only_image_api(stmt, own_names):
    """Whether every use of dockermagic's names in ``stmt`` is a call of its image API
    (``dockermagic.record(...)``, or ``record(...)`` imported from it)."""
    allowed = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in own_names:
            if node.attr not in IMAGE_API:
                return False
            allowed.add(id(node.value))
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and node.id in own_names and id(node) not in allowed and node.id not in IMAGE_API:
            return False
    return True


def ends_with_semicolon(source):
    """Whether the last token of a cell (comments aside) is ``;``: the kernel then shows no value."""
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type
            not in (
                tokenize.COMMENT,
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            )
        ]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source.rstrip().endswith(";")
    return bool(tokens) and tokens[-1].string == ";"


def _continuation_lines(code):
    """1-based lines that start inside a multi-line token (a triple-quoted string): never indented."""
    inside = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.start[0] < token.end[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


def _indent(code, prefix):
    """``code`` indented by ``prefix``, except lines inside multi-line strings; ``pass`` when it has no statement."""
    try:
        empty = not ast.parse(code).body
    except SyntaxError:
        empty = False
    if empty:
        code = code.rstrip("\n") + "\npass" if code.strip() else "pass"
    inside = _continuation_lines(code)
    return "\n".join(
        line if number in inside or not line.strip() else prefix + line
        for number, line in enumerate(code.split("\n"), start=1)
    ).rstrip("\n")


class _Untranslatable(Exception):
    """A magic that this module cannot translate: it stays for IPython."""


def _timeit_options(line):
    """``(options, statement)`` of a ``%timeit`` line as IPython parses ``-n:r:tcp:qov:``; None if unsure."""
    options, rest = {}, line.lstrip()
    while rest.startswith("-"):
        valued = re.match(r"-([nrp])\s*(\d+)(?:\s+|$)", rest) or re.match(r"-(v)\s*([A-Za-z_]\w*)(?:\s+|$)", rest)
        flags = re.match(r"-([tcqo]+)(?:\s+|$)", rest)
        if valued:
            options[valued.group(1)] = valued.group(2)
            rest = rest[valued.end() :]
        elif flags:
            options.update(dict.fromkeys(flags.group(1), True))
            rest = rest[flags.end() :]
        elif re.match(r"--(\s+|$)", rest):
            rest = rest[2:].lstrip()
            break
        else:
            raise _Untranslatable(line)
    return options, rest


def _capture_options(line):
    """``(stdout, stderr, display, name)`` of a ``%%capture`` line."""
    out, err, disp, name = True, True, True, None
    for word in line.split():
        if word == "--no-stdout":
            out = False
        elif word == "--no-stderr":
            err = False
        elif word == "--no-display":
            disp = False
        elif re.fullmatch(r"[A-Za-z_]\w*", word) and name is None:
            name = word
        else:
            raise _Untranslatable(line)
    return out, err, disp, name


def written_path(line):
    """The path a ``%%writefile`` line names, normalized; None when it depends on variables."""
    if "$" in line or "{" in line:
        return None
    name = " ".join(word for word in line.split() if word not in ("-a", "--append"))
    if re.match(r"^('.*'|\".*\")$", name):
        name = name[1:-1]
    if not name or name.startswith("~"):
        return None
    return posixpath.normpath(name.replace("\\", "/"))


class _Cell:
    """The translation of one cell (or of a cell magic's body) to plain Python."""

    def __init__(self, label, own_names, keep_extensions, translate=True):
        self.label = label
        self.own_names = own_names
        self.keep_extensions = keep_extensions
        self.translate = translate
        self.pips, self.dropped, self.dropped_lines = [], [], []
        self.written, self.written_text, self.extensions = [], [], []

    # -- entry points -------------------------------------------------------------------------

    def cell(self, source):
        """The cell's Python code (raises NotebookError on a syntax error)."""
        code = TransformerManager().transform_cell(source)
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            text = (exc.text or "").strip()
            hint = ""
            first = text.split()[0] if text.split() else ""
            if first in ("pip", "conda", "apt", "apt-get", "ls", "cd", "wget", "curl", "git"):
                hint = f" (a shell command? write it as !{text})"
            raise NotebookError(
                f"{self.label} has a syntax error on line {exc.lineno}: {exc.msg}: {text}{hint}"
            ) from None
        last = None if ends_with_semicolon(source) else "show"
        return self._rewrite(code, tree, last, top=True)

    def body(self, source, last):
        """A cell magic's body (or a line magic's statement) as Python; ``last``: None, "show" or a target."""
        code = TransformerManager().transform_cell(source)
        try:
            tree = ast.parse(code)
        except SyntaxError:
            raise _Untranslatable(source) from None
        if last == "show" and ends_with_semicolon(source):
            last = None
        return self._rewrite(code, tree, last, top=False)

    # -- the rewrite --------------------------------------------------------------------------

    def _rewrite(self, code, tree, last, top):
        ops = _Edits(code, self.dropped_lines if top else None)
        body = tree.body
        final = body[-1] if body else None
        handled = set()  # statements replaced whole

        def visit(statements):
            for stmt in statements:
                if not self._statement(stmt, top and stmt in body, stmt is final and last == "show", code, ops):
                    visit(_children(stmt))
                else:
                    handled.add(stmt)

        visit(body)
        if isinstance(final, ast.Expr) and last and final not in handled:
            start, end = ops.span(final)
            if last == "show":
                head, tail = f"{_RT}.show((", f"), cell={self.label!r})"
            else:
                head, tail = f"{last} = (", ")"
            ops.edits += [(start, start, head), (end, end, tail)]
        return ops.apply()

    def _statement(self, stmt, top_level, last, code, ops):
        """Rewrite one statement when it is dockermagic's own or a magic; True when replaced whole."""
        if top_level:
            bound = _own_import(stmt)
            used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)} & self.own_names
            if bound and _runtime_import(stmt):
                # dockermagic.record works in the image: the runtime provides it
                self.own_names |= bound
                ops.replace_stmt(stmt, [_runtime_import(stmt)])
                return True
            if used and not bound and _only_image_api(stmt, self.own_names):
                return False
            if bound or used:
                self.own_names |= bound
                text = "\n".join(code.splitlines()[stmt.lineno - 1 : stmt.end_lineno]).strip().splitlines()[0]
                self.dropped.append((self.label, text))
                ops.comment_out(stmt, f"# {text}  (dockermagic: kernel only, not run)")
                return True
        if _kernel_backend(stmt):
            text = "\n".join(code.splitlines()[stmt.lineno - 1 : stmt.end_lineno]).strip().splitlines()[0]
            self.dropped.append((self.label, text))
            ops.comment_out(stmt, f"# {text}  (kernel only: the image saves figures as the inline backend shows them)")
            return True
        value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign)) else None
        magic = magic_call(value) if value is not None else None
        if magic is None:
            return False
        records = (ops.edits, self.dropped, self.pips, self.written, self.written_text, self.extensions)
        marks = [len(record) for record in records]
        try:
            return self._magic(stmt, magic, last and isinstance(stmt, ast.Expr), ops)
        except _Untranslatable:  # left to IPython, as it was
            for record, mark in zip(records, marks):
                del record[mark:]
            return False

    def _magic(self, stmt, magic, show_value, ops):
        """Rewrite one magic statement; True when it was replaced whole."""
        kind, name, args = magic.kind, magic.name, magic.args
        label = self.label
        if kind in ("system", "getoutput") or kind == "run_line_magic" and name in INSTALL_MAGICS:
            pip_words = _pip_args(args if kind != "run_line_magic" else "pip " + args)
            if pip_words is not None and name not in ("conda", "mamba"):
                shown = ("%pip " if kind == "run_line_magic" else "!") + args
                self.pips.append(PipLine(label, pip_words, shown))
                ops.comment_out(stmt, f"# {shown}  (installed in the image's requirements layer)")
                return True
        if kind == "run_line_magic" and name in OWN_MAGICS and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            self.own_names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if kind == "run_line_magic" and name in ("load_ext", "reload_ext"):
            module = args.strip()
            if module and module != "dockermagic" and module not in IPYTHON_EXTENSIONS and name == "load_ext":
                self.extensions.append(module)
                if self.keep_extensions:
                    top_module = module.partition(".")[0]
                    if re.fullmatch(r"[A-Za-z_][\w.]*", module):
                        ops.replace_stmt(
                            stmt,
                            [
                                f"import {module}  # %load_ext {module}: {top_module} is a requirement",
                                f"get_ipython().run_line_magic('load_ext', {module!r})",
                            ],
                        )
                        return True
                    return False
                self.dropped.append((label, f"%{name} {args}".strip()))
                ops.comment_out(stmt, f"# %{name} {args}  (not run: no magic of it runs in the image)")
                return True
        if kind == "run_line_magic" and (name in KERNEL_ONLY_MAGICS or name in OWN_MAGICS or name == "load_ext"):
            self.dropped.append((label, f"%{name} {args}".strip()))
            ops.comment_out(stmt, f"# %{name} {args}  (kernel only: not run)".rstrip())
            return True
        if kind == "run_cell_magic" and name in OWN_MAGICS:
            self.dropped.append((label, f"%%{name} {args}".strip()))
            ops.comment_out(stmt, f"# %%{name} cell  (not run)")
            return True
        if not self.translate:
            return False
        prefix = ops.prefix_of(stmt, magic.call)
        if kind in ("system", "getoutput"):
            ops.edits.append((*ops.span(magic.call), f"{_RT}.{kind}({args!r})"))
            return False
        if kind == "run_line_magic" and name in _SIMPLE_LINE_MAGICS:
            ops.edits.append((*ops.span(magic.call), f"{_RT}.{name}({args!r})"))
            return False
        if kind == "run_line_magic" and name == "pwd":
            ops.edits.append((*ops.span(magic.call), f"{_RT}.pwd()"))
            return False
        if kind == "run_line_magic" and name == "time" and prefix is not None:
            if args.lstrip().startswith("-"):
                raise _Untranslatable(args)
            ops.replace_stmt(stmt, self._timed(args, prefix, show_value and not args.rstrip().endswith(";")))
            return True
        if kind == "run_line_magic" and name == "timeit" and prefix is not None:
            options, statement = _timeit_options(args)
            if not statement.strip():
                raise _Untranslatable(args)
            ops.replace_stmt(stmt, self._timeit(options, "", statement, prefix, show_value))
            return True
        if kind != "run_cell_magic" or not isinstance(stmt, ast.Expr):
            return False
        body = magic.body
        if name == "time":
            if args.strip():
                raise _Untranslatable(args)
            ops.replace_stmt(stmt, self._timed(body, "", show_value and not ends_with_semicolon(body)))
            return True
        if name == "timeit":
            options, setup = _timeit_options(args)
            ops.replace_stmt(stmt, self._timeit(options, setup, body, "", False))
            return True
        if name == "capture":
            out, err, disp, target = _capture_options(args)
            silenced = ends_with_semicolon(body)
            bind = f" as {target}" if target and not silenced else ""
            head = f"with {_RT}.capture(stdout={out}, stderr={err}, display={disp}){bind}:  # %%capture {args}".rstrip()
            ops.replace_stmt(stmt, [head] + _indent(self.body(body, "show"), "    ").split("\n"))
            return True
        if name in ("writefile", "file"):
            path = written_path(args)
            if path:
                self.written.append(path)
                append = any(word in ("-a", "--append") for word in args.split())
                self.written_text.append((path, append, body))
            ops.replace_stmt(stmt, [f"{_RT}.writefile({args!r}, {body!r})  # %%{name} {args}".rstrip()])
            return True
        if name in ("bash", "sh") and not args.strip():
            ops.replace_stmt(stmt, [f"{_RT}.script({name!r}, {body!r})  # %%{name}"])
            return True
        return False

    def _timed(self, source, prefix, show_value):
        """``%time`` / ``%%time``: the statement(s) in a timed ``with`` block, the value shown after."""
        target = "_dockermagic_time.value"
        code = self.body(source, target)
        lines = [f"with {_RT}.Timed() as _dockermagic_time:"] + _indent(code, "    ").split("\n")
        if prefix:
            lines.append(f"{prefix}{target}")
        elif show_value and f"{target} = (" in code:
            lines.append(f"{_RT}.show({target}, cell={self.label!r})")
        return lines

    def _timeit(self, options, setup, statement, prefix, show_value):
        """``%timeit`` / ``%%timeit``: IPython's timing function, written out, then the measurement."""
        lines = ["def _dockermagic_timeit(_it, _timer):"]
        if setup.strip():
            lines += _indent(self.body(setup, None), "    ").split("\n")
        lines += ["    _t0 = _timer()", "    for _i in _it:"]
        lines += _indent(self.body(statement, None), "        ").split("\n")
        lines += ["    _t1 = _timer()", "    return _t1 - _t0"]
        timer = "'wall'" if "t" in options else "'cpu'" if "c" in options else "None"
        call = (
            f"{_RT}.timeit(_dockermagic_timeit, number={int(options.get('n', 0))}, "
            f"repeat={int(options.get('r', 7))}, precision={int(options.get('p', 3))}, "
            f"quiet={'q' in options}, timer={timer}, result={'o' in options}, save={options.get('v')!r})"
        )
        if prefix:
            lines.append(prefix + call)
        elif show_value and "o" in options:
            lines.append(f"{_RT}.show({call}, cell={self.label!r})")
        else:
            lines.append(call)
        return lines


def _children(stmt):
    """The statements nested in ``stmt`` (bodies, branches, handlers, cases), in order."""
    nested = []
    for name in ("body", "orelse", "finalbody"):
        inner = getattr(stmt, name, None)
        if isinstance(inner, list):
            nested += inner
    for handler in getattr(stmt, "handlers", None) or []:
        nested += handler.body
    for case in getattr(stmt, "cases", None) or []:
        nested += case.body
    return nested


class _Edits:
    """Text edits of a piece of code, addressed as ``ast`` addresses it (line, UTF-8 byte column)."""

    def __init__(self, code, dropped_lines=None):
        self.data = code.encode()
        self.starts = [0]
        for line in self.data.split(b"\n"):
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.edits = []  # (start byte, end byte, text)
        self.dropped_lines = dropped_lines

    def span(self, node):
        return (
            self.starts[node.lineno - 1] + node.col_offset,
            self.starts[node.end_lineno - 1] + node.end_col_offset,
        )

    def indent_of(self, stmt):
        head = self.data[self.starts[stmt.lineno - 1] : self.span(stmt)[0]]
        if head.strip():
            raise _Untranslatable("the statement does not start its line")
        return head.decode()

    def replace_stmt(self, stmt, lines):
        """Replace a statement with ``lines``, at its indentation."""
        prefix = self.indent_of(stmt)
        text = "\n".join(lines[:1] + [prefix + line if line else line for line in lines[1:]])
        self.edits.append((*self.span(stmt), text))

    def comment_out(self, stmt, text):
        """Replace a statement with a comment (``pass  # ...`` inside a block, which must not be empty)."""
        self.edits.append((*self.span(stmt), f"pass  {text}" if stmt.col_offset else text))
        if self.dropped_lines is not None:
            self.dropped_lines.append((stmt.lineno, stmt.end_lineno))

    def prefix_of(self, stmt, call):
        """``"x = "`` for ``x = %magic``, ``""`` for a bare ``%magic``, None for other shapes."""
        if isinstance(stmt, ast.Expr):
            return ""
        if isinstance(stmt, ast.Assign) and stmt.value is call:
            return self.data[self.span(stmt)[0] : self.span(call)[0]].decode()
        return None

    def apply(self):
        data = self.data
        for start, end, text in sorted(self.edits, key=lambda e: (e[0], e[1]), reverse=True):
            data = data[:start] + text.encode() + data[end:]
        return data.decode()


def translate_cell(label, source, own_names=None, *, keep_extensions=False, translate_magics=True):
    """Translate one cell to plain Python.

    ``own_names`` collects names bound to dockermagic across cells: statements importing
    or using dockermagic concern the kernel only and are dropped.

    Args:
        keep_extensions: keep ``%load_ext NAME`` lines (with an ``import NAME``), for a program
            that runs under IPython; else they are dropped.
        translate_magics: translate the common magics to runtime calls (else IPython runs them).

    Returns:
        (CellCode, pip lines, dropped lines).

    Raises:
        NotebookError: the cell is not valid Python even after IPython's translation.
    """
    own_names = set() if own_names is None else own_names
    before = set(own_names)
    cell = _Cell(label, own_names, keep_extensions, translate_magics)
    code = cell.cell(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        if not translate_magics:
            raise
        own_names.clear()
        own_names.update(before)
        return translate_cell(label, source, own_names, keep_extensions=keep_extensions, translate_magics=False)
    cell_code = CellCode(
        label,
        code,
        _uses_ipython(tree),
        tuple(cell.dropped_lines),
        tuple(dict.fromkeys(cell.written)),
        tuple(cell.extensions),
        _ipython_magics(tree),
        tuple(cell.written_text),
    )
    return cell_code, cell.pips, cell.dropped
