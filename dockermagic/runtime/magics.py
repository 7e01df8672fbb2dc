"""IPython's common magics as plain functions, for a program that runs without IPython.

The exporter translates ``%time``, ``%%time``, ``%timeit``, ``%%timeit``, ``%%capture``,
``%env``, ``%cd``, ``%pwd``, ``%who``/``%whos``, ``%%writefile``/``%%file``, ``%%bash``/``%%sh``
and ``!cmd`` / ``x = !cmd`` into calls to these functions. Each prints what the magic prints in
the kernel, in the same format, so the program's output reads like the notebook's. Standard
library only: this module runs in the image's Python.

Like IPython, the functions that take a command or a magic's arguments expand ``$name`` and
``{expression}`` from the caller's namespace first (and leave the text alone when that fails).
"""

import gc
import io
import itertools
import math
import os
import re
import shlex
import string
import subprocess
import sys
import time
import timeit as _timeit

try:
    import resource
except ImportError:  # not on Windows
    resource = None


class UsageError(Exception):
    """A magic was called in a way IPython would refuse (the cell fails, as in the kernel)."""


# ---------------------------------------------------------------------------------------------
# Variable expansion: ``$name``, ``$name.attr`` and ``{expression}``, as IPython's shell does.

# a ``$`` followed by a name or dotted name, ignored inside single quotes
_DOLLAR = re.compile(r"(.*?)\$(\$?[\w.]+)(?=([^']*'[^']*')*[^']*$)")


class _Expander(string.Formatter):
    """``{expr}`` fields are evaluated in the namespace; ``$name`` in literal text is a field too."""

    def parse(self, text):
        for literal, field, spec, conversion in super().parse(text):
            pending, last = "", 0
            for match in _DOLLAR.finditer(literal):
                before, name = match.group(1, 2)
                if name.startswith("$"):  # ``$$name`` stands for a literal ``$name``
                    pending += before + name
                else:
                    yield pending + before, name, "", None
                    pending = ""
                last = match.end()
            yield pending + literal[last:], field, spec, conversion

    def vformat(self, text, args, namespace):
        parts = []
        for literal, field, spec, conversion in self.parse(text):
            parts.append(literal)
            if field is None:
                continue
            if spec:  # no format specs: ``{x[1:2]}`` is a slice, as in IPython
                field = f"{field}:{spec}"
            value = eval(field, namespace)  # the notebook's own expression, as IPython does
            parts.append(self.format_field(self.convert_field(value, conversion), ""))
        return "".join(parts)


def _caller_namespace(depth):
    frame = sys._getframe(depth + 1)
    namespace = dict(frame.f_globals)
    namespace.update(frame.f_locals)
    return namespace


def expand(text, namespace):
    """``text`` with ``$name`` and ``{expr}`` replaced from ``namespace``; unchanged when any fails."""
    try:
        return _Expander().vformat(text, (), namespace)
    except Exception:
        return text


# ---------------------------------------------------------------------------------------------
# Time formats, as IPython prints them.

#: the micro sign of the kernel's IPython (8.x prints U+00B5, 9.x prints U+03BC)
MICRO = "\u00b5"


def _encodable(text):
    encoding = getattr(sys.stdout, "encoding", None)
    if not encoding:
        return False
    try:
        text.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def format_time(seconds, precision=3):
    """A duration the way ``%time`` and ``%timeit`` print it: ``1.2 s``, ``3.4 ms``, ``56 µs``, ``1min 3s``."""
    if seconds >= 60.0:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(left / length)
            if value > 0:
                left = left % length
                parts.append(f"{value}{suffix}")
            if left < 1:
                break
        return " ".join(parts)
    units = ["s", "ms", MICRO + "s" if _encodable(MICRO) else "us", "ns"]
    order = min(-int(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0.0 else 3
    return "%.*g %s" % (precision, seconds * (1, 1e3, 1e6, 1e9)[order], units[order])


def _cpu_times():
    if resource is not None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime, usage.ru_stime
    return time.process_time(), 0.0


class Timed:
    """``with Timed(): ...`` times its block and prints what ``%time`` prints.

    ``value`` holds the value of the timed expression (``%time expr``, or the last expression
    of a ``%%time`` cell) for the program to show or assign after the timing lines. When the
    block raises, the times are printed and the exception goes on (IPython 9 does the same).
    """

    def __init__(self):
        self.value = None

    def __enter__(self):
        self._wall = time.time()
        self._cpu = _cpu_times()
        return self

    def __exit__(self, kind, error, trace):
        wall = time.time() - self._wall
        user, system = (end - start for end, start in zip(_cpu_times(), self._cpu))
        if sys.platform == "win32":
            print(f"CPU times: total: {format_time(user + system)}")
        else:
            print(
                f"CPU times: user {format_time(user)}, sys: {format_time(system)}, total: {format_time(user + system)}"
            )
        print(f"Wall time: {format_time(wall)}")
        return False


# ---------------------------------------------------------------------------------------------
# %timeit


class TimeitResult:
    """What ``%timeit -o`` returns: ``loops``, ``repeat``, ``best``, ``worst``, ``all_runs``,
    ``timings``, ``average``, ``stdev``, printed as IPython prints it."""

    def __init__(self, loops, repeat, best, worst, all_runs, compile_time, precision):
        self.loops = loops
        self.repeat = repeat
        self.best = best
        self.worst = worst
        self.all_runs = all_runs
        self.compile_time = compile_time
        self._precision = precision
        self.timings = [run / loops for run in all_runs]

    @property
    def average(self):
        return math.fsum(self.timings) / len(self.timings)

    @property
    def stdev(self):
        mean = self.average
        return (math.fsum((t - mean) ** 2 for t in self.timings) / len(self.timings)) ** 0.5

    def __str__(self):
        pm = "\u00b1" if _encodable("\u00b1") else "+-"
        runs = f"{self.repeat} run{'' if self.repeat == 1 else 's'}"
        loops = f"{self.loops:,} loop{'' if self.loops == 1 else 's'}"
        mean = format_time(self.average, self._precision)
        std = format_time(self.stdev, self._precision)
        return f"{mean} {pm} {std} per loop (mean {pm} std. dev. of {runs}, {loops} each)"

    def __repr__(self):
        return f"<TimeitResult : {self}>"


def _cpu_clock():
    user, system = _cpu_times()
    return user + system


def timeit(inner, number=0, repeat=7, precision=3, quiet=False, timer=None, result=False, save=None):
    """Run ``%timeit``'s measurement over ``inner(iterator, timer)`` (the statement in a loop).

    Args:
        inner: the exported statement wrapped as IPython wraps it: it runs the setup, then the
            statement once per item of the iterator, and returns the elapsed time.
        number: loops per run (``-n``); 0 picks it as IPython does (0.2 s or more per run).
        repeat: runs (``-r``). precision: digits printed (``-p``). quiet: print nothing (``-q``).
        timer: ``"wall"`` (``-t``), ``"cpu"`` (``-c``) or None for the default clock.
        result: return the :class:`TimeitResult` (``-o``); else None.
        save: a name to bind the result to in the caller's globals (``-v NAME``).
    """
    clock = {"wall": time.time, "cpu": _cpu_clock}.get(timer, _timeit.default_timer)

    def run(loops):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return inner(itertools.repeat(None, loops), clock)
        finally:
            if enabled:
                gc.enable()

    if number == 0:
        for power in range(10):
            number = 10**power
            if run(number) >= 0.2:
                break
    runs = [run(number) for _ in range(repeat)]
    best, worst = min(runs) / number, max(runs) / number
    measured = TimeitResult(number, repeat, best, worst, runs, 0.0, precision)
    if not quiet:
        if worst > 4 * best and best > 0 and worst > 1e-6:
            print(
                "The slowest run took %0.2f times longer than the fastest. "
                "This could mean that an intermediate result is being cached." % (worst / best)
            )
        print(measured)
    if save:
        sys._getframe(1).f_globals[save] = measured
    return measured if result else None


# ---------------------------------------------------------------------------------------------
# Shell: ``!cmd``, ``x = !cmd``, ``%%bash``


class SList(list):
    """The list of lines ``x = !cmd`` gives, with IPython's shortcuts: ``.l`` (the list),
    ``.n`` (lines joined by newlines), ``.s`` (joined by spaces), ``.p`` (as paths),
    ``.grep(pattern)`` and ``.fields(*indexes)``."""

    @property
    def l(self):  # noqa: E743 - IPython's name
        return self

    @property
    def n(self):
        return "\n".join(self)

    @property
    def s(self):
        return " ".join(self)

    @property
    def p(self):
        import pathlib

        return [pathlib.Path(line) for line in self if os.path.exists(line)]

    def grep(self, pattern, prune=False, field=None):
        """Lines matching a regular expression (case-insensitive) or a predicate; ``prune`` drops them instead."""
        if isinstance(pattern, str):

            def test(text):
                return re.search(pattern, text, re.IGNORECASE)

        else:
            test = pattern

        def target(line):
            if field is None:
                return line
            words = line.split()
            return words[field] if -len(words) <= field < len(words) else ""

        return SList(line for line in self if bool(test(target(line))) != prune)

    def fields(self, *indexes):
        """The whitespace-separated fields ``indexes`` of each line, joined by spaces (all fields: lists)."""
        if not indexes:
            return [line.split() for line in self]
        picked = SList()
        for line in self:
            words = line.split()
            chosen = [words[i] for i in indexes if -len(words) <= i < len(words)]
            if chosen:
                picked.append(" ".join(chosen))
        return picked


def _shell_executable():
    return os.environ.get("SHELL") if os.name == "posix" and os.environ.get("SHELL") else None


def _capturing():
    return bool(_CAPTURES)


def system(command, _depth=0):
    """``!command``: run it with the shell, its output going where the program's goes.

    The exit status is stored as ``_exit_code`` in the caller's globals, as IPython does; a
    failing command does not raise.
    """
    namespace = _caller_namespace(_depth + 1)
    command = expand(command, namespace)
    sys.stdout.flush()
    sys.stderr.flush()
    if _capturing():  # inside %%capture: the output goes through Python's streams
        done = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sys.stdout.write(done.stdout.decode(errors="replace"))
        code = done.returncode
    else:
        code = subprocess.call(command, shell=True)
    sys._getframe(_depth + 1).f_globals["_exit_code"] = code
    return None


def getoutput(command, _depth=0):
    """``x = !command``: its output (standard error included) as an :class:`SList` of lines."""
    command = expand(command, _caller_namespace(_depth + 1))
    sys.stdout.flush()
    done = subprocess.run(
        command, shell=True, executable=_shell_executable(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return SList(done.stdout.decode(errors="replace").splitlines())


def script(program, body, line=""):
    """``%%bash`` / ``%%sh``: run the cell body with that shell; a failing script raises, as in IPython."""
    del line  # options were refused at export time
    sys.stdout.flush()
    sys.stderr.flush()
    if _capturing():
        done = subprocess.run([program], input=body.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sys.stdout.write(done.stdout.decode(errors="replace"))
        sys.stderr.write(done.stderr.decode(errors="replace"))
        code = done.returncode
    else:
        code = subprocess.run([program], input=body.encode()).returncode
    if code != 0:
        raise subprocess.CalledProcessError(code or -9, body)


# ---------------------------------------------------------------------------------------------
# %env, %cd, %pwd, %who, %whos

_SECRET_WORDS = ("key", "token", "secret")


def env(arguments="", _depth=0):
    """``%env`` (the environment, secrets hidden), ``%env NAME`` (its value), ``%env NAME=value``."""
    arguments = expand(arguments, _caller_namespace(_depth + 1))
    if arguments.strip():
        separator = "=" if "=" in arguments else " "
        if len(arguments.split(separator)) == 1:
            name = arguments.strip()
            if name not in os.environ:
                raise UsageError(f"Environment does not have key: {name}")
            return os.environ[name]
        return set_env(arguments, _expanded=True)
    shown = dict(os.environ)
    for name in shown:
        if any(word in name.lower() for word in _SECRET_WORDS):
            shown[name] = "<hidden>"
    return shown


def set_env(arguments, _depth=0, _expanded=False):
    """``%set_env NAME value`` / ``%set_env NAME=value``."""
    if not _expanded:
        arguments = expand(arguments, _caller_namespace(_depth + 1))
    separator = "=" if "=" in arguments else " "
    parts = arguments.split(separator, 1)
    if not arguments.strip() or len(parts) < 2:
        raise UsageError("usage is 'set_env var=val'")
    name, value = parts[0].strip(), parts[1].strip()
    if re.search(r"\s", name):
        raise UsageError(f"refusing to set env var with whitespace: '{value}'")
    os.environ[name] = value
    print(f"env: {name}={value}")


#: the folders ``%cd`` visited, as IPython's ``_dh``
_dirs = []


def cd(arguments="", _depth=0):
    """``%cd [-q] [DIR | - | -N]``: change folder and print the new one (no bookmarks)."""
    arguments = expand(arguments, _caller_namespace(_depth + 1)).strip()
    if not _dirs:
        _dirs.append(os.getcwd())
    quiet = False
    words = shlex.split(arguments) if arguments else []
    while words and words[0] in ("-q", "-b"):
        quiet = quiet or words.pop(0) == "-q"
    target = " ".join(words)
    numbered = re.fullmatch(r"-(\d+)", target)
    if numbered:
        index = int(numbered.group(1))
        if index >= len(_dirs):
            print("The requested directory does not exist in history.")
            return
        target = _dirs[index]
    elif target == "-":
        if len(_dirs) < 2:
            raise UsageError("%cd -: No previous directory to change to.")
        target = _dirs[-2]
    before = os.getcwd()
    try:
        os.chdir(os.path.expanduser(target) if target else os.path.expanduser("~"))
    except OSError as exc:
        print(exc)
    else:
        if os.getcwd() != before:
            _dirs.append(os.getcwd())
    if not quiet:
        print(_dirs[-1])


def pwd():
    """``%pwd``: the current folder."""
    return os.getcwd()


#: names the runtime put into the program's globals (``display``...), hidden from ``%who``
HIDDEN = {}


def _visible_names(namespace, types):
    missing = object()
    names = [
        name for name, value in namespace.items() if not name.startswith("_") and value is not HIDDEN.get(name, missing)
    ]
    if types:
        names = [name for name in names if type(namespace[name]).__name__ in types]
    return sorted(names)


def who_ls(arguments="", _depth=0):
    """``%who_ls [TYPE...]``: the sorted names of the program's variables."""
    namespace = sys._getframe(_depth + 1).f_globals
    return _visible_names(namespace, set(expand(arguments, _caller_namespace(_depth + 1)).split()))


def who(arguments="", _depth=0):
    """``%who [TYPE...]``: print the variables' names, nine to a line, as IPython does."""
    names = who_ls(arguments, _depth + 1)
    if not names:
        print("No variables match your requested type." if arguments.strip() else "Interactive namespace is empty.")
        return
    for count, name in enumerate(names, start=1):
        print(name + "\t", end=" ")
        if count % 9 == 0:
            print()
    print()


def whos(arguments="", _depth=0):
    """``%whos [TYPE...]``: a table of the variables with their type and a short summary."""
    names = who_ls(arguments, _depth + 1)
    if not names:
        print("No variables match your requested type." if arguments.strip() else "Interactive namespace is empty.")
        return
    namespace = sys._getframe(_depth + 1).f_globals
    values = [namespace[name] for name in names]
    types = [type(value).__name__ for value in values]
    array_type = None
    if "numpy" in sys.modules:
        array_type = getattr(sys.modules["numpy"], "ndarray", None)
    name_width = max(max(map(len, names)), len("Variable")) + 3
    type_width = max(max(map(len, types)), len("Type")) + 3
    print("Variable".ljust(name_width) + "Type".ljust(type_width) + " Data/Info")
    print("-" * (name_width + type_width + len("Data/Info") + 1))
    for name, value, kind in zip(names, values, types):
        print(f"{name:<{name_width}}{kind:<{type_width}}", end=" ")
        if kind in ("dict", "list", "tuple"):
            print(f"n={len(value)}")
        elif array_type is not None and isinstance(value, array_type):
            shape = str(value.shape).replace(",", "").replace(" ", "x")[1:-1]
            size = value.size * value.itemsize
            text = f"{shape}: {value.size} elems, type `{value.dtype}`, {size} bytes"
            if size < 100000:
                print(text)
            elif size < 1048576:
                print(text, f"({size / 1024} kb)")
            else:
                print(text, f"({size / 1048576} Mb)")
        else:
            try:
                text = str(value)
            except Exception:
                text = f"<object with id {id(value)} (str() failed)>"
            text = text.replace("\n", "\\n")
            print(text if len(text) < 50 else text[:25] + "<...>" + text[-25:])


# ---------------------------------------------------------------------------------------------
# %%writefile, %%capture


def writefile(line, body, _depth=0):
    """``%%writefile [-a] FILE``: write (or append) the cell body, saying what it did."""
    line = expand(line, _caller_namespace(_depth + 1))
    words = line.split()
    append = any(word in ("-a", "--append") for word in words)
    name = " ".join(word for word in words if word not in ("-a", "--append"))
    if re.match(r"^('.*'|\".*\")$", name):
        name = name[1:-1]
    name = os.path.expanduser(name)
    if os.path.exists(name):
        print(f"Appending to {name}" if append else f"Overwriting {name}")
    else:
        print(f"Writing {name}")
    with open(name, "a" if append else "w", encoding="utf-8") as handle:
        handle.write(body)


#: the ``%%capture`` blocks being run, innermost last
_CAPTURES = []


class CapturedIO:
    """What ``%%capture NAME`` stores: ``stdout``, ``stderr``, ``outputs`` (the values displayed
    and figures shown inside), ``show()`` (or calling it) prints and shows them again."""

    def __init__(self, stdout=True, stderr=True, display=True):
        self._streams = {"stdout": io.StringIO() if stdout else None, "stderr": io.StringIO() if stderr else None}
        self.captures_display = display
        self.outputs = []

    @property
    def stdout(self):
        stream = self._streams["stdout"]
        return stream.getvalue() if stream else ""

    @property
    def stderr(self):
        stream = self._streams["stderr"]
        return stream.getvalue() if stream else ""

    def __str__(self):
        return self.stdout

    def __enter__(self):
        self._saved = sys.stdout, sys.stderr
        sys.stdout.flush()
        sys.stderr.flush()
        if self._streams["stdout"] is not None:
            sys.stdout = self._streams["stdout"]
        if self._streams["stderr"] is not None:
            sys.stderr = self._streams["stderr"]
        _CAPTURES.append(self)
        return self

    def __exit__(self, kind, error, trace):
        try:
            if self.captures_display:
                # the kernel ends the captured cell by showing its open figures: inside the capture
                from . import _open_figures

                self.outputs.extend(_open_figures(close=True))
        finally:
            _CAPTURES.remove(self)
            sys.stdout, sys.stderr = self._saved
        return False

    def show(self):
        """Print the captured output and show the captured values and figures."""
        from . import display

        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        for value in self.outputs:
            display(value)

    __call__ = show


def capture(stdout=True, stderr=True, display=True):
    """``%%capture [--no-stdout] [--no-stderr] [--no-display] [NAME]``, as a ``with`` block."""
    return CapturedIO(stdout, stderr, display)


def capturing_display():
    """The innermost ``%%capture`` that takes displayed values, or None."""
    for captured in reversed(_CAPTURES):
        if captured.captures_display:
            return captured
    return None
