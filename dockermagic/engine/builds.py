"""Builds: the engine's build stream, and the clean-up of a build that failed or was interrupted."""

import os
import time

from docker.errors import APIError, NotFound

from ..errors import (
    BuildError,
)
from ..layout import REBUILD_ARG

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def build_args(no_cache=False):
    """Proxy settings of the kernel, as the predefined build arguments Docker keeps out of images.

    With ``no_cache``, a fresh value of :data:`~dockermagic.layout.REBUILD_ARG` reruns the
    install step only: a real no-cache build leaves duplicate layers that later builds pick
    from unpredictably.
    """
    args = {k: v for k, v in os.environ.items() if k in PROXY_VARIABLES}
    if no_cache:
        args[REBUILD_ARG] = str(time.time_ns())
    return args


def build_stream(client, context, tag, buildargs=None):
    """Build ``context`` as ``tag`` through the low-level streaming API; yield its decoded chunks.

    The caller feeds them to a :class:`~dockermagic.progress.BuildProgress` and decides what
    to clean up (:func:`discard_images`, :func:`stop_step`). Closing the generator closes the
    build's connection, which is what tells the engine to stop building.

    Raises:
        BuildError: the engine refused the build (a Dockerfile it cannot parse).
    """
    responses = []

    def keep(response, **_):
        responses.append(response)

    hooks = getattr(client.api, "hooks", None)
    if hooks is not None:
        hooks["response"].append(keep)
    try:
        stream = client.api.build(
            path=str(context), tag=str(tag), rm=True, forcerm=True, decode=True, buildargs=buildargs or None, pull=False
        )
    finally:
        if hooks is not None:
            hooks["response"].remove(keep)
    try:
        yield from stream
    except APIError as exc:
        raise BuildError(str(exc.explanation or exc)) from None
    finally:
        _close(stream)
        # an interrupt that lands in the SDK's decoding keeps its frames, and so the open
        # response, alive in the traceback: the engine would build on to the end
        for response in responses:
            _close(response)


def discard_images(client, ids, wait=5.0):
    """Remove images by id, newest first; retry for ``wait`` seconds those a build still uses."""
    pending = list(reversed(list(ids)))
    deadline = time.monotonic() + wait
    while pending:
        left = []
        for image_id in pending:
            try:
                client.images.remove(image_id, noprune=False)
            except NotFound:
                pass
            except APIError:
                left.append(image_id)
        if not left or time.monotonic() > deadline:
            return
        pending = left
        time.sleep(0.3)


#: seconds to wait for the container of the running step when the stream has not named it
STOP_STEP_WAIT = 3.0
#: seconds the engine gets to end the running step itself once the build's connection is closed
STOP_STEP_GRACE = 10.0


def stop_step(client, containers=(), parent_layer=None, since=0.0, wait=None, grace=None):
    """End the step running now, once the build's connection is closed: its container is the
    one the stream named last (``containers``), or one started from the previous step's layer
    after ``since`` (the stream may not have named it yet). The engine kills a running step
    itself, or commits a step that had just finished, and then removes its container: wait
    for that (a commit of a large layer takes seconds), and remove what is still there after
    ``grace`` seconds."""
    now = time.monotonic()
    appear_by = now + (STOP_STEP_WAIT if wait is None else wait)
    give_up = now + (STOP_STEP_GRACE if grace is None else grace)
    named = {c[:12] for c in list(containers)[-1:]}
    parent = _short(parent_layer or "")
    seen = False
    while True:
        try:
            listed = client.api.containers(all=True)
        except APIError:
            return
        ids = [
            c["Id"]
            for c in listed
            if c["Id"][:12] in named
            or (parent and _short(c.get("ImageID") or "") == parent and c.get("Created", 0) >= since - 2)
        ]
        if not ids and (seen or time.monotonic() > appear_by):
            return
        seen = seen or bool(ids)
        if time.monotonic() > give_up:
            for container_id in ids:
                try:
                    client.api.remove_container(container_id, force=True)
                except (APIError, NotFound):
                    pass
            return
        time.sleep(0.2)


#: seconds without a new commit after which an interrupted build counts as stopped
SWEEP_SETTLE = 3.0
#: seconds between two looks at the engine's images while sweeping
SWEEP_POLL = 0.5


def sweep_build(client, made, tip, since, settle=None, limit=30.0):
    """After an interrupted build, remove every untagged image it committed: the layers its
    stream reported as new (``made``), and what the engine commits on top of the last layer
    it reached (``tip``, the interrupted step's parent) after ``since`` (a Unix time). Layers
    other builds share (cached ones) are never removed, and the engine refuses to remove an
    image another build has built on. The engine may still commit the step it was running:
    keep looking until nothing new appeared for ``settle`` seconds (at most ``limit``)."""
    ours = {_short(layer) for layer in made if layer}
    tip = _short(tip or "")
    settle = SWEEP_SETTLE if settle is None else settle
    if not ours and not tip:
        return
    deadline = time.monotonic() + limit
    quiet = time.monotonic()
    while time.monotonic() < deadline:
        try:
            images = client.api.images(all=True)
        except APIError:
            return
        fresh = [
            i
            for i in images
            if i.get("Created", 0) >= since - 2 and all(t == "<none>:<none>" for t in (i.get("RepoTags") or []))
        ]
        parents = {_short(i["Id"]): _short(i.get("ParentId") or "") for i in images}
        # what was committed on top of ours is ours too, also through cached steps in between
        # (the engine runs on through cached steps after the interrupt and commits the next one)
        mine = [i for i in fresh if _descends(_short(i["Id"]), parents, ours | ({tip} if tip else set()))]
        ours |= {_short(i["Id"]) for i in mine}
        _remove_step_containers(client, ours | ({tip} if tip else set()), since)
        removed = False
        for image in sorted(mine, key=lambda i: i.get("Created", 0), reverse=True):
            try:
                client.api.remove_image(image["Id"], noprune=True)
                removed = True
            except (APIError, NotFound):
                pass
        if removed or mine:
            quiet = time.monotonic()
        elif time.monotonic() - quiet >= settle:
            return
        time.sleep(SWEEP_POLL)


def _short(image_id: str) -> str:
    return image_id.split(":")[-1][:12]


def _descends(image: str, parents: dict, ancestors: set, depth: int = 200) -> bool:
    """Whether ``image`` is one of ``ancestors`` or built on one (through ``parents``: id -> parent id)."""
    for _ in range(depth):
        if not image:
            return False
        if image in ancestors:
            return True
        image = parents.get(image, "")
    return False


def _remove_step_containers(client, layers, since):
    """Remove the containers a build made from ``layers`` after ``since`` (the classic builder
    makes one for every step, ``COPY`` included, and may leave it behind when interrupted)."""
    try:
        containers = client.api.containers(all=True)
    except APIError:
        return
    for container in containers:
        image = (container.get("ImageID") or container.get("Image") or "").split(":")[-1][:12]
        if image in layers and container.get("Created", 0) >= since - 2:
            try:
                client.api.remove_container(container["Id"], force=True)
            except (APIError, NotFound):
                pass


def _close(stream):
    close = getattr(stream, "close", None)
    if close:
        try:
            close()
        except Exception:
            pass
