"""Sweeping: the notebook's image run once per point of a grid, at most K points at once, on
the local engine or on a Docker Swarm, with retries; each point's outputs and recorded values
come back into its own folder.

A failing point does not stop the others. Interrupting the sweep stops every container or
service it started and keeps the outputs of the points that finished.
"""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Optional

from . import __version__, engine, session, wording
from .backends import Exit, RunBackend
from .errors import DockermagicError, Interrupted, SweepError
from .grid import POINT_FILE, finished_point, point_name, sweep_key
from .layout import CACHE_DIR, LABEL_BYTECODE, LABEL_PARAMETERS, LABEL_POINT, LABEL_SWEEP, LABEL_VERSION, OUTPUTS_FOLDER
from .parameters import ENV as PARAMETERS_ENV
from .parameters import Parameters, check, encode
from .reference import ImageRef, slug
from .request import RunRequest, SweepRequest
from .results import Point, Run, Sweep
from .running import ensure_image, failure_line, resolve_image, task_spec

OnProgress = Optional[Callable[[Any], None]]
RECORDS_FILE = "records.json"
#: tells a point's program which attempt it is (1, 2, ...) when dockermagic retries it itself
ATTEMPT_ENV = "DOCKERMAGIC_ATTEMPT"
#: how often the live view of a sweep is refreshed, in seconds
REFRESH_SECONDS = 1.0


def backend_for(request: SweepRequest, client) -> tuple[RunBackend, int]:
    """The backend and how many nodes it has: the Swarm when the engine manages one (or
    ``--swarm``), else the engine itself."""
    from .backends.local import LocalBackend

    manager, nodes = engine.swarm_facts(client)
    if request.swarm and not manager:
        raise DockermagicError(
            f"--swarm: the engine at {engine.engine_address()} is not a Swarm manager (docker info: Swarm); "
            "point DOCKER_HOST at a manager, or leave out --swarm to run on this engine"
        )
    if manager:
        from .backends.swarm import SwarmBackend
        from .store import Store

        store = Store.from_url(request.store) if request.store else None
        if store is None and nodes > 1:
            raise DockermagicError(
                f"the Swarm has {nodes} nodes: outputs of tasks on other nodes come back through an object "
                "store: give --store s3://BUCKET/PREFIX (with AWS_* credentials in the kernel's environment)"
            )
        if store is not None:
            store.check()
        return SwarmBackend(client, store=store, constraints=request.constraints, retries=request.retries), nodes
    if request.constraints:
        raise DockermagicError("--constraint places tasks on Swarm nodes: the engine is not a Swarm manager")
    return LocalBackend(client), 1


def _records(folder: Path) -> dict:
    try:
        data = json.loads((folder / RECORDS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _clear(folder: Path) -> None:
    """Empty a point's folder before an attempt (it is dockermagic's own)."""
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def task_name(sweep_name: str, point_name: str, attempt: int) -> str:
    """A container or service name for a point's attempt: a valid DNS name component (Swarm
    services need one): lowercase letters, digits and ``-``, at most 63 characters, unique."""
    import hashlib
    import re

    def clean(text):
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    digest = hashlib.sha256(f"{sweep_name}/{point_name}".encode()).hexdigest()[:6]
    return f"dm-{clean(sweep_name)[:20]}-{clean(point_name)[:24]}-{digest}-{attempt}".replace("--", "-")


class _Progress:
    """The live state of a sweep, shown by :class:`dockermagic.display.SweepView`."""

    def __init__(self, name: str, image: str, backend: str, points: list[Point]):
        self.name, self.image, self.backend, self.points = name, image, backend, points
        self.started = time.monotonic()
        self.phase = "running"

    def to_dict(self) -> dict:
        now = time.monotonic()
        rows = []
        for p in self.points:
            elapsed = p.duration if p.duration is not None else (now - p.started if p.started else None)
            rows.append({**p.to_dict(), "elapsed": None if elapsed is None else round(elapsed, 1)})
        return {
            "kind": "sweep",
            "name": self.name,
            "image": self.image,
            "backend": self.backend,
            "phase": self.phase,
            "elapsed": round(now - self.started, 1),
            "points": rows,
        }


#: the thread pools of numeric libraries (OpenMP, OpenBLAS, MKL, numexpr)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_env(cores: int, parallel: int, cpus: Optional[float], env: dict) -> dict[str, str]:
    """Thread counts for each point, so that K points at once share the cores instead of each
    starting a thread per core: ``--cpus`` when given, else cores / K (at least 1). Variables
    the user set (``-e OMP_NUM_THREADS=...``) win."""
    threads = math.ceil(cpus) if cpus else max(1, cores // max(1, parallel))
    return {name: str(threads) for name in THREAD_VARIABLES if name not in env}


class _Sweeper:
    """Runs the points on one backend; every task it starts is known, so an interrupt stops them all."""

    def __init__(self, backend: RunBackend, request: SweepRequest, image: ImageRef, sweep_name: str, key: str):
        self.backend, self.request, self.image, self.sweep_name, self.key = backend, request, image, sweep_name, key
        self.cache: Optional[str] = None
        self.threads: dict[str, str] = {}
        self.live: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def spec(self, point: Point, attempt: int):
        run = RunRequest(
            env={**self.threads, **self.request.env, PARAMETERS_ENV: encode(point.values), ATTEMPT_ENV: str(attempt)},
            cpus=self.request.cpus,
            memory=self.request.memory,
        )
        spec = task_spec(run, self.image, task_name(self.sweep_name, point.name, attempt))
        spec.labels.update({LABEL_SWEEP: self.sweep_name, LABEL_POINT: point.name})
        if self.cache:
            # the points share the bytecode the first of them compiles: each start after that is warm
            spec.volumes[self.cache] = {"bind": CACHE_DIR, "mode": "rw"}
            spec.env.update({"PYTHONPYCACHEPREFIX": f"{CACHE_DIR}/pycache", "PYTHONDONTWRITEBYTECODE": ""})
        return spec

    def run_point(self, point: Point) -> None:
        retries_here = 0 if getattr(self.backend, "supports_retries", False) else self.request.retries
        point.started = time.monotonic()
        for attempt in range(1, retries_here + 2):
            if self.cancelled.is_set():
                break
            point.status, point.attempts = "running", attempt
            ended = self._attempt(point, attempt)
            if ended is None:  # interrupted
                point.status = "interrupted"
                break
            point.exit_code = ended.code
            if ended.code == 0 and not ended.timed_out:
                point.status = "done"
                break
            point.status = "failed"
            point.error = failure_line(ended.code, ended.timed_out, ended.logs, ended.errors)
        point.duration = time.monotonic() - point.started
        point.records = _records(point.folder)
        (point.folder / POINT_FILE).write_text(json.dumps({"key": self.key, **point.to_dict()}, indent=1))

    def _attempt(self, point: Point, attempt: int) -> Optional[Exit]:
        task = self.backend.start(self.spec(point, attempt))
        with self.lock:
            self.live[point.name] = task
        try:
            ended = self.backend.follow(task, lambda text: None, timeout=self.request.timeout)
            point.node = self.backend.node(task)
            if getattr(self.backend, "supports_retries", False):
                point.attempts = max(attempt, getattr(task, "attempts", attempt))
            _clear(point.folder)
            files = self.backend.collect(task, point.folder)
            point.run = Run(
                image=str(self.image),
                name=getattr(task, "name", "") or str(task),
                exit_code=ended.code,
                logs=ended.logs,
                outputs=point.folder,
                files=files,
                timed_out=ended.timed_out,
                node=point.node,
            )
            return None if self.cancelled.is_set() else ended
        finally:
            with self.lock:
                self.live.pop(point.name, None)
            self.backend.remove(task)

    def stop_all(self) -> None:
        self.cancelled.set()
        with self.lock:
            tasks = list(self.live.values())
        for task in tasks:
            self.backend.stop(task)


def sweep(request: SweepRequest, on_progress: OnProgress = None, client=None) -> Sweep:
    """Carry out a :class:`~dockermagic.request.SweepRequest` (see :func:`dockermagic.sweep`)."""
    client = client or engine.connect()
    image = resolve_image(RunRequest(image=request.image))
    backend, nodes = backend_for(request, client)
    if request.push:
        from .building import push_image

        image = ImageRef.parse(push_image(str(image), request.push, client=client))
    if backend.name == "swarm":
        from .backends.swarm import check_image_reachable

        check_image_reachable(client, str(image), nodes)
    ensure_image(backend, image)
    labels = backend.labels(str(image))
    parameters = Parameters.from_label(labels.get(LABEL_PARAMETERS))
    for values in request.points:
        check(values, parameters, str(image))
    local = engine.local_image(client, str(image))
    key = sweep_key(local.id if local is not None else str(image), request.points)
    name = request.name or f"{slug(image.short)}-sweep-{key[:6]}"
    root = (request.outputs or Path.cwd() / OUTPUTS_FOLDER) / slug(name)
    points = [Point(values=dict(v), folder=root / point_name(v)) for v in request.points]
    for point in points:
        previous = finished_point(point.folder, key) if request.resume else None
        if previous is not None:
            point.status, point.exit_code, point.attempts = (
                "skipped",
                previous.get("exit_code"),
                previous.get("attempts", 0),
            )
            point.node, point.duration, point.records = (
                previous.get("node"),
                previous.get("duration"),
                _records(point.folder),
            )
    parallel = request.parallel or backend.capacity()
    progress = _Progress(name, str(image), backend.name, points)
    sweeper = _Sweeper(backend, request, image, name, key)
    if backend.name == "local":
        sweeper.threads = thread_env(backend.capacity(), parallel, request.cpus, request.env)
    if labels.get(LABEL_BYTECODE) != "compiled":
        sweeper.cache = backend.shared_cache(f"dm-pycache-{key}", {LABEL_SWEEP: name, LABEL_VERSION: __version__})
    started = time.monotonic()
    notify = (lambda: on_progress(progress)) if on_progress else (lambda: None)

    def summary() -> Sweep:
        return Sweep(
            name=name, image=str(image), folder=root, points=points, backend=backend.name,
            duration=time.monotonic() - started,
        )  # fmt: skip

    pending = [p for p in points if p.status == "pending"]
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="dockermagic-sweep")
    try:
        futures = {pool.submit(sweeper.run_point, p): p for p in pending}
        while futures:
            finished, _ = wait(list(futures), timeout=REFRESH_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                futures.pop(future)
            notify()
    except BaseException as exc:
        # stop what runs first: the pool's threads end once their tasks are stopped
        sweeper.stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        if sweeper.cache:
            backend.drop_cache(sweeper.cache)
        for point in points:
            if point.status in ("pending", "running"):
                point.status = "interrupted"
        progress.phase = "interrupted"
        notify()
        result = summary()
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(
                f"interrupted: the sweep {name} stopped every task it started; the outputs of "
                f"{sum(p.status in ('done', 'skipped') for p in points)} finished points are in {root}",
                run=result,
            ) from None
        raise
    pool.shutdown(wait=True)
    if sweeper.cache:
        backend.drop_cache(sweeper.cache)
    progress.phase = "done"
    notify()
    result = summary()
    session.remember_sweep(result)
    failed = result.failed
    if failed:
        names = ", ".join(p.name for p in failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise SweepError(
            f"{len(failed)} of {len(points)} points failed after their retries: {names} ({failed[0].error}); "
            f"rerun them with {wording.sweep('--resume')}",
            sweep=result,
        )
    return result
