"""Progress of a build or a run as plain state, fed by the engine's stream.

:class:`BuildProgress` turns the classic builder's JSON stream into per-step states
(pending, cached, running, done, failed) with times and log lines; :class:`RunProgress`
follows a container. Both are plain data with ``to_dict()``; how they are shown (HTML in
Jupyter, text in a terminal, the JupyterLab panel) is up to the caller.
"""

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable, Optional

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_RUNNING = re.compile(r"^ ---> Running in ([0-9a-f]+)$")
_EXIT = re.compile(r"returned a non-zero code: (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOG_TAIL = 30


def dockerfile_steps(text):
    """The instructions of a Dockerfile, one string per step, continuation lines joined."""
    steps, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        steps.append(re.sub(r"\s+", " ", current).strip())
        current = ""
    return steps


@dataclass
class Step:
    """One Dockerfile step of a build."""

    n: int
    instruction: str
    state: str = "pending"
    seconds: Optional[float] = None
    log: list[str] = field(default_factory=list)
    layer: Optional[str] = None
    started: Optional[float] = None

    def to_dict(self):
        return {
            "n": self.n,
            "instruction": self.instruction,
            "state": self.state,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "log": self.log[-LOG_TAIL:],
        }


@contextlib.contextmanager
def ticking(notify: Callable[[], None], interval: float = 1.0) -> Iterator[None]:
    """Call ``notify()`` from a background thread at least every ``interval`` seconds while the
    block runs, so a live view's timer moves during a quiet step."""
    stop = threading.Event()

    def tick():
        while not stop.wait(interval):
            try:
                notify()
            except Exception:  # a view that fails must not break the build
                pass

    thread = threading.Thread(target=tick, name="dockermagic-tick", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 1)


#: what a build does, in order, before and around the engine's steps
PHASES = ("capture", "requirements", "context", "pull", "send", "build", "done", "failed", "interrupted")


@dataclass
class BuildProgress:
    """The state of one build; ``feed()`` it the engine's decoded stream chunks.

    ``phase`` says what the build is doing: capture (reading the notebook), requirements
    (planning), context (writing the build context), pull (the base image), send (the context
    goes to the engine), build (the steps), then done, failed or interrupted.
    """

    tag: str
    steps: list[Step] = field(default_factory=list)
    phase: str = "capture"
    phases: list[dict] = field(default_factory=list)
    message: Optional[str] = None
    image_id: Optional[str] = None
    size: Optional[int] = None
    pull: dict = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    new_layers: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    error: Optional[dict] = None
    started: float = field(default_factory=time.monotonic)
    finished: Optional[float] = None
    _partial: str = ""

    @classmethod
    def for_dockerfile(cls, tag, dockerfile):
        state = cls(tag=tag)
        state.set_dockerfile(dockerfile)
        return state

    def set_dockerfile(self, dockerfile: str) -> None:
        """Know the steps ahead (all pending) from the Dockerfile's text."""
        self.steps = [Step(i + 1, s) for i, s in enumerate(dockerfile_steps(dockerfile))]

    def enter(self, phase: str) -> None:
        """Start a phase (see :data:`PHASES`); the one before it ends now."""
        if self.phase == phase and self.phases:
            return
        now = round(time.monotonic() - self.started, 2)
        if self.phases and self.phases[-1]["seconds"] is None:
            self.phases[-1]["seconds"] = round(now - self.phases[-1]["at"], 2)
        self.phase = phase
        if phase not in ("done", "failed", "interrupted"):
            self.phases.append({"phase": phase, "at": now, "seconds": None})

    @property
    def engine_seconds(self) -> Optional[float]:
        """How long the engine's part took: from sending the context to the end of the build."""
        sent = next((p for p in self.phases if p["phase"] == "send"), None)
        if sent is None:
            return None
        return round((self.finished or time.monotonic()) - self.started - sent["at"], 2)

    @property
    def current_n(self) -> Optional[int]:
        """The number of the running step (None before the first)."""
        step = self.current
        return step.n if step is not None else None

    @property
    def layers(self) -> list[str]:
        """Every layer id this build's stream named, except the base image's."""
        named = [s.layer for s in self.steps if s.layer and not s.instruction.upper().startswith("FROM ")]
        return list(dict.fromkeys(named + self.new_layers))

    @property
    def elapsed(self):
        return (self.finished or time.monotonic()) - self.started

    @property
    def current(self):
        return next((s for s in self.steps if s.state == "running"), None)

    @property
    def reached_n(self) -> Optional[int]:
        """The step the build had reached: the running one, else the first not started yet
        (between two steps, or after a cached one); None before the steps are known."""
        step = self.current or next((s for s in self.steps if s.state == "pending"), None)
        if step is not None:
            return step.n
        return len(self.steps) or None

    @property
    def cached_steps(self):
        return [s.n for s in self.steps if s.state == "cached"]

    def _finish_current(self, state="done"):
        step = self.current
        if step is not None:
            step.state = state
            step.seconds = time.monotonic() - (step.started or self.started)

    def _step(self, n, total, instruction):
        self._finish_current()
        while len(self.steps) < total:
            self.steps.append(Step(len(self.steps) + 1, ""))
        step = self.steps[n - 1]
        step.instruction = instruction.strip() or step.instruction
        step.state = "running"
        step.started = time.monotonic()

    def _line(self, line):
        line = _ANSI.sub("", line)
        self.log.append(line)
        match = _STEP.match(line)
        if match:
            self._step(int(match.group(1)), int(match.group(2)), match.group(3))
            return
        step = self.current
        if line == " ---> Using cache":
            if step is not None:
                step.state = "cached"
                step.seconds = time.monotonic() - (step.started or self.started)
            return
        match = _LAYER.match(line)
        if match:
            target = step or next((s for s in reversed(self.steps) if s.state in ("cached", "done")), None)
            if target is not None:
                target.layer = match.group(1)
                if target.state != "cached" and not target.instruction.upper().startswith("FROM "):
                    self.new_layers.append(match.group(1))
            return
        match = _RUNNING.match(line)
        if match:
            self.containers.append(match.group(1))
            return
        if line.startswith("Removing intermediate container"):
            return
        if line.startswith("Successfully built") or line.startswith("Successfully tagged"):
            self._finish_current()
            return
        if step is not None:
            step.log.append(line)

    def feed(self, chunk):
        """Take one decoded chunk of ``APIClient.build(decode=True)``."""
        if self.phase not in ("failed", "done", "interrupted", "build"):
            self.enter("build")
        if "stream" in chunk:
            text = self._partial + chunk["stream"]
            lines = text.split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._line(line.rstrip("\r"))
        elif "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
            self.image_id = chunk["aux"]["ID"]
        elif "status" in chunk:
            self.feed_pull(chunk)
        if "errorDetail" in chunk or "error" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = detail.get("message") or chunk.get("error") or "build failed"
            code = detail.get("code")
            match = _EXIT.search(message)
            self.error = {"message": message.strip(), "exit_code": int(match.group(1)) if match else code}
            if self._partial:
                self._line(self._partial)
                self._partial = ""
            self._finish_current("failed")
            self.enter("failed")
            self.message = message.strip()

    def feed_pull(self, chunk):
        """Take one decoded chunk of a pull (per-layer progress)."""
        layer = chunk.get("id")
        if not layer or layer.startswith(("latest", "3.")) and ":" in chunk.get("status", ""):
            self.message = chunk.get("status")
            return
        detail = chunk.get("progressDetail") or {}
        self.pull[layer] = {
            "status": chunk.get("status", ""),
            "current": detail.get("current"),
            "total": detail.get("total"),
        }

    @property
    def failed_step(self):
        return next((s for s in self.steps if s.state == "failed"), None)

    def done(self, image_id=None, size=None):
        self._finish_current()
        self.image_id = image_id or self.image_id
        self.size = size
        self.enter("done")
        self.finished = time.monotonic()

    def fail(self, message):
        self._finish_current("failed")
        self.enter("failed")
        self.message = message
        self.finished = time.monotonic()

    def interrupt(self):
        """The user interrupted the build: the running step shows as interrupted."""
        self._finish_current("interrupted")
        self.enter("interrupted")
        self.message = "interrupted"
        self.finished = time.monotonic()

    def to_dict(self):
        return {
            "kind": "build",
            "phase": self.phase,
            "phases": [dict(p) for p in self.phases],
            "engine_seconds": self.engine_seconds,
            "tag": self.tag,
            "steps": [s.to_dict() for s in self.steps],
            "pull": dict(self.pull),
            "message": self.message,
            "image_id": self.image_id,
            "size": self.size,
            "changes": list(self.changes),
            "elapsed": round(self.elapsed, 2),
        }


@dataclass
class RunProgress:
    """The state of one container run; ``feed()`` it log text.

    ``map_line`` turns each complete line into what the user reads (a traceback frame of
    program.py becomes the notebook cell and line).
    """

    name: str
    image: str = ""
    state: str = "starting"
    logs: list[str] = field(default_factory=list)
    exit_code: Optional[int] = None
    outputs: Optional[str] = None
    figures: list[str] = field(default_factory=list)
    message: Optional[str] = None
    started: float = field(default_factory=time.monotonic)
    finished: Optional[float] = None
    map_line: Callable[[str], str] = field(default=lambda line: line, repr=False)
    first_output: Optional[float] = None
    _partial: str = ""

    @property
    def elapsed(self):
        return (self.finished or time.monotonic()) - self.started

    def feed(self, text):
        self.state = "running"
        if self.first_output is None:
            self.first_output = time.monotonic()
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self.logs.extend(self.map_line(line.rstrip("\r")) for line in lines)

    def flush(self):
        if self._partial:
            self.logs.append(self.map_line(self._partial))
            self._partial = ""

    def exited(self, code, outputs=None, figures=()):
        self.flush()
        self.exit_code = code
        self.state = "exited" if code == 0 else "failed"
        self.outputs = outputs
        self.figures = [str(f) for f in figures]
        self.finished = time.monotonic()

    def interrupted(self, outputs=None, files=()):
        """The user interrupted the run; the container was stopped."""
        self.flush()
        self.state = "interrupted"
        self.outputs = outputs
        self.figures = [str(f) for f in files if str(f).endswith(".png")]
        self.finished = time.monotonic()

    def to_dict(self):
        return {
            "kind": "run",
            "state": self.state,
            "name": self.name,
            "image": self.image,
            "logs": self.logs[-LOG_TAIL:],
            "exit_code": self.exit_code,
            "outputs": self.outputs,
            "figures": list(self.figures),
            "message": self.message,
            "elapsed": round(self.elapsed, 2),
        }


@dataclass
class TransferProgress:
    """Per-layer progress of a push or a pull."""

    ref: str
    kind: str = "push"
    layers: dict = field(default_factory=dict)
    status: str = ""
    done: bool = False
    started: float = field(default_factory=time.monotonic)

    def feed(self, chunk):
        layer = chunk.get("id")
        detail = chunk.get("progressDetail") or {}
        if layer and (
            detail
            or chunk.get("status", "").split(" ")[0]
            in (
                "Pushed",
                "Pushing",
                "Preparing",
                "Waiting",
                "Layer",
                "Mounted",
                "Pulling",
                "Downloading",
                "Extracting",
                "Pull",
                "Download",
                "Verifying",
                "Already",
            )
        ):
            self.layers[layer] = {
                "status": chunk.get("status", ""),
                "current": detail.get("current"),
                "total": detail.get("total"),
            }
        elif chunk.get("status"):
            self.status = chunk["status"]

    def to_dict(self):
        return {
            "kind": self.kind,
            "ref": self.ref,
            "layers": dict(self.layers),
            "status": self.status,
            "done": self.done,
            "elapsed": round(time.monotonic() - self.started, 2),
        }
