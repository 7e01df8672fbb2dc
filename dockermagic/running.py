"""Running: an image's program in a container on a run backend, its logs streamed, what it
produced copied back into a new host folder, the container always removed."""

from __future__ import annotations

import datetime
import json
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Optional

from . import __version__, session, wording
from .backends import RunBackend, TaskSpec
from .diagnose import map_traceback_line, missing_environment
from .errors import DockermagicError, ImageNotFound, Interrupted, RunError
from .layout import (
    LABEL_CELLS,
    LABEL_ENV,
    LABEL_IMAGE,
    LABEL_PARAMETERS,
    LABEL_USER,
    LABEL_VERSION,
    OUTPUTS_FOLDER,
    user_label,
)
from .parameters import ENV as PARAMETERS_ENV
from .parameters import Parameters, encode
from .parameters import check as check_parameters
from .progress import RunProgress, TransferProgress
from .reference import ImageRef, slug
from .request import RunRequest
from .results import Run

OnProgress = Optional[Callable[[object], None]]


def backend_for(request: RunRequest) -> RunBackend:
    """The backend that runs ``request``: the engine ``DOCKER_HOST`` names."""
    from .backends.local import LocalBackend

    return LocalBackend()


def outputs_folder(root: Path, image: ImageRef) -> Path:
    """A new folder under ``root`` for one run's outputs, named from the image and the time;
    never one that exists."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{slug(image.short)}-{stamp}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def resolve_image(request: RunRequest) -> ImageRef:
    """The image to run: the one asked for, else the last one this kernel built."""
    if request.image is not None:
        return request.image
    last = session.last_image()
    if not last:
        raise DockermagicError(
            f"no image to run: give one ({wording.run('TAG')}) or build one with {wording.build()} first"
        )
    return ImageRef.parse(last).pinned()


def ensure_image(backend: RunBackend, image: ImageRef, on_pull_progress: OnProgress = None) -> None:
    """Pull the image with per-layer progress when the backend does not have it."""
    if backend.has_image(str(image)):
        return
    pulling = TransferProgress(ref=str(image), kind="pull")

    def on_chunk(chunk):
        pulling.feed(chunk)
        if on_pull_progress:
            on_pull_progress(pulling)

    try:
        backend.pull(str(image), on_chunk)
    except ImageNotFound:
        raise ImageNotFound(
            f"unknown image {image}: it is not on the engine and cannot be pulled "
            f"(build it with {wording.build()}, or check the name)"
        ) from None
    pulling.done = True
    if on_pull_progress:
        on_pull_progress(pulling)


def task_spec(request: RunRequest, image: ImageRef, name: str) -> TaskSpec:
    """What to start for ``request``: its parameters travel in :data:`~dockermagic.parameters.ENV`."""
    env = dict(request.env)
    if request.params:
        env[PARAMETERS_ENV] = encode(request.params)
    return TaskSpec(
        image=str(image),
        name=name,
        command=request.command,
        env=env,
        ports=request.ports,
        volumes=dict(request.volumes),
        gpus=request.gpus,
        labels={LABEL_VERSION: __version__, LABEL_IMAGE: str(image), LABEL_USER: user_label()},
        cpus=request.cpus,
        memory=request.memory,
    )


def failure_line(exit_code: int, timed_out: bool, logs: str, errors: str, missing_env: Sequence[str] = ()) -> str:
    """Why a program failed, in one line: how it ended and the last line it wrote to stderr
    (else the last line it wrote), and the variables it reads that the container lacks."""
    why = "stopped by --timeout" if timed_out else f"exited with code {exit_code}"
    last = next((line for log in (errors, logs) for line in reversed(log.splitlines()) if line.strip()), "")
    line = f"the program {why}" + (f": {last.strip()[:200]}" if last else "")
    if missing_env:
        names = ", ".join(missing_env)
        passing = " ".join(f"-e {name}" for name in missing_env)
        line += (
            f" (it reads {names}, which this kernel has and the container does not: "
            f"pass it with {wording.run(passing)})"
        )
    return line


def _notebook_terms(labels: dict) -> Callable[[str], str]:
    """A function saying a log line in the notebook's terms (traceback frames of program.py
    become cells and lines), from the image's labels."""
    try:
        cells = json.loads(labels.get(LABEL_CELLS) or "[]")
    except ValueError:
        cells = []
    return lambda line: map_traceback_line(line, cells)


def run(
    request: RunRequest,
    on_progress: OnProgress = None,
    on_pull_progress: OnProgress = None,
    backend: Optional[RunBackend] = None,
) -> Run:
    """Carry out a :class:`~dockermagic.request.RunRequest` (see :func:`dockermagic.run`)."""
    image = resolve_image(request)
    if request.as_service:
        from . import services

        return services.update_service(request, image) if request.update else services.start_service(request, image)
    backend = backend or backend_for(request)
    ensure_image(backend, image, on_pull_progress)
    name = request.name or f"dm-{slug(image.short)}-{secrets.token_hex(3)}"
    labels = backend.labels(str(image))
    check_parameters(request.params, Parameters.from_label(labels.get(LABEL_PARAMETERS)), str(image))
    say = _notebook_terms(labels)
    started = time.monotonic()
    task = backend.start(task_spec(request, image, name))
    running_at = time.monotonic()
    ports = {p.container: p.shown for p in request.ports}
    state = RunProgress(name=name, image=str(image), map_line=say)
    if request.detach:
        state.state = "running"
        if on_progress:
            on_progress(state)
        return Run(image=str(image), name=name, ports=ports, detached=True, node=backend.node(task))

    def on_text(text):
        state.feed(text)
        if on_progress:
            on_progress(state)

    if on_progress:
        on_progress(state)
    folder = None
    try:
        try:
            ended = backend.follow(task, on_text, timeout=request.timeout)
        except BaseException:
            backend.stop(task)
            folder = outputs_folder(request.outputs or Path.cwd() / OUTPUTS_FOLDER, image)
            files = backend.collect(task, folder)
            state.interrupted(str(folder), [str(f) for f in files])
            if on_progress:
                on_progress(state)
            partial = Run(
                image=str(image),
                name=name,
                exit_code=None,
                logs="\n".join(state.logs),
                outputs=folder,
                files=files,
                ports=ports,
                duration=time.monotonic() - started,
                node=backend.node(task),
            )
            raise Interrupted(
                f"interrupted: {name} was stopped and removed; what it wrote so far is in {folder}", run=partial
            ) from None
        ended_at = time.monotonic()
        folder = outputs_folder(request.outputs or Path.cwd() / OUTPUTS_FOLDER, image)
        files = backend.collect(task, folder)
        collected_at = time.monotonic()
    finally:
        backend.remove(task)
    timings = {
        "start": round(running_at - started, 3),
        "first_output": None if state.first_output is None else round(state.first_output - running_at, 3),
        "program": round(ended_at - running_at, 3),
        "collect": round(collected_at - ended_at, 3),
    }
    result = Run(
        image=str(image),
        name=name,
        exit_code=ended.code,
        logs="\n".join(say(line) for line in ended.logs.rstrip("\n").split("\n")),
        outputs=folder,
        files=files,
        ports=ports,
        duration=time.monotonic() - started,
        timed_out=ended.timed_out,
        node=backend.node(task),
        timings=timings,
    )
    state.exited(ended.code, str(folder), [str(f) for f in result.figures])
    if on_progress:
        on_progress(state)
    if request.check and (ended.code != 0 or ended.timed_out):
        reads = [name for name in (labels.get(LABEL_ENV) or "").split(",") if name]
        missing = missing_environment(reads, os.environ, request.env)
        why = failure_line(ended.code, ended.timed_out, ended.logs, ended.errors, missing)
        raise RunError(f"{image}: {say(why)}", run=result)
    return result
