"""Exceptions raised by dockermagic.

Every error a user can cause or fix is a :class:`DockermagicError`; its ``str()`` is one
line that says what went wrong and what to do. The magics show that line as a
``UsageError`` (no traceback); the Python API raises the exception itself.
"""


class DockermagicError(Exception):
    """Base class of every dockermagic error."""


class EngineUnavailable(DockermagicError):
    """No Docker engine answers at the configured address."""


class InvalidTag(DockermagicError, ValueError):
    """An image tag that Docker would refuse."""


class NotebookError(DockermagicError):
    """The notebook or its cells cannot be read or turned into a program."""


class RequirementsError(DockermagicError):
    """The notebook needs something that cannot be installed in an image.

    Attributes:
        problems (list[str]): one line per package or cell at fault.
    """

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class SecretFound(DockermagicError):
    """Something that looks like a credential would have entered the image.

    Attributes:
        findings (list[tuple[str, int, str]]): ``(file, line, kind)`` of each finding.
    """

    def __init__(self, message, findings=()):
        super().__init__(message)
        self.findings = list(findings)


class BaseImageUnavailable(DockermagicError):
    """The base image is neither local nor pullable."""


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


class PushError(DockermagicError):
    """A registry refused a push, or could not be reached."""


class ImageNotFound(DockermagicError):
    """An image that is neither local nor pullable."""


class RunError(DockermagicError):
    """A container could not be started, or its program failed.

    Attributes:
        run: the :class:`dockermagic.results.Run` of a program that ran and failed, else None.
    """

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run


class PortInUse(RunError):
    """A host port asked for with ``-p`` is taken."""


class GPUUnavailable(RunError):
    """GPUs were requested from an engine without a GPU runtime."""
