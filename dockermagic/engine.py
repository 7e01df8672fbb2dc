"""The Docker engine: the only module that talks to it (through the Docker SDK for Python).

Works the same with a local engine and a remote one (``DOCKER_HOST=ssh://...`` or
``tcp://...``): files go in as the build context and come back through the Engine API's
archive download, never through host bind mounts.
"""

import io
import os
import time
import tarfile
import threading
from pathlib import Path, PurePosixPath

import docker
from docker.errors import APIError, DockerException, ImageNotFound as _SdkImageNotFound, NotFound
from docker.types import DeviceRequest

from .errors import (BaseImageUnavailable, BuildError, EngineUnavailable, GPUUnavailable,
                     ImageNotFound, PortInUse, PushError, RunError)

LABEL = "org.dockermagic.version"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def engine_address():
    """Where the SDK will look for the engine."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect():
    """A client for the engine named by the environment (``DOCKER_HOST`` and friends).

    Raises:
        EngineUnavailable: nothing answers there.
    """
    try:
        client = docker.from_env(version="auto")
        client.ping()
        return client
    except (DockerException, OSError) as exc:
        reason = str(exc).split("\n")[0]
        if "Connection refused" in reason or "No such file" in reason or "FileNotFoundError" in reason:
            reason = "connection refused"
        raise EngineUnavailable(
            f"no Docker engine answers at {engine_address()} ({reason[:120]}): start Docker "
            "(Docker Desktop, 'sudo systemctl start docker', or this project's scripts/ensure-engine.sh), "
            "or point DOCKER_HOST at a running engine") from None


def local_image(client, ref):
    """The local image ``ref``, or None."""
    try:
        return client.images.get(ref)
    except (_SdkImageNotFound, NotFound):
        return None
    except APIError:
        return None


def pull(client, ref, on_chunk=None):
    """Pull ``ref``, passing each decoded progress chunk to ``on_chunk``.

    Raises:
        ImageNotFound: the registry does not have it, or no registry is reachable.
    """
    repository, tag = split_ref(ref)
    try:
        for chunk in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise ImageNotFound(f"cannot pull {ref}: {chunk['error']}")
            if on_chunk:
                on_chunk(chunk)
    except APIError as exc:
        raise ImageNotFound(f"cannot pull {ref}: {exc.explanation or exc}") from None
    image = local_image(client, ref)
    if image is None:
        raise ImageNotFound(f"cannot pull {ref}")
    return image


def split_ref(ref):
    """``registry:5000/name:tag`` -> ``("registry:5000/name", "tag")`` (tag ``latest`` when absent)."""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = ref.rpartition(":")
        return repository, tag
    return ref, "latest"


def push(client, image, ref, on_chunk=None):
    """Tag ``image`` as ``ref`` and push it, passing each progress chunk to ``on_chunk``.

    Uses the credentials of the user's Docker configuration (``docker login``).

    Raises:
        PushError: the registry refused or could not be reached.
    """
    repository, tag = split_ref(ref)
    try:
        client.images.get(image).tag(repository, tag)
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise PushError(f"cannot push {ref}: {chunk['error'].strip()}")
            if on_chunk:
                on_chunk(chunk)
    except (_SdkImageNotFound, NotFound):
        raise ImageNotFound(f"no image {image} on the engine") from None
    except APIError as exc:
        raise PushError(f"cannot push {ref}: {exc.explanation or exc}") from None
    return f"{repository}:{tag}"


def ensure_base(client, ref, on_chunk=None):
    """Make sure the base image is local, pulling it with progress when it is not."""
    if local_image(client, ref) is not None:
        return
    try:
        pull(client, ref, on_chunk)
    except ImageNotFound as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise BaseImageUnavailable(
            f"base image {ref} is not on this engine and cannot be pulled ({reason[:160]}): "
            "pull it or build it yourself, or choose another with --base") from None


_unreachable = set()


def optional_image(client, ref, on_chunk=None):
    """Whether ``ref`` is on the engine, pulling it if need be; a failed pull is not retried
    for this engine in this process (it is only ever a faster way, never a requirement)."""
    if local_image(client, ref) is not None:
        return True
    key = (getattr(client.api, "base_url", ""), ref)
    if key in _unreachable:
        return False
    try:
        pull(client, ref, on_chunk)
        return True
    except ImageNotFound:
        _unreachable.add(key)
        return False


def build_args():
    """Proxy settings of the kernel, as the predefined build arguments Docker keeps out of images."""
    return {k: v for k, v in os.environ.items() if k in PROXY_VARIABLES}


def remove_images(client, ids, wait=5.0):
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


def build(client, context, tag, progress, notify=lambda: None, no_cache=False):
    """Build ``context`` as ``tag`` through the low-level streaming API.

    Every chunk goes to ``progress.feed`` and ``notify()`` is called after it. On a failed
    step nothing is tagged and the layers this build made are removed. The image a rebuild
    takes the tag from is removed when nothing else refers to it.

    Returns:
        the image (``docker.models.images.Image``).

    Raises:
        BuildError: a step failed or the Dockerfile was refused.
    """
    replaced = local_image(client, tag)
    args = build_args()
    if no_cache:
        # a fresh value of this argument reruns the install step only; a real no-cache build
        # would leave duplicate layers that later builds pick from unpredictably
        args["DOCKERMAGIC_REBUILD"] = str(time.time_ns())
    stream = client.api.build(path=str(context), tag=tag, rm=True, forcerm=True, decode=True,
                              buildargs=args or None, pull=False)
    try:
        for chunk in stream:
            progress.feed(chunk)
            notify()
    except APIError as exc:
        remove_images(client, progress.new_layers)
        progress.fail(exc.explanation or str(exc))
        notify()
        raise BuildError(str(exc.explanation or exc), build_log=progress.log) from None
    except BaseException:
        # KeyboardInterrupt: stop the running step's container (the engine would finish the
        # step otherwise), then drop the connection so the engine ends the build
        _stop_step(client, progress)
        _close(stream)
        client.api.close()
        remove_images(client, progress.new_layers)
        progress.fail("interrupted")
        notify()
        raise
    if progress.error or not progress.image_id:
        remove_images(client, progress.new_layers)
        if not progress.error:
            progress.fail("the engine ended the build without an image")
        notify()
        step = progress.failed_step
        raise BuildError(progress.message or "build failed",
                         step=step.instruction if step else None,
                         exit_code=(progress.error or {}).get("exit_code"),
                         build_log=progress.log,
                         log_tail=(step.log if step else progress.log)[-15:],
                         hint=build_hint(step.log if step else progress.log))
    built = client.images.get(progress.image_id)
    if replaced is not None and replaced.id != built.id:
        _remove_if_orphaned(client, replaced.id)
    return built


def _remove_if_orphaned(client, image_id):
    """Remove an image of dockermagic's that a rebuild took the tag from, unless it still has
    another tag or a container uses it (the engine refuses then)."""
    try:
        image = client.images.get(image_id)
        if not image.tags and LABEL in (image.labels or {}):
            client.images.remove(image_id, noprune=False)
    except (APIError, NotFound, _SdkImageNotFound):
        pass


def _stop_step(client, progress, wait=3.0):
    """Remove the container of the step running now: the one the stream named, or the one
    started from the previous step's layer (it may not be named yet)."""
    step = progress.current
    parent = None
    if step is not None and step.n > 1:
        parent = progress.steps[step.n - 2].layer
    deadline = time.monotonic() + wait
    while True:
        ids = set(progress.containers[-1:])
        if parent:
            try:
                ids |= {c.id for c in client.containers.list(all=True, filters={"ancestor": parent})
                        if c.status in ("created", "running")}
            except (APIError, NotFound):
                pass
        for container_id in ids:
            try:
                client.api.remove_container(container_id, force=True)
            except (APIError, NotFound):
                pass
        if ids or not parent or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _close(stream):
    close = getattr(stream, "close", None)
    if close:
        try:
            close()
        except Exception:
            pass


def build_hint(log):
    """A likely cause of a failed step, from its output."""
    import re
    text = "\n".join(log[-60:])
    # pip's words, then uv's
    match = (re.search(r"No matching distribution found for (\S+)", text)
             or re.search(r"Because (\S+) was not found in the package registry", text)
             or re.search(r"there is no version of (\S+?)(?: and|,|$)", text, re.M))
    if match or "Could not find a version that satisfies" in text:
        name = match.group(1) if match else "a requirement"
        return (f"{name} is not on the package index the build uses: check its name and version, "
                "or your index settings")
    if "CERTIFICATE_VERIFY_FAILED" in text or "invalid peer certificate" in text:
        return "the index's TLS certificate is not trusted: set pip's 'cert' (PIP_CERT) in the kernel"
    if "requires a different Python" in text or "Requires-Python" in text or "current Python version" in text:
        return "a requirement does not support the image's Python version: choose --base with another Python"
    if any(s in text for s in ("error: command 'gcc' failed", "gcc: not found", "fatal error:", "pg_config executable not found")):
        return "a requirement compiles from source and needs a system library or compiler the base image lacks"
    if any(s in text for s in ("Temporary failure in name resolution", "Network is unreachable", "dns error")):
        return "the build cannot reach the package index: check the engine's network and proxy settings"
    return None


def gpu_runtime_available(client):
    """Whether the engine has a GPU-capable runtime."""
    try:
        info = client.info()
    except APIError:
        return False
    return "nvidia" in (info.get("Runtimes") or {})


def start_container(client, image, *, command=None, name=None, ports=None, env=None, gpus=None,
                    labels=None, workdir=None, volumes=None):
    """Create and start a container; remove it again if it cannot start.

    Args:
        ports: ``{"8080/tcp": ("127.0.0.1", 8080)}``.
        gpus: ``"all"`` or a count, to request GPUs.

    Raises:
        PortInUse, GPUUnavailable, RunError
    """
    device_requests = None
    if gpus:
        if not gpu_runtime_available(client):
            raise GPUUnavailable(f"--gpus {gpus}: the engine at {engine_address()} has no GPU runtime "
                                 "(install the NVIDIA Container Toolkit there, or run without --gpus)")
        count = -1 if str(gpus) == "all" else int(gpus)
        device_requests = [DeviceRequest(count=count, capabilities=[["gpu"]])]
    try:
        container = client.containers.create(image, command=command, name=name, ports=ports or None,
                                             environment=env or None, labels=labels or None,
                                             device_requests=device_requests, working_dir=workdir,
                                             volumes=volumes or None, detach=True)
    except (_SdkImageNotFound, NotFound):
        raise ImageNotFound(f"no image {image} on the engine") from None
    except APIError as exc:
        raise RunError(f"cannot create a container of {image}: {exc.explanation or exc}") from None
    try:
        container.start()
    except APIError as exc:
        remove_container(container)
        text = str(exc.explanation or exc)
        if "port is already allocated" in text or "address already in use" in text:
            raise PortInUse(f"a port asked for with -p is already taken on the host: {text.split(':')[-1].strip()}") from None
        raise RunError(f"cannot start a container of {image}: {text}") from None
    return container


def follow(container, on_text, timeout=None):
    """Stream the container's output to ``on_text`` until it exits; return its exit code.

    Returns ``(exit code, stopped by the timeout, the complete log, its stderr part)``; the
    engine may interleave the two streams of a short program out of order. With ``timeout``
    (seconds), a container still running then is stopped.
    On KeyboardInterrupt the container is stopped and removed before the interrupt goes on.
    """
    timed_out = threading.Event()
    timer = None
    if timeout:
        def stop():
            timed_out.set()
            try:
                container.stop(timeout=2)
            except (APIError, NotFound):
                pass
        timer = threading.Timer(timeout, stop)
        timer.daemon = True
        timer.start()
    streamed = b""
    try:
        for chunk in container.logs(stream=True, follow=True):
            streamed += chunk
            on_text(chunk.decode("utf-8", errors="replace"))
        result = container.wait()
        # the follow stream can end before the last lines arrive, and the engine may still be
        # copying them just after the exit: read the whole log until it stops changing
        full = container.logs()
        for _ in range(10):
            time.sleep(0.1)
            again = container.logs()
            if again == full:
                break
            full = again
        if len(full) > len(streamed) and full.startswith(streamed):
            on_text(full[len(streamed):].decode("utf-8", errors="replace"))
        full_text = full.decode("utf-8", errors="replace")
        errors_text = container.logs(stdout=False, stderr=True).decode("utf-8", errors="replace")
    except BaseException:
        remove_container(container)
        raise
    finally:
        if timer:
            timer.cancel()
    return result.get("StatusCode", -1), timed_out.is_set(), full_text, errors_text


def remove_container(container):
    """Stop and remove a container, whatever its state."""
    try:
        container.remove(force=True)
    except (APIError, NotFound):
        pass


def changed_files(container, root="/app"):
    """Files under ``root`` that the container added or changed (relative paths)."""
    changes = container.diff() or []
    root_path = PurePosixPath(root)
    paths = []
    for change in changes:
        if change.get("Kind") not in (0, 1):  # 0 changed, 1 added, 2 deleted
            continue
        path = PurePosixPath(change["Path"])
        try:
            paths.append(path.relative_to(root_path))
        except ValueError:
            continue
    return paths


def download(container, root, wanted, dest):
    """Copy the files ``wanted`` (relative to ``root`` in the container) into ``dest``.

    Uses the Engine API's archive download, so it works with remote engines. Only regular
    files are written, and only inside ``dest``.

    Returns:
        the written host paths.
    """
    wanted = {str(p) for p in wanted}
    if not wanted:
        return []
    stream, _ = container.get_archive(root)
    buffer = io.BytesIO()
    for chunk in stream:
        buffer.write(chunk)
    buffer.seek(0)
    dest = Path(dest)
    written = []
    top = PurePosixPath(root).name
    with tarfile.open(fileobj=buffer) as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            parts = PurePosixPath(member.name).parts
            rel = PurePosixPath(*parts[1:]) if parts and parts[0] == top else PurePosixPath(member.name)
            if str(rel) not in wanted or ".." in rel.parts or rel.is_absolute():
                continue
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as src, open(target, "xb") as out:
                out.write(src.read())
            written.append(target)
    return sorted(written)


def containers(client, all=True):
    """dockermagic's containers on the engine."""
    return client.containers.list(all=all, filters={"label": LABEL})
