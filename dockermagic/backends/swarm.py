"""The Swarm backend: each task is a one-replica service on a Docker Swarm that runs once,
placed by the Swarm on any node (``--constraint`` narrows it); Swarm restarts a failed task
up to ``--retries`` times (:func:`dockermagic.engine.create_job`).

The image must come from a registry every node can pull from. Outputs of a task come back
through the object store (:mod:`dockermagic.store`): the task's command is wrapped by
``_dockermagic_runtime.upload``, which sends what the program wrote to a presigned URL given
to the task as a Swarm secret.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .. import engine
from ..errors import DockermagicError
from ..layout import RUNTIME_PACKAGE
from ..store import Store
from . import EngineImages, Exit, TaskSpec

UPLOAD_FILE = "dockermagic-upload"
POLL_SECONDS = 0.5
#: a task state after which Swarm starts no other task for it
ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}


@dataclass
class SwarmTask:
    """What the backend keeps about one started task."""

    service: Any
    name: str
    key: Optional[str] = None
    secret_ids: list[str] = field(default_factory=list)
    node_id: Optional[str] = None
    attempts: int = 0
    stopped: bool = False


class SwarmBackend(EngineImages):
    """Runs each task as a one-replica, run-once service on the Swarm the engine manages."""

    name = "swarm"
    supports_retries = True

    def __init__(self, client, store: Optional[Store] = None, constraints=(), retries: int = 0):
        self.client = client
        self.store = store
        self.constraints = list(constraints)
        self.retries = int(retries)
        self._nodes: dict[str, str] = {}

    def capacity(self) -> int:
        """Tasks worth running at once: the CPUs of the Swarm's nodes together."""
        return engine.swarm_cpus(self.client)

    def _command(self, spec: TaskSpec) -> list[str]:
        image = engine.local_image(self.client, spec.image)
        cmd = list(spec.command or ((image.attrs.get("Config") or {}).get("Cmd") if image is not None else []) or [])
        if self.store is None:
            return cmd
        return ["python", "-m", f"{RUNTIME_PACKAGE}.upload", *cmd]

    def start(self, spec: TaskSpec) -> SwarmTask:
        task = SwarmTask(service=None, name=spec.name)
        refs = []
        if self.store is not None:
            task.key = self.store.key(spec.name + ".tar.gz")
            url = self.store.upload_url(task.key, seconds=7 * 24 * 3600)
            secret_name = f"{spec.name}-upload-{secrets.token_hex(3)}"
            secret_id = engine.create_secret(self.client, secret_name, url, spec.labels)
            task.secret_ids.append(secret_id)
            refs.append((secret_id, secret_name, UPLOAD_FILE))
        try:
            task.service = engine.create_job(
                self.client,
                spec,
                retries=self.retries,
                constraints=self.constraints,
                secrets=refs,
                command=self._command(spec),
            )
        except BaseException:
            self.remove(task)
            raise
        return task

    def follow(self, task: SwarmTask, on_text: Callable[[str], None], timeout: Optional[float] = None) -> Exit:
        """Wait until the job completes or its last allowed attempt ends; the logs come at the end."""
        deadline = time.monotonic() + timeout if timeout else None
        timed_out = False
        while True:
            tasks = engine.service_tasks(task.service)
            task.attempts = max(task.attempts, len(tasks))
            if tasks:
                task.node_id = tasks[-1]["node"] or task.node_id
            done = [t for t in tasks if t["state"] == "complete"]
            failed = [t for t in tasks if t["state"] in ENDED - {"complete"}]
            if done or len(failed) > self.retries or task.stopped:
                break
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(POLL_SECONDS)
        logs, errors = engine.service_logs(task.service)
        if logs:
            on_text(logs)
        last = (done or failed or tasks or [{}])[-1]
        code = 0 if done else last.get("exit_code")
        if code is None:
            code = -1
            if last.get("error"):
                errors += f"\n{last['error']}"
        return Exit(int(code), timed_out, logs, errors)

    def stop(self, task: SwarmTask) -> None:
        task.stopped = True
        if task.service is not None:
            engine.remove_service(task.service)

    def collect(self, task: SwarmTask, dest: Path) -> list[Path]:
        if self.store is None or task.key is None:
            return []
        return self.store.download(task.key, dest)

    def remove(self, task: SwarmTask) -> None:
        if task.service is not None:
            engine.remove_service(task.service)
        for secret_id in task.secret_ids:
            engine.remove_secret(self.client, secret_id)
        if self.store is not None and task.key:
            self.store.delete(task.key)

    def shared_cache(self, name: str, labels: dict) -> Optional[str]:
        """None: a volume would be one per node, and each node warms its own bytecode anyway."""
        return None

    def drop_cache(self, name: str) -> None:
        return None

    def node(self, task: SwarmTask) -> str:
        if not task.node_id:
            return "swarm"
        if task.node_id not in self._nodes:
            self._nodes[task.node_id] = engine.node_name(self.client, task.node_id)
        return self._nodes[task.node_id]


def check_image_reachable(client, image: str, nodes: int) -> None:
    """Refuse, before anything starts, an image the other nodes of the Swarm cannot pull."""
    if nodes <= 1:
        return
    has_registry = bool(re.match(r"^[^/]+[.:][^/]*/", image)) or image.startswith("localhost/")
    if not has_registry:
        raise DockermagicError(
            f"{image} exists only on the manager and the Swarm has {nodes} nodes: push it to a registry "
            "the nodes can reach (--push REGISTRY/REPO[:TAG])"
        )
    if not engine.registry_has(client, image):
        raise DockermagicError(
            f"the nodes cannot pull {image}: its registry does not serve it (push it there first, with "
            "--push REGISTRY/REPO[:TAG], or check the registry's address from the nodes)"
        )
