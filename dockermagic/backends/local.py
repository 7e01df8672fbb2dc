"""The local backend: containers on one Docker engine (the local one, or a remote one named by
``DOCKER_HOST``). Outputs come back through the Engine API's archive download."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from .. import engine
from ..layout import APP
from . import EngineImages, Exit, TaskSpec


class LocalBackend(EngineImages):
    """Runs each task as a container on one engine."""

    name = "local"
    supports_retries = False

    def __init__(self, client=None):
        self.client = client or engine.connect()
        self._node: Optional[str] = None

    def capacity(self) -> int:
        """Tasks worth running at once: the engine's CPUs."""
        return engine.cpu_count(self.client)

    def shared_cache(self, name: str, labels: dict) -> Optional[str]:
        """A volume the tasks of a sweep share (their bytecode); None where a backend cannot."""
        return engine.create_volume(self.client, name, labels)

    def drop_cache(self, name: str) -> None:
        engine.remove_volume(self.client, name)

    def start(self, spec: TaskSpec):
        return engine.start_container(
            self.client,
            spec.image,
            command=list(spec.command) if spec.command else None,
            name=spec.name,
            ports={p.container: (p.host_ip, p.host_port) for p in spec.ports},
            env=spec.env,
            gpus=spec.gpus,
            labels=spec.labels,
            volumes=spec.volumes,
            cpus=spec.cpus,
            memory=spec.memory,
        )

    def follow(self, task, on_text: Callable[[str], None], timeout: Optional[float] = None) -> Exit:
        code, timed_out, logs, errors = engine.follow(task, on_text, timeout=timeout)
        return Exit(code, timed_out, logs, errors)

    def stop(self, task) -> None:
        engine.stop_container(task)

    def collect(self, task, dest: Path) -> list[Path]:
        return engine.collect_outputs(task, dest, APP)

    def remove(self, task) -> None:
        engine.remove_container(task)

    def node(self, task) -> str:
        if self._node is None:
            self._node = engine.node_name(self.client)
        return self._node
