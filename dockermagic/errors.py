"""Exceptions raised by dockermagic.

Every error a user can cause or fix is a :class:`DockermagicError`; its ``str()`` is one
line that says what went wrong and what to do. The magics show that line as a
``UsageError`` (no traceback); the Python API raises the exception itself.

Each class has a stable ``kind`` (``no-engine``, ``usage``, ``requirements``, ``build-failed``,
``run-failed``, ``interrupted``, ...): the JupyterLab front end maps kinds, never class names,
and :meth:`DockermagicError.to_dict` is the error payload it receives.
"""

from __future__ import annotations

from typing import Any


class DockermagicError(Exception):
    """Base class of every dockermagic error."""

    #: what kind of failure this is, for the JupyterLab front end (stable across renames)
    kind = "usage"

    def details(self) -> list[str]:
        """Lines that explain the one-line message (a failing step's log, the problems found)."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data: ``kind``, ``type``, the one-line ``message`` and what explains it."""
        text = str(self).strip()
        return {
            "kind": self.kind,
            "type": type(self).__name__,
            "message": text.splitlines()[0] if text else type(self).__name__,
            "step": getattr(self, "step", None),
            "exit_code": getattr(self, "exit_code", None),
            "hint": getattr(self, "hint", None),
            "details": [str(line) for line in self.details()],
        }


class EngineUnavailable(DockermagicError):
    """No Docker engine answers at the configured address."""

    kind = "no-engine"


class InvalidTag(DockermagicError, ValueError):
    """An image tag that Docker would refuse."""


class NotebookError(DockermagicError):
    """The notebook or its cells cannot be read or turned into a program."""

    kind = "notebook"


class Interrupted(DockermagicError):
    """The user interrupted a build or a run; everything it had started was removed.

    Attributes:
        run: for an interrupted run, the :class:`dockermagic.results.Run` with the outputs so far.
    """

    kind = "interrupted"

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run


class RequirementsError(DockermagicError):
    """The notebook needs something that cannot be installed in an image.

    Attributes:
        problems (list[str]): one line per package or cell at fault.
    """

    kind = "requirements"

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)

    def details(self):
        return list(self.problems)


class SecretFound(DockermagicError):
    """Something that looks like a credential would have entered the image.

    Attributes:
        findings (list[tuple[str, int, str]]): ``(file, line, kind)`` of each finding.
    """

    kind = "secret"

    def __init__(self, message, findings=()):
        super().__init__(message)
        self.findings = list(findings)

    def details(self):
        return [f"{name} line {line}: {kind}" for name, line, kind in self.findings]


class BaseImageUnavailable(DockermagicError):
    """The base image is neither local nor pullable."""

    kind = "no-image"


class BuildError(DockermagicError):
    """A Dockerfile step failed; nothing was tagged.

    Attributes:
        reason (str): the engine's message.
        step (str): the failing Dockerfile instruction, e.g. ``RUN pip install ...``.
        exit_code (int | None): the exit code of the failing command, when there is one.
        build_log (list[str]): every log line of the build.
        log_tail (list[str]): the last lines of the failing step's output.
        hint (str | None): a likely cause, when one is recognised.
    """

    kind = "build-failed"

    def __init__(self, reason, step=None, exit_code=None, build_log=(), log_tail=(), hint=None):
        self.reason = reason
        self.step = step
        self.exit_code = exit_code
        self.build_log = list(build_log)
        self.log_tail = list(log_tail)
        self.hint = hint
        super().__init__(self._one_line())

    def _one_line(self):
        where = f"step '{self.step}'" if self.step else "the build"
        code = f" exited with code {self.exit_code}" if self.exit_code is not None else " failed"
        last = next((line for line in reversed(self.log_tail) if line.strip()), "")
        text = f"{where}{code}" + (f": {last.strip()}" if last else f": {self.reason}")
        return text + (f" ({self.hint})" if self.hint else "")

    def details(self):
        return list(self.log_tail)


class PushError(DockermagicError):
    """A registry refused a push, or could not be reached."""

    kind = "push-failed"


class ImageNotFound(DockermagicError):
    """An image that is neither local nor pullable."""

    kind = "no-image"


class RunError(DockermagicError):
    """A container could not be started, or its program failed.

    Attributes:
        run: the :class:`dockermagic.results.Run` of a program that ran and failed, else None.
    """

    kind = "run-failed"

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run

    def details(self):
        logs = getattr(self.run, "logs", "") or ""
        return logs.splitlines()[-30:]


class SweepError(RunError):
    """Some points of a sweep still failed after their retries.

    Attributes:
        sweep: the :class:`dockermagic.results.Sweep` with every point, finished or not.
    """

    kind = "sweep-failed"

    def __init__(self, message, sweep=None):
        super().__init__(message)
        self.sweep = sweep


class PortInUse(RunError):
    """A host port asked for with ``-p`` is taken."""

    kind = "usage"


class GPUUnavailable(RunError):
    """GPUs were requested from an engine without a GPU runtime."""

    kind = "usage"
