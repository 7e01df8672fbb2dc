"""Run backends: where a container of the image runs.

A backend starts one task from a :class:`TaskSpec`, follows its output, copies back what it
produced and removes it. :mod:`dockermagic.running` (one run) and sweeps drive any backend
the same way:

- :mod:`.local`: one Docker engine, local or remote (``DOCKER_HOST``): a container per task.

To add one (a cluster scheduler, say), implement :class:`RunBackend` in a module here and
choose it in :func:`dockermagic.running.backend_for`; planning and building do not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from .. import engine
from ..request import PortBinding


@dataclass(frozen=True)
class TaskSpec:
    """One container to run.

    Attributes:
        image: the image reference (with its tag).
        name: the container's (or task's) name.
        command: a command instead of the image's own.
        env: environment variables.
        ports: published ports.
        volumes: ``{host path: {"bind": path, "mode": "rw"|"ro"}}``; only ever when asked.
        gpus: ``"all"`` or a count.
        labels: labels for the container.
        cpus: CPUs the task may use (None: no limit).
        memory: bytes of memory the task may use (None: no limit).
    """

    image: str
    name: str
    command: Optional[tuple[str, ...]] = None
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[PortBinding, ...] = ()
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    gpus: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    cpus: Optional[float] = None
    memory: Optional[int] = None


@dataclass
class Exit:
    """How a task ended: its exit code, whether ``--timeout`` stopped it, its whole log and
    the stderr part of it (the engine may interleave a short program's two streams)."""

    code: int
    timed_out: bool
    logs: str
    errors: str


class EngineImages:
    """The images of the engine a backend talks to (``self.client``): the local engine, or a
    Swarm's manager."""

    client: Any

    def has_image(self, ref: str) -> bool:
        return engine.local_image(self.client, ref) is not None

    def labels(self, ref: str) -> dict:
        image = engine.local_image(self.client, ref)
        return dict(image.labels or {}) if image is not None else {}

    def pull(self, ref: str, on_chunk: Callable[[dict], None]) -> None:
        engine.pull(self.client, ref, on_chunk)


class RunBackend(Protocol):
    """What :mod:`dockermagic.running` needs from a place that runs containers."""

    name: str

    def capacity(self) -> int: ...

    def has_image(self, ref: str) -> bool: ...

    def labels(self, ref: str) -> dict: ...

    def pull(self, ref: str, on_chunk: Callable[[dict], None]) -> None: ...

    def start(self, spec: TaskSpec) -> Any: ...

    def follow(self, task: Any, on_text: Callable[[str], None], timeout: Optional[float] = None) -> Exit: ...

    def stop(self, task: Any) -> None: ...

    def collect(self, task: Any, dest: Path) -> list[Path]: ...

    def remove(self, task: Any) -> None: ...

    def node(self, task: Any) -> str: ...

    def shared_cache(self, name: str, labels: dict) -> Optional[str]:
        """A volume the tasks of a sweep share (their bytecode); None where the backend has none."""
        ...

    def drop_cache(self, name: str) -> None: ...
