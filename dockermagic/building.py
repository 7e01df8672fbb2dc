"""Building: capture -> plan -> build context -> the engine's build, streamed into a progress
state -> the image (then, if asked, a verification run and a push).

This module decides what to clean up when a build fails or is interrupted; the engine
module carries it out.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from . import context as _context
from . import engine, session
from .capture import capture
from .dockerfile import UV_IMAGE
from .errors import BuildError, DockermagicError, Interrupted
from .layout import cache_home
from .planning import BuildPlan, EngineFacts, base_image, base_system, plan
from .progress import BuildProgress, TransferProgress, ticking
from .reference import ImageRef, slug
from .request import BuildRequest, KernelContext, RunRequest
from .results import Image, human_size

OnProgress = Optional[Callable[[object], None]]


def uv_image() -> Optional[str]:
    """The image the builder copies uv from: ``DOCKERMAGIC_UV_IMAGE`` (a registry mirror; empty
    for none) or uv's own."""
    return os.environ.get("DOCKERMAGIC_UV_IMAGE", UV_IMAGE) or None


def engine_facts(client, request: BuildRequest, base: str) -> EngineFacts:
    """What the plan needs to know about the engine: whether it has (or can pull) uv's image,
    and what the base image holds (its libraries, Debian release and programs)."""
    wanted = uv_image() if request.installer == "uv" else None
    found = engine.base_image_facts(client, base)
    system = base_system(*found) if found else {}
    if wanted and engine.optional_image(client, wanted):
        return EngineFacts(uv_image=wanted, **system)
    return EngineFacts(uv_image=None, unavailable=(wanted,) if wanted else (), **system)


def context_report(folder: Path) -> str:
    """One line on what the build context holds: files, bytes, the largest files."""
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    largest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:3]
    named = ", ".join(f"{p.relative_to(folder).as_posix()} {human_size(p.stat().st_size)}" for p in largest)
    return f"build context: {len(files)} files, {human_size(total)} (largest: {named})"


def _notifier(on_progress: OnProgress, state):
    import threading

    lock = threading.Lock()

    def notify():
        if on_progress is not None:
            with lock:
                on_progress(state)

    return notify


def build(
    request: BuildRequest,
    kernel: Optional[KernelContext] = None,
    on_progress: OnProgress = None,
    on_push_progress: OnProgress = None,
) -> Image:
    """Carry out a :class:`~dockermagic.request.BuildRequest` (see :func:`dockermagic.dockerize`).

    Whatever stops it (a mistake, a failed step, an interrupt) leaves the live view showing
    why, and nothing half-made behind.
    """
    state = BuildProgress(tag=str(request.tag or ""))
    notify = _notifier(on_progress, state)
    try:
        return _build(request, kernel, state, notify, on_push_progress)
    except KeyboardInterrupt:
        if state.phase == "done":
            raise Interrupted(f"interrupted: {state.tag} is built, what came after it stopped") from None
        state.interrupt()
        notify()
        raise Interrupted(
            f"interrupted before the build of {state.tag or 'the image'} started; nothing was built"
        ) from None
    except DockermagicError as exc:
        if state.phase not in ("done", "failed", "interrupted") and state.phases:
            state.fail(str(exc))
            notify()
        raise


def _build(request, kernel, state, notify, on_push_progress) -> Image:
    if request.touches_engine:
        state.enter("capture")
        notify()
    cap = capture(kernel, request.notebook, carry=request.carry, function=request.function)
    if not request.touches_engine:
        planned = plan(cap, request)
        if request.dry_run:
            return planned.image
        _write_compose(request, planned)
        planned.image.context = _context.write_context(planned.context, request.context)
        return planned.image
    client = engine.connect()
    base = base_image(cap, request)
    if engine.local_image(client, base) is None:
        state.enter("pull")
        notify()

        def on_pull(chunk):
            state.feed_pull(chunk)
            notify()

        engine.ensure_base(client, base, on_pull)
    state.enter("requirements")
    notify()
    planned = plan(cap, request, engine_facts(client, request, base))
    image = planned.image
    _write_compose(request, planned)
    state.tag = image.tag
    state.set_dockerfile(image.dockerfile)
    session.remember_build(state)
    state.enter("context")
    notify()
    target = cache_home() / "contexts" / slug(image.tag)
    previous = _context.read_marker(target)
    image.context = _context.write_context(planned.context, target, own_folder=True)
    image.notes.append(context_report(image.context))
    state.changes = _context.what_changed(previous, _context.read_marker(image.context))
    state.enter("send")
    notify()
    built = _run_build(client, image.context, image.tag, state, notify, request.no_cache, image.requirements)
    image.image_id = built.id
    image.size = built.attrs.get("Size")
    image.cached_steps = state.cached_steps
    if state.changes and state.cached_steps:
        rebuilt = next((s for s in state.steps if s.state == "done" and not s.instruction.startswith("FROM")), None)
        if rebuilt is not None:
            image.notes.append(
                f"rebuilt from step {rebuilt.n} ({rebuilt.instruction[:60]}): " + "; ".join(state.changes)
            )
    state.done(built.id, image.size)
    image.build_seconds = state.elapsed
    image.engine_seconds = state.engine_seconds
    notify()
    session.remember_image(image.tag)
    if request.verify:
        verify(image)
    if request.push:
        image.pushed = push_image(image.tag, request.push, on_progress=on_push_progress, client=client)
    return image


def _write_compose(request: BuildRequest, planned: BuildPlan) -> None:
    if not request.compose:
        return
    from . import compose as _compose

    folder = request.notebook.resolve().parent if request.notebook else Path.cwd()
    planned.image.compose = _compose.write(folder, planned.image.tag, dict(request.compose))


def _last_layer(steps) -> Optional[str]:
    """The last layer the build reached in the running step's stage, before that step (the
    step just before may have finished without the stream naming its layer yet). Never the
    base image of a ``FROM``: other builds share it."""
    for step in reversed(steps):
        if step.instruction.upper().startswith("FROM"):
            return None
        if step.layer:
            return step.layer
    return None


def _run_build(client, folder, tag, state: BuildProgress, notify, no_cache, requirements=()):
    """Stream the engine's build into ``state``; on failure or interrupt leave nothing behind."""
    replaced = engine.local_image(client, tag)
    started = time.time()
    chunks = engine.build_stream(client, folder, tag, engine.build_args(no_cache))
    try:
        with ticking(notify):
            for chunk in chunks:
                state.feed(chunk)
                notify()
    except BuildError as exc:
        engine.discard_images(client, state.new_layers)
        state.fail(exc.reason)
        notify()
        raise
    except BaseException:
        chunks.close()
        built = engine.local_image(client, tag) if state.image_id else None
        if built is not None and built.id == state.image_id:
            # the engine had finished (a cached rebuild is quick): the image is whole and tagged
            state.done(state.image_id)
            notify()
            if replaced is not None and replaced.id != built.id:
                engine.retire_replaced(client, replaced.id)
            raise Interrupted(f"interrupted: {tag} is built, what came after it stopped") from None
        # KeyboardInterrupt: the closed connection cancels the build; let the engine end the
        # running step (or remove it), then remove every image this build committed
        at = state.reached_n or 1
        tip = _last_layer(state.steps[: at - 1])
        state.interrupt()
        notify()
        engine.stop_step(client, state.containers, tip, since=started)
        client.api.close()
        engine.sweep_build(client, state.new_layers, tip, since=started)
        notify()
        raise Interrupted(
            f"interrupted: the build of {tag} stopped at step {at} "
            f"of {len(state.steps)}; nothing it made is left on the engine"
        ) from None
    if state.error or not state.image_id:
        engine.discard_images(client, state.new_layers)
        if not state.error:
            state.fail("the engine ended the build without an image")
        notify()
        step = state.failed_step
        from .diagnose import build_hint

        raise BuildError(
            state.message or "build failed",
            step=step.instruction if step else None,
            exit_code=(state.error or {}).get("exit_code"),
            build_log=state.log,
            log_tail=(step.log if step else state.log)[-15:],
            hint=build_hint(step.log if step else state.log, requirements),
        )
    built = engine.image_by_id(client, state.image_id)
    if replaced is not None and replaced.id != built.id:
        engine.retire_replaced(client, replaced.id)
    return built


def verify(image: Image) -> None:
    """Run the image once with cell markers and compare its output with the notebook's."""
    from .running import run
    from .verify import compare

    if not any(c.outputs_text.strip() for c in image.cells):
        image.notes.append("--verify: the saved notebook has no outputs to compare with (save it after running)")
        return
    with tempfile.TemporaryDirectory(prefix="dockermagic-verify-") as folder:
        result = run(
            RunRequest.from_options(image=image.tag, env={"DOCKERMAGIC_MARKERS": "1"}, outputs=folder, check=False)
        )
    image.differences = compare(image.cells, result.logs)
    if result.exit_code != 0:
        image.notes.append(f"--verify: the image exited with code {result.exit_code}")
    if image.differences:
        image.notes += [f"--verify: {d}" for d in image.differences]
    else:
        image.notes.append("--verify: every cell printed what the notebook shows")


def push_image(image, ref, *, on_progress: OnProgress = None, client=None) -> str:
    """Tag ``image`` as ``ref`` (``REGISTRY/REPO[:TAG]``) and push it with per-layer progress.

    Uses the credentials of your Docker configuration (``docker login``). Returns the pushed
    reference.
    """
    target = ImageRef.parse(ref).pinned()
    client = client or engine.connect()
    state = TransferProgress(ref=str(target), kind="push")

    def on_chunk(chunk):
        state.feed(chunk)
        if on_progress:
            on_progress(state)

    pushed = engine.push(client, str(getattr(image, "tag", image)), target, on_chunk)
    state.done = True
    if on_progress:
        on_progress(state)
    return pushed
