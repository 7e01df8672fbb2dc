"""System libraries and programs a notebook's environment needs from the image's Debian.

A wheel brings its own Python code and usually most of its native libraries, but not all of
them: ``opencv-python`` expects ``libGL.so.1`` and glib from the system, ``lightgbm``
expects ``libgomp.so.1``, and ``graphviz`` runs the ``dot`` program. On a full desktop they
are there; in ``python:3.X-slim`` they are not, and the import (or the call) fails only when
the program runs. This module finds them before the build and names the Debian packages that
provide them:

1. :func:`needed_by_distribution` reads the ELF dynamic section (``DT_NEEDED``,
   ``DT_RPATH``/``DT_RUNPATH``) of every extension module and bundled library of the
   required distributions, and keeps the sonames that nothing in the environment provides;
2. :func:`missing_libraries` compares them with the sonames of the base image
   (:func:`parse_ldconfig` of its ``ldconfig -p``, or the shipped list of
   :func:`python_slim_sonames`);
3. :func:`programs_in_source` and :data:`PROGRAM_WRAPPERS` find the programs the code and
   its packages run;
4. :func:`package_for_soname` and :func:`package_for_program` map both to Debian packages of
   the base image's release (a table generated from Debian's Contents index by
   ``scripts/gen_debian_tables.py``, then the host's ``dpkg -S`` when the host runs that
   very release);
5. :func:`plan_system_packages` does all of it and returns a :class:`SystemPlan`: packages
   with the reason for each, and what no package is known to provide.

The check inside the image (``_dockermagic_runtime.checklibs``, ``ldd`` on every shared
object) is the authority; this static plan makes that check pass on the first build.
"""

from __future__ import annotations

import ast
import functools
import gzip
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_RELEASE = "bookworm"

# Sonames of glibc and its dynamic loaders: every Debian image has them (package libc6).
ALWAYS_PRESENT = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libmvec.so.1",
        "libBrokenLocale.so.1",
        "libthread_db.so.1",
        "libc_malloc_debug.so.0",
        "libnss_files.so.2",
        "libnss_dns.so.2",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "ld-linux.so.2",
        "ld-linux-armhf.so.3",
        "ld64.so.2",
        "ld64.so.1",
        "linux-vdso.so.1",
    }
)

# Libraries of the GPU driver: NVIDIA's container runtime mounts them into the container when
# it starts (`--gpus`). No Debian package of the image may provide them, and none is needed.
PROVIDED_AT_RUN_TIME = frozenset(
    {
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "libnvcuvid.so.1",
        "libnvidia-encode.so.1",
        "libnvidia-opticalflow.so.1",
        "libnvidia-ptxjitcompiler.so.1",
    }
)

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

# Distributions with a variant that needs nothing from the system, for a note in the plan.
# Measured: opencv-python needs libGL, glib and X11 libraries for its Qt GUI (about 200 MB
# of Debian packages: libgl1 pulls Mesa and LLVM), opencv-python-headless needs none.
LIGHTER_VARIANTS: dict[str, str] = {
    "opencv-python": "opencv-python-headless",
    "opencv-contrib-python": "opencv-contrib-python-headless",
}

# Programs that no Contents line names, because Debian installs them through
# update-alternatives, mapped to the package a user means.
PROGRAM_PACKAGES: dict[str, str] = {
    # /usr/bin/java -> /etc/alternatives/java -> /usr/lib/jvm/<jdk>/bin/java. default-jre-headless
    # is Debian's own choice of Java for the release (OpenJDK 17 in bookworm, 21 in trixie),
    # so the name stays valid across releases, and "headless" leaves out AWT/X11 (about half
    # the size of default-jre), which Spark and tabula never use.
    "java": "default-jre-headless",
    "keytool": "default-jre-headless",
    "javac": "default-jdk-headless",
    # ImageMagick's commands are alternatives between versions (convert-im6.q16 ...).
    **dict.fromkeys(
        ["convert", "identify", "mogrify", "composite", "montage", "compare", "conjure", "stream", "animate"],
        "imagemagick",
    ),
    "mpirun": "openmpi-bin",
    "mpiexec": "openmpi-bin",
    "cc": "gcc",
    "c++": "g++",
    "which": "debianutils",
    "awk": "mawk",
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

_SHARED_OBJECT = re.compile(r"\.so(\.[0-9][0-9A-Za-z_]*)*$|\.so\.")
_MACHINES = {"x86_64": "EM_X86_64", "amd64": "EM_X86_64", "aarch64": "EM_AARCH64", "arm64": "EM_AARCH64"}


# --- ELF --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElfInfo:
    """What the dynamic loader reads from an ELF file.

    Attributes:
        needed: ``DT_NEEDED`` sonames, in order.
        rpath: ``DT_RPATH`` entries (``$ORIGIN`` not expanded).
        runpath: ``DT_RUNPATH`` entries (``$ORIGIN`` not expanded).
        soname: ``DT_SONAME``, if any.
        machine: ``e_machine``, e.g. ``EM_X86_64``.
    """

    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    soname: Optional[str] = None
    machine: str = ""


def read_elf(path: str | os.PathLike[str]) -> Optional[ElfInfo]:
    """The dynamic section of an ELF file, or None for anything that is not a readable ELF file.

    A static executable or a file without a dynamic segment gives an ``ElfInfo`` with no
    ``needed``; a truncated or corrupt file, a text file, or a file that cannot be opened
    gives None. Needs pyelftools.
    """
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
            f.seek(0)
            elf = ELFFile(f)
            machine = str(elf["e_machine"])
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            soname = None
            for segment in elf.iter_segments():
                if not isinstance(segment, DynamicSegment):
                    continue
                tags: list[Any] = list(segment.iter_tags())  # pyelftools sets .needed/.rpath/... per kind
                for tag in tags:
                    kind = tag.entry.d_tag
                    if kind == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif kind == "DT_RPATH":
                        rpath += [p for p in tag.rpath.split(":") if p]
                    elif kind == "DT_RUNPATH":
                        runpath += [p for p in tag.runpath.split(":") if p]
                    elif kind == "DT_SONAME":
                        soname = tag.soname
                break
            return ElfInfo(tuple(needed), tuple(rpath), tuple(runpath), soname, machine)
    except Exception:  # pyelftools raises many kinds on corrupt input (ELFError, struct.error, ...)
        return None


def host_machine() -> str:
    """``e_machine`` name of this interpreter's architecture (``EM_X86_64``), or "" if unknown."""
    info = read_elf(sys.executable)
    if info is not None:
        return info.machine
    import platform

    return _MACHINES.get(platform.machine().lower(), "")


def expand_origin(entry: str, origin: str) -> str:
    """An rpath entry with ``$ORIGIN``/``${ORIGIN}`` replaced by ``origin``, normalized."""
    return posixpath.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))


def looks_like_shared_object(name: str) -> bool:
    """Whether a file name is that of a shared object (``x.so``, ``libx.so.1``, ``libx-ab12.so.1.2.3``)."""
    return bool(_SHARED_OBJECT.search(posixpath.basename(name)))


# --- the environment's files ------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledFile:
    """One installed file of a distribution.

    Attributes:
        distribution: the distribution's name as its metadata spells it (``opencv-python``).
        relpath: path relative to the distribution's site-packages, ``/``-separated, as in
            its RECORD (``cv2/cv2.abi3.so``; scripts are ``../../../bin/NAME``).
        path: where the file is on this machine.
    """

    distribution: str
    relpath: str
    path: Path


def installed_files(distributions: Iterable) -> list[InstalledFile]:
    """The files of ``importlib.metadata`` distributions that exist on disk.

    Takes ``Distribution`` objects (``importlib.metadata.distribution(name)``); a
    distribution without a RECORD contributes nothing.
    """
    files = []
    for dist in distributions:
        name = dist.metadata["Name"] or ""
        for entry in dist.files or ():
            path = Path(dist.locate_file(entry))
            if path.is_file():
                files.append(InstalledFile(name, str(entry).replace(os.sep, "/"), path))
    return files


def environment_programs(files: Iterable[InstalledFile]) -> set[str]:
    """Programs the environment itself puts on PATH: its scripts (``../../../bin/NAME``)."""
    return {posixpath.basename(f.relpath) for f in files if posixpath.dirname(f.relpath).endswith("bin")}


def display_path(relpath: str) -> str:
    """``../../../bin/ruff`` -> ``bin/ruff``; other paths unchanged."""
    parts = relpath.split("/")
    while parts and parts[0] == "..":
        parts.pop(0)
    return "/".join(parts)


def _is_candidate(f: InstalledFile) -> bool:
    if looks_like_shared_object(f.relpath):
        return True
    if "." in posixpath.basename(f.relpath):
        return False
    try:
        return bool(f.path.stat().st_mode & 0o111)
    except OSError:
        return False


@dataclass
class _Scan:
    """Every ELF file of the environment, how their sonames resolve, and what is left for the system."""

    distribution: dict[str, str] = field(default_factory=dict)  # relpath -> distribution
    system: dict[str, tuple[str, ...]] = field(default_factory=dict)  # relpath -> sonames from the system
    loads: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # relpath -> bundled relpaths


def _scan(files: Iterable[InstalledFile], machine: Optional[str] = None) -> _Scan:
    """Read every shared object (and executable) of ``files`` and resolve their needs inside the environment.

    A needed soname is provided by the environment when a file of that name (or with that
    ``DT_SONAME``) is, in order: in one of the file's rpath/runpath folders (``$ORIGIN``
    expanded), in the file's own folder, or anywhere among ``files`` (another distribution's
    bundled copy, found through a relative rpath or loaded before with ctypes, as torch does
    for the nvidia-* wheels). Libraries of glibc and of the GPU driver are never asked from
    the system. Files built for another architecture than ``machine`` (default: this
    interpreter's) are ignored.
    """
    machine = host_machine() if machine is None else machine
    elves: dict[str, ElfInfo] = {}
    scan = _Scan()
    for f in files:
        if not _is_candidate(f):
            continue
        info = read_elf(f.path)
        if info is None or (machine and info.machine != machine):
            continue
        elves[f.relpath] = info
        scan.distribution[f.relpath] = f.distribution
    by_name: dict[str, list[str]] = defaultdict(list)
    by_place: dict[tuple[str, str], str] = {}
    for relpath, info in elves.items():
        folder, name = posixpath.split(relpath)
        names = {name} | ({info.soname} if info.soname else set())
        for n in sorted(names):
            by_name[n].append(relpath)
            by_place[(posixpath.normpath(folder or "."), n)] = relpath
    for relpath, info in sorted(elves.items()):
        origin = posixpath.dirname(relpath) or "."
        folders = [expand_origin(e, origin) for e in (*info.rpath, *info.runpath)] + [posixpath.normpath(origin)]
        system = []
        for soname in info.needed:
            provider = next((by_place[(d, soname)] for d in folders if (d, soname) in by_place), None)
            provider = provider or next(iter(sorted(by_name.get(soname, []))), None)
            if provider is not None:
                if provider != relpath:
                    scan.loads[relpath].add(provider)
            elif soname not in ALWAYS_PRESENT and soname not in PROVIDED_AT_RUN_TIME:
                system.append(soname)
        scan.system[relpath] = tuple(dict.fromkeys(system))
    return scan


def needed_by_distribution(
    files: Iterable[InstalledFile], machine: Optional[str] = None
) -> dict[str, dict[str, tuple[str, ...]]]:
    """For each distribution, each of its ELF files and the sonames it expects from the system.

    Args:
        files: the installed files of the required distributions (:func:`installed_files`).
        machine: keep only ELF files for this ``e_machine`` (default: this interpreter's).

    Returns:
        ``{distribution: {relpath: (soname, ...)}}`` with every ELF file that needs at least
        one soname that the environment does not provide (see :func:`_scan` for the rules);
        glibc's own libraries are left out. Example: ``{"lightgbm": {"lightgbm/lib/lib_lightgbm.so":
        ("libstdc++.so.6", "libgomp.so.1", "libgcc_s.so.1")}}``.
    """
    scan = _scan(files, machine)
    result: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for relpath, sonames in scan.system.items():
        if sonames:
            result[scan.distribution[relpath]][relpath] = sonames
    return dict(result)


def missing_libraries(
    needed: Mapping[str, Mapping[str, Sequence[str]]], base_sonames: Iterable[str]
) -> dict[str, list[str]]:
    """The needed sonames the base image lacks: ``{soname: [relpaths of the files needing it]}``.

    ``needed`` is :func:`needed_by_distribution`'s result; ``base_sonames`` the sonames of the
    base image (:func:`parse_ldconfig`, :func:`python_slim_sonames`). glibc's libraries and
    the GPU driver's count as present. Paths are sorted, extension modules before libraries
    bundled in ``*.libs`` folders.
    """
    present = set(base_sonames) | ALWAYS_PRESENT | PROVIDED_AT_RUN_TIME
    missing: dict[str, set[str]] = defaultdict(set)
    for per_file in needed.values():
        for relpath, sonames in per_file.items():
            for soname in sonames:
                if soname not in present:
                    missing[soname].add(relpath)
    return {s: sorted(paths, key=_module_first) for s, paths in sorted(missing.items())}


def _module_first(relpath: str) -> tuple:
    bundled = any(part.endswith(".libs") for part in relpath.split("/")[:-1])
    return (bundled, relpath.count("/"), relpath)


def parse_ldconfig(text: str) -> set[str]:
    """Sonames in ``ldconfig -p`` output (``\\tlibz.so.1 (libc6,x86-64) => /lib/.../libz.so.1``)."""
    names = set()
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and "=>" in line:
            names.add(line.split()[0])
    return names


def is_extension_module(relpath: str) -> bool:
    """Whether a file is a Python extension module (``x.cpython-311-x86_64-linux-gnu.so``, ``cv2.abi3.so``)."""
    name = posixpath.basename(relpath)
    if re.search(r"\.(cpython-[^.]+|abi3|pypy[^.]*)\.so$", name):
        return True
    return name.endswith(".so") and not name.startswith("lib") and not _module_first(relpath)[0]


def _roots(scan: _Scan, relpath: str) -> list[str]:
    """The ELF files nothing else loads (extension modules, plugins, ctypes targets) whose needs reach ``relpath``."""
    parents: dict[str, set[str]] = defaultdict(set)
    for parent, children in scan.loads.items():
        for child in children:
            parents[child].add(parent)
    roots, queue, seen = [], deque([relpath]), {relpath}
    while queue:
        node = queue.popleft()
        if not parents.get(node):
            roots.append(node)
        for up in sorted(parents.get(node, set()) - seen):
            seen.add(up)
            queue.append(up)
    return roots


# --- programs ---------------------------------------------------------------------------------


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
RUNTIME = "_dockermagic_runtime"  # the exported program's helpers (layout.RUNTIME_PACKAGE)
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


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def programs_of_distributions(distributions: Iterable[str]) -> dict[str, list[str]]:
    """``{program: [distributions]}`` for the required distributions that run a program (:data:`PROGRAM_WRAPPERS`)."""
    result: dict[str, list[str]] = defaultdict(list)
    for dist in sorted(set(distributions)):
        for program in PROGRAM_WRAPPERS.get(_normalize(dist), ()):
            result[program].append(dist)
    return dict(result)


def libraries_of_distributions(distributions: Iterable[str]) -> dict[str, list[str]]:
    """``{soname: [distributions]}`` for distributions that load a system library with ctypes/cffi."""
    result: dict[str, list[str]] = defaultdict(list)
    for dist in sorted(set(distributions)):
        for soname in LIBRARY_WRAPPERS.get(_normalize(dist), ()):
            result[soname].append(dist)
    return dict(result)


# --- Debian tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DebianTable:
    """Sonames and programs of one Debian release, from ``dockermagic/data/debian-<release>.json.gz``.

    Attributes:
        release: codename (``bookworm``).
        sonames: soname -> packages shipping it in a library folder, best first.
        programs: program -> packages shipping it in a ``bin`` folder, best first.
        slim_sonames: sonames in that release's ``python:3.X-slim`` (3.13 and later).
        slim_nis_sonames: sonames only ``python:3.9``-``3.12-slim`` add (the ``nis`` module's libnsl).
        slim_programs: programs on PATH in ``python:3.X-slim`` besides Python's own.
        version: the release's point version the table was made from (``12.15``).
    """

    release: str
    sonames: Mapping[str, Sequence[str]]
    programs: Mapping[str, Sequence[str]]
    slim_sonames: frozenset[str] = frozenset()
    slim_nis_sonames: frozenset[str] = frozenset()
    slim_programs: frozenset[str] = frozenset()
    version: str = ""


def parse_table(data: Mapping) -> DebianTable:
    """A :class:`DebianTable` from the generator's JSON document."""
    slim = data.get("python_slim", {})
    return DebianTable(
        release=data["release"],
        sonames=data.get("sonames", {}),
        programs=data.get("programs", {}),
        slim_sonames=frozenset(slim.get("sonames", ())),
        slim_nis_sonames=frozenset(slim.get("nis_sonames", ())),
        slim_programs=frozenset(slim.get("programs", ())),
        version=data.get("version", ""),
    )


@functools.cache
def load_table(release: str = DEFAULT_RELEASE) -> Optional[DebianTable]:
    """The table shipped for ``release``, or None when dockermagic has none for it."""
    path = DATA / f"debian-{release}.json.gz"
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return parse_table(json.load(f))


def shipped_releases() -> list[str]:
    """Debian releases dockermagic ships a table for."""
    return sorted(p.name[len("debian-") : -len(".json.gz")] for p in DATA.glob("debian-*.json.gz"))


def _version_tuple(python_version: str) -> tuple[int, int]:
    major, minor = (python_version.split(".") + ["0"])[:2]
    return int(major), int(minor)


def python_slim_sonames(python_version: str, release: str = DEFAULT_RELEASE) -> frozenset[str]:
    """Sonames present in ``python:<python_version>-slim-<release>`` when no engine can be asked.

    Derived by ``scripts/gen_debian_tables.py`` from Debian's own indexes: the packages of
    ``debian:<release>-slim`` (debootstrap's minbase: every ``Priority: required`` package
    and apt), plus ``ca-certificates``, ``netbase``, ``tzdata`` and the runtime libraries
    CPython links, with all their dependencies, then the library files those packages ship
    (Contents index). CPython's own ``libpython3.X.so.1.0`` (in ``/usr/local/lib``) is added
    here. Empty when no table is shipped for ``release``.
    """
    table = load_table(release)
    if table is None:
        return frozenset()
    major, minor = _version_tuple(python_version)
    extra = {f"libpython{major}.{minor}.so.1.0"}
    if (major, minor) < (3, 13):
        extra |= table.slim_nis_sonames
    return table.slim_sonames | extra


def python_slim_programs(python_version: str, release: str = DEFAULT_RELEASE) -> frozenset[str]:
    """Programs on PATH in ``python:<python_version>-slim-<release>``: Debian's, and Python's in /usr/local/bin."""
    table = load_table(release)
    major, minor = _version_tuple(python_version)
    python = {f"python{major}.{minor}", f"python{major}", "python", "pip", f"pip{major}", f"pip{major}.{minor}"}
    python |= {f"pydoc{major}", f"idle{major}", f"python{major}-config", f"python{major}.{minor}-config", "pydoc"}
    return (table.slim_programs if table else frozenset()) | python


def host_release() -> tuple[str, str]:
    """(ID, VERSION_CODENAME) of this machine from /etc/os-release, or ("", "")."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "", ""
    fields = dict(re.findall(r'^([A-Z_]+)="?([^"\n]*)"?$', text, re.M))
    return fields.get("ID", ""), fields.get("VERSION_CODENAME", "")


def _in_library_folder(path: str) -> bool:
    folder = posixpath.dirname(path.lstrip("/"))
    return bool(re.match(r"^(usr/)?lib(64)?(/[a-z0-9_]+-linux-gnu[a-z0-9_]*)?(/|$)", folder + "/"))


def _in_bin_folder(path: str) -> bool:
    return posixpath.dirname(path.lstrip("/")) in ("bin", "usr/bin", "sbin", "usr/sbin")


def parse_dpkg_search(text: str, kind: str) -> dict[str, list[str]]:
    """``{name: [packages]}`` from ``dpkg -S`` output, keeping library (``kind="lib"``) or bin (``"bin"``) folders.

    Lines look like ``libgl1:amd64: /usr/lib/x86_64-linux-gnu/libGL.so.1`` or
    ``pkg-a, pkg-b: /path``; diversion lines are skipped.
    """
    keep = _in_library_folder if kind == "lib" else _in_bin_folder
    found: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line.startswith("diversion ") or ": /" not in line:
            continue
        owners, path = line.split(": /", 1)
        path = "/" + path.strip()
        if not keep(path):
            continue
        for owner in owners.split(","):
            package = owner.strip().split(":")[0]
            name = posixpath.basename(path)
            if package and keep_package(package) and package not in found[name]:
                found[name].append(package)
    return dict(found)


def keep_package(name: str) -> bool:
    """Whether a package can provide runtime files for an image (not -dev, -dbg, cross or multilib)."""
    return not (name.endswith(("-dev", "-dbg", "-dbgsym", "-cross")) or re.match(r"^lib(32|x32|64)[a-z]", name))


def host_dpkg_packages(names: Iterable[str], kind: str, release: str = DEFAULT_RELEASE) -> dict[str, str]:
    """Ask this machine's dpkg which installed package ships each name (soname or program).

    Answers only when this machine runs Debian ``release`` itself: an Ubuntu or other
    Debian release may name the same library differently (``libglib2.0-0t64`` in Ubuntu
    24.04, a name bookworm does not have), and a wrong name fails the build later in a worse
    way than "unknown". Only installed packages are known to dpkg. Returns ``{name: package}``.
    """
    names = sorted(set(names))
    if not names or host_release() != ("debian", release):
        return {}
    folder = "lib" if kind == "lib" else "bin"
    patterns = [f"*/{n}" for n in names if re.match(r"^[\w.+-]+$", n)]
    try:
        done = subprocess.run(["dpkg-query", "-S", *patterns], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    found = parse_dpkg_search(done.stdout, folder)
    return {n: found[n][0] for n in names if found.get(n)}


def package_for_soname(soname: str, table: Optional[DebianTable]) -> Optional[str]:
    """The Debian package to install for ``soname`` according to ``table`` (runtime library package first)."""
    candidates = table.sonames.get(soname) if table else None
    return candidates[0] if candidates else None


def package_for_program(program: str, table: Optional[DebianTable]) -> Optional[str]:
    """The Debian package to install for ``program``: :data:`PROGRAM_PACKAGES`, then ``table``."""
    if program in PROGRAM_PACKAGES:
        return PROGRAM_PACKAGES[program]
    candidates = table.programs.get(program) if table else None
    return candidates[0] if candidates else None


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class SystemPlan:
    """Debian packages the final image needs, and why.

    Attributes:
        packages: ``(package, reason)`` sorted by package, e.g. ``("libgl1", "libGL.so.1
            needed by cv2/cv2.abi3.so")``; install them in the final stage.
        unknown: ``(soname, needed_by)`` for libraries no package is known to provide
            (stop the build, suggest ``--apt``).
        unknown_programs: ``(program, used_by)`` for programs no package is known to provide.
        libraries: every soname expected from the system -> its package (or None), for the
            check in the image (:meth:`check_args`).
        programs: every program the code or its packages run that the environment does
            not provide -> its package (or None).
        release: the Debian release the names are valid for.
        ctypes_libraries: sonames well-known wrappers load with ctypes/cffi -> package; the
            check looks them up in the image's ``ldconfig -p`` (``ldd`` cannot see them).
        notes: advice for the user (a variant of a distribution that needs no system library).
        skipped: files (as ``display_path`` shows them) whose libraries are not installed:
            Qt's window plugins and what only they load; the check in the image skips them.
    """

    packages: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    unknown_programs: list[tuple[str, str]] = field(default_factory=list)
    libraries: dict[str, Optional[str]] = field(default_factory=dict)
    programs: dict[str, Optional[str]] = field(default_factory=dict)
    release: str = DEFAULT_RELEASE
    notes: list[str] = field(default_factory=list)
    ctypes_libraries: dict[str, Optional[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def package_names(self) -> list[str]:
        """The packages alone, in install order."""
        return [p for p, _ in self.packages]

    def dry_run_lines(self) -> list[str]:
        """``libgl1: libGL.so.1 needed by cv2/cv2.abi3.so``, one per package, then what is unknown."""
        lines = [f"{p}: {reason}" for p, reason in self.packages]
        lines += [f"{s}: no Debian {self.release} package known ({who}); add one with --apt" for s, who in self.unknown]
        lines += [
            f"{p}: program not found in any Debian {self.release} package ({who}); add one with --apt"
            for p, who in self.unknown_programs
        ]
        return lines

    def check_args(self) -> list[str]:
        """Arguments for ``python -m _dockermagic_runtime.checklibs`` naming packages and programs to check."""
        args = [f"--hint={s}={p}" for s, p in sorted(self.libraries.items()) if p]
        args += [f"--library={s}={p}" if p else f"--library={s}" for s, p in sorted(self.ctypes_libraries.items())]
        for program, package in sorted(self.programs.items()):
            args.append(f"--program={program}={package}" if package else f"--program={program}")
        args += [f"--skip={path}" for path in self.skipped]
        return args


#: Qt's plugins that only a window on a display loads (``cv2.imshow``): a container has no
#: display, so their X11/Wayland libraries are not installed unless asked for with ``--apt``
_WINDOW_PLUGIN = re.compile(
    r"(^|/)plugins/(platforms|platformthemes|platforminputcontexts|xcbglintegrations|egldeviceintegrations"
    r"|wayland-[^/]+)/"
)


def window_only(scan: _Scan) -> set[str]:
    """The ELF files only Qt's window plugins load: the plugins, and the libraries bundled for them alone."""
    plugins = {relpath for relpath in scan.system if _WINDOW_PLUGIN.search(relpath)}
    if not plugins:
        return set()
    return {relpath for relpath in scan.system if set(_roots(scan, relpath)) <= plugins}


def _who(paths: Sequence[str], scan: Optional[_Scan] = None) -> str:
    """Who needs a library, best first: an extension module, naming the bundled library in between.

    ``cv2/cv2.abi3.so (through opencv_python.libs/libQt5Gui-afbd4980.so.5.15.19) and 3 more``.
    """
    choices = []
    for path in paths:
        for root in _roots(scan, path) if scan is not None else [path]:
            choices.append(((not is_extension_module(root), _module_first(root), _module_first(path)), root, path))
    _, root, path = min(choices)
    text = display_path(root) if root == path else f"{display_path(root)} (through {display_path(path)})"
    return text + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")


def plan_system_packages(
    files: Iterable[InstalledFile],
    program_sources: Iterable[str] = (),
    base_sonames: Optional[Iterable[str]] = None,
    release: str = DEFAULT_RELEASE,
    *,
    python_version: Optional[str] = None,
    base_programs: Optional[Iterable[str]] = None,
    extra_packages: Iterable[str] = (),
    machine: Optional[str] = None,
    use_host_dpkg: bool = True,
) -> SystemPlan:
    """The Debian packages the final image must install for the environment and the program to run.

    Args:
        files: installed files of the required distributions (:func:`installed_files`).
        program_sources: Python source of the exported program (and of local modules it
            imports); programs it runs are found with :func:`programs_in_source`.
        base_sonames: sonames of the final base image (``parse_ldconfig`` of its
            ``ldconfig -p``); default: :func:`python_slim_sonames` of ``python_version``.
        release: Debian codename of the base image; package names are valid there.
        python_version: ``"3.11"``; default: this interpreter's.
        base_programs: programs on the base image's PATH; default: :func:`python_slim_programs`.
        extra_packages: packages the user asked for (``--apt``); reason "added with --apt".
        machine: ELF ``e_machine`` of the image (default: this interpreter's).
        use_host_dpkg: ask this machine's dpkg for what the table lacks (only when it runs
            ``release``: :func:`host_dpkg_packages`).

    Returns:
        A :class:`SystemPlan`. Libraries the environment needs from the system that the base
        lacks, plus libraries well-known wrappers load with ctypes, plus programs the code
        or its packages run that neither the base nor the environment has, each mapped to
        one package.
    """
    files = list(files)
    python_version = python_version or "%d.%d" % sys.version_info[:2]
    table = load_table(release)
    base = set(python_slim_sonames(python_version, release) if base_sonames is None else base_sonames)
    on_path = set(python_slim_programs(python_version, release) if base_programs is None else base_programs)
    on_path |= environment_programs(files) | SHELL_BUILTINS

    scan = _scan(files, machine)
    skipped = window_only(scan)
    per_dist: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for relpath, sonames in scan.system.items():
        if sonames and relpath not in skipped:
            per_dist[scan.distribution[relpath]][relpath] = sonames
    missing = {s: _who(paths, scan) for s, paths in missing_libraries(per_dist, base).items()}
    distributions = {f.distribution for f in files}
    ctypes_sonames: list[str] = []
    for soname, dists in libraries_of_distributions(distributions).items():
        if soname not in base and soname not in missing:
            missing[soname] = f"the {', '.join(dists)} package (loaded with ctypes)"
            ctypes_sonames.append(soname)

    uses: dict[str, list[str]] = defaultdict(list)
    for source in program_sources:
        for use in programs_in_source(source):
            uses[use.program].append(f"{use.how} at line {use.line}")
    for program, dists in programs_of_distributions(distributions).items():
        uses[program].append(f"the {', '.join(dists)} package")
    wanted_programs = {p: who for p, who in uses.items() if p not in on_path}

    lib_packages = {s: package_for_soname(s, table) for s in missing}
    program_packages = {p: package_for_program(p, table) for p in wanted_programs}
    if use_host_dpkg:
        for s, p in host_dpkg_packages([s for s, p in lib_packages.items() if not p], "lib", release).items():
            lib_packages[s] = p
        for s, p in host_dpkg_packages([s for s, p in program_packages.items() if not p], "bin", release).items():
            program_packages[s] = p

    reasons: dict[str, list[str]] = defaultdict(list)
    for package in extra_packages:
        reasons[package].append("added with --apt")
    sonames_of: dict[str, list[str]] = defaultdict(list)
    for soname, lib_package in lib_packages.items():
        if lib_package:
            sonames_of[lib_package].append(soname)
    for package, names in sonames_of.items():
        names.sort()
        reasons[package].append(f"{', '.join(names)} needed by {missing[names[0]]}")
    for program, program_package in program_packages.items():
        if program_package:
            reasons[program_package].append(f"{program} run by {', '.join(wanted_programs[program][:2])}")
    notes = []
    for dist, per_file in sorted(per_dist.items()):
        variant = LIGHTER_VARIANTS.get(_normalize(dist))
        gui = {soname for needs in per_file.values() for soname in needs if soname in missing}
        if variant and gui:
            notes.append(
                f"{dist} needs {len(gui)} system libraries for its GUI; {variant} has the same API without them"
            )
    windowless = sorted(
        {s for r in skipped for s in scan.system[r] if s not in base and s not in missing}
        - ALWAYS_PRESENT
        - PROVIDED_AT_RUN_TIME
    )
    if windowless:
        plugin = min((r for r in skipped if _WINDOW_PLUGIN.search(r)), key=_module_first)
        notes.append(
            f"not installed: {', '.join(windowless)} for {display_path(plugin)} (Qt's window plugin: a container "
            "has no display); add them with --apt if the image opens windows on one"
        )
    return SystemPlan(
        notes=notes,
        skipped=sorted(display_path(r) for r in skipped),
        packages=[(p, "; ".join(r)) for p, r in sorted(reasons.items())],
        unknown=[(s, missing[s]) for s, p in sorted(lib_packages.items()) if not p],
        unknown_programs=[
            (p, ", ".join(wanted_programs[p][:2])) for p, pkg in sorted(program_packages.items()) if not pkg
        ],
        libraries={s: package_for_soname(s, table) or lib_packages.get(s) for s in _all_system_sonames(scan, skipped)}
        | lib_packages,
        programs=program_packages,
        ctypes_libraries={soname: lib_packages.get(soname) for soname in ctypes_sonames},
        release=release,
    )


def _all_system_sonames(scan: _Scan, skipped: set[str] = frozenset()) -> set[str]:
    return {s for relpath, sonames in scan.system.items() if relpath not in skipped for s in sonames}
