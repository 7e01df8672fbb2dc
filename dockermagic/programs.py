"""Programs a notebook's code and its packages run, found without running them.

``graphviz`` renders with the ``dot`` program, ``pytesseract`` runs ``tesseract``, and a
notebook's ``!ffmpeg -i a.mp4 a.wav`` needs ``ffmpeg``: none of them comes with a wheel, and
in ``python:3.X-slim`` none is on PATH. This module names them:

- :func:`programs_in_source` reads Python source (the exported program, with IPython's or
  dockermagic's translation of ``!cmd`` and ``%%bash`` cells) and finds the literal commands
  it runs through ``subprocess``, ``os.system`` and friends (:data:`SHELL_CALLS`,
  :data:`EXEC_CALLS`); :func:`command_words` picks the programs out of a shell line;
- :func:`programs_of_distributions` names the programs well-known wrappers run
  (:data:`PROGRAM_WRAPPERS`), and :func:`libraries_of_distributions` the system libraries
  well-known wrappers load with ctypes or cffi (:data:`LIBRARY_WRAPPERS`), which no ELF
  file names.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shlex
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

from .layout import RUNTIME_PACKAGE

# Well-known Python wrappers around a program, by distribution name (normalized, PEP 503).
# Only packages that run the program by default, with no bundled copy of it.
PROGRAM_WRAPPERS: dict[str, tuple[str, ...]] = {
    "graphviz": ("dot",),  # renders with the `dot` program of Graphviz (engine="dot" by default)
    "pydot": ("dot",),  # Dot.create()/write_png() run `dot`
    "pdf2image": ("pdftoppm", "pdfinfo"),  # convert_from_path() runs pdfinfo, then pdftoppm (Poppler)
    "pytesseract": ("tesseract",),  # image_to_string() runs the tesseract program
    "pyspark": ("java",),  # the driver starts a JVM (spark-submit); the wheel bundles Spark's jars, not Java
    "tabula-py": ("java",),  # runs `java -jar tabula-...jar`
    "pydub": ("ffmpeg", "ffprobe"),  # AudioSegment.from_file() decodes anything but WAV with ffmpeg
    "ffmpeg-python": ("ffmpeg", "ffprobe"),  # builds ffmpeg command lines; probe() runs ffprobe
    "openai-whisper": ("ffmpeg",),  # whisper.load_audio() decodes with the ffmpeg program
    "pdfkit": ("wkhtmltopdf",),
    "imgkit": ("wkhtmltoimage",),
    "pypandoc": ("pandoc",),  # pypandoc-binary bundles pandoc; plain pypandoc needs it installed
    "ocrmypdf": ("tesseract", "gs"),  # OCR with tesseract, PDF/A output with Ghostscript
    # Not listed on purpose: moviepy (its imageio-ffmpeg dependency ships an ffmpeg binary in
    # the wheel), pygraphviz (it links libcgraph, which the ELF scan sees).
}

# Wrappers that load a system library with ctypes or cffi at import: invisible to DT_NEEDED
# and to ldd, so they are listed here.
LIBRARY_WRAPPERS: dict[str, tuple[str, ...]] = {
    "python-magic": ("libmagic.so.1",),  # magic/loader.py: ctypes.util.find_library('magic')
    "pyzbar": ("libzbar.so.0",),  # pyzbar/zbar_library.py
    "cairocffi": ("libcairo.so.2",),  # cffi dlopen('cairo-2' / 'libcairo.so.2')
    "sounddevice": ("libportaudio.so.2",),  # the Linux wheel has no bundled PortAudio
    "weasyprint": (  # weasyprint/text/ffi.py dlopens Pango and friends (version 53 and later)
        "libgobject-2.0.so.0",
        "libpango-1.0.so.0",
        "libharfbuzz.so.0",
        "libfontconfig.so.1",
        "libpangoft2-1.0.so.0",
    ),
}

# Shell words that are not programs to install.
SHELL_BUILTINS = frozenset(
    {
        *("cd", "echo", "export", "source", ".", "set", "unset", "alias", "exit", "true", "false", "test", "["),
        *("read", "printf", "pwd", "eval", "exec", "wait", "ulimit", "umask", "type", "hash", "shift", "trap"),
        *("return", "let", "declare", "local", "command", "builtin", "times", "kill"),
        *("if", "then", "else", "fi", "for", "do", "done", "while", "until", "case", "esac"),
    }
)
# Words in front of the real command: `sudo make`, `env A=1 dot`, `time python`.
COMMAND_PREFIXES = frozenset({"sudo", "exec", "time", "nohup", "env", "command", "nice", "stdbuf"})


@dataclass(frozen=True)
class ProgramUse:
    """A program the code runs.

    Attributes:
        program: the command's name (``dot``).
        line: line of the source where it is run (1-based).
        how: the call that runs it (``subprocess.run``, ``get_ipython().system``, ``%%bash``).
    """

    program: str
    line: int
    how: str


# Calls whose first argument is a shell command line, and calls whose first argument is the
# program (or an argv list), by qualified name. Extend them when the exported program runs
# shell lines through a helper of its own.
RUNTIME = RUNTIME_PACKAGE  # the exported program's helpers
SHELL_CALLS = {
    f"{RUNTIME}.system",  # `!cmd` translated without IPython
    f"{RUNTIME}.getoutput",  # `x = !cmd`
    "os.system",
    "os.popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
}
EXEC_CALLS = {
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "asyncio.create_subprocess_exec",
    "os.execvp",
    "os.execvpe",
    "os.execlp",
    "os.execlpe",
}
_IPYTHON_SHELL = {"system", "getoutput", "system_raw", "system_piped"}
_SHELL_MAGICS = {"bash", "sh", "script", "system", "sx"}


def command_words(command: str) -> list[str]:
    """The program of each simple command in a shell command line.

    ``cd out && dot -Tpng g.dot | convert - g.jpg; FOO=1 sudo tesseract x`` ->
    ``['dot', 'convert', 'tesseract']``. Builtins, variable assignments, words built from
    expansions (``$X``, ``{x}``) and relative paths (``./run.sh``) are left out; an absolute
    path gives its file name.
    """
    words = []
    for line in command.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: take what split() gives
            tokens = line.split()
        start = True
        for token in tokens:
            if token and set(token) <= set("|&;()<>"):
                start = token not in ("<", ">", ">>", "<<", ">&", "<&", "&>", ">|")
                continue
            if not start:
                continue
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token) or token in COMMAND_PREFIXES:
                continue
            start = False
            name = _program_name(token)
            if name:
                words.append(name)
    return words


def _program_name(word: str) -> Optional[str]:
    if not word or word in SHELL_BUILTINS or any(c in word for c in "${}*?`'\"=") or word.startswith("-"):
        return None
    if "/" in word:
        return posixpath.basename(word) if word.startswith("/") and not word.endswith("/") else None
    return word


def _leading_text(node: ast.AST) -> Optional[str]:
    """The literal start of a string expression: ``"dot -T"``, ``f"dot {x}"`` -> ``"dot "``, ``"a" + b`` -> ``"a"``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        first = node.values[0] if node.values else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value + "{"  # the rest is computed: cut the last word there
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _leading_text(node.left)
        return None if left is None else left + "{"
    return None


def _first_program(node: ast.AST, shell: bool) -> list[str]:
    """Programs named by a command argument: a shell string, or the first element of an argv list."""
    if isinstance(node, (ast.List, ast.Tuple)):
        if not node.elts:
            return []
        text = _leading_text(node.elts[0])
        name = _program_name(text) if text is not None and "{" not in text else None
        return [name] if name else []
    text = _leading_text(node)
    if text is None:
        return []
    if shell:
        return command_words(text.split("{", 1)[0] if text.endswith("{") else text)
    first = text.split()[0] if text.split() else ""
    name = _program_name(first) if "{" not in first else None
    return [name] if name else []


def _line_magic(node: ast.Call) -> Optional[str]:
    """The magic's name in ``get_ipython().run_line_magic('sx', 'ls')`` (None without two arguments)."""
    return _leading_text(node.args[0]) if len(node.args) >= 2 else None


class _Calls(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.uses: list[ProgramUse] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module and not node.level:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _qualified(self, func: ast.AST) -> Optional[str]:
        if isinstance(func, ast.Name):
            return self.aliases.get(func.id, func.id)
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Call) and self._qualified(func.value.func) == "get_ipython":
                return f"get_ipython().{func.attr}"
            base = self._qualified(func.value)
            return f"{base}.{func.attr}" if base else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        name = self._qualified(node.func)
        if not name:
            return
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        found: list[str] = []
        ipython_shell = name.startswith("get_ipython().") and name.split(".", 1)[1] in _IPYTHON_SHELL
        if name in SHELL_CALLS or ipython_shell:
            arg = node.args[0] if node.args else keywords.get("cmd", keywords.get("command"))
            found = _first_program(arg, shell=True) if arg is not None else []
        elif name in EXEC_CALLS:
            arg = node.args[0] if node.args else keywords.get("args")
            shell = keywords.get("shell")
            is_shell = isinstance(shell, ast.Constant) and bool(shell.value)
            found = _first_program(arg, shell=is_shell) if arg is not None else []
        elif name == "get_ipython().run_cell_magic" and len(node.args) >= 3:
            magic = _leading_text(node.args[0])
            if magic in _SHELL_MAGICS:
                body = _leading_text(node.args[2]) or ""
                if magic == "script":
                    found = command_words(_leading_text(node.args[1]) or "")[:1]
                    name = "%%script"
                else:
                    found = command_words(body)
                    name = "%%" + magic
        elif name == f"{RUNTIME}.script" and len(node.args) >= 2:  # `%%bash` translated without IPython
            if _leading_text(node.args[0]) in _SHELL_MAGICS:
                found = command_words(_leading_text(node.args[1]) or "")
                name = "%%" + str(_leading_text(node.args[0]))
        elif name == "get_ipython().run_line_magic" and _line_magic(node) in ("sx", "system"):
            found = _first_program(node.args[1], shell=True)
        for program in found:
            self.uses.append(ProgramUse(program, node.lineno, name))


def programs_in_source(source: str) -> list[ProgramUse]:
    """Programs the code runs, with a literal command name, in the order they appear.

    Recognized: ``subprocess.run/call/check_call/check_output/Popen`` (a list whose first
    element is a string, or a string, parsed as a shell line when ``shell=True``),
    ``subprocess.getoutput``, ``os.system``, ``os.popen``, ``os.exec*p*``, asyncio's
    ``create_subprocess_exec/shell``, and what IPython's translation of ``!cmd``,
    ``x = !cmd``, ``%sx`` and ``%%bash``/``%%sh``/``%%script`` cells produces
    (``get_ipython().system(...)``, ``.getoutput(...)``, ``.run_cell_magic(...)``) or
    dockermagic's own translation of them (``_dockermagic_runtime.system/getoutput/script``),
    through any import alias. Source that does not parse gives no programs.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    visitor = _Calls()
    visitor.visit(tree)
    return sorted(visitor.uses, key=lambda u: u.line)


def normalize(name: str) -> str:
    """A distribution's name as the tables spell it (PEP 503: ``FFmpeg_Python`` -> ``ffmpeg-python``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _by_distribution(table: dict, distributions: Iterable[str]) -> dict[str, list[str]]:
    """``{entry: [distributions]}`` for the required distributions a wrapper table names."""
    result: dict[str, list[str]] = defaultdict(list)
    for dist in sorted(set(distributions)):
        for entry in table.get(normalize(dist), ()):
            result[entry].append(dist)
    return dict(result)


def programs_of_distributions(distributions: Iterable[str]) -> dict[str, list[str]]:
    """``{program: [distributions]}`` for the required distributions that run a program (:data:`PROGRAM_WRAPPERS`)."""
    return _by_distribution(PROGRAM_WRAPPERS, distributions)


def libraries_of_distributions(distributions: Iterable[str]) -> dict[str, list[str]]:
    """``{soname: [distributions]}`` for distributions that load a system library with ctypes/cffi."""
    return _by_distribution(LIBRARY_WRAPPERS, distributions)
