"""The Docker engine: the only module that talks to it (through the Docker SDK for Python).

Works the same with a local engine and a remote one (``DOCKER_HOST=ssh://...`` or
``tcp://...``): files go in as the build context and come back through the Engine API's
archive download, never through host bind mounts.
"""

import io
import os
import tarfile
import threading
import time
from pathlib import Path, PurePosixPath

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.errors import ImageNotFound as _SdkImageNotFound
from docker.types import DeviceRequest

from . import wording
from .errors import (
    BaseImageUnavailable,
    BuildError,
    EngineUnavailable,
    GPUUnavailable,
    ImageNotFound,
    PortInUse,
    PushError,
    RunError,
)
from .layout import LABEL_IMAGE, LABEL_USER, LABEL_VERSION, REBUILD_ARG
from .reference import ImageRef

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
            f"no Docker engine answers at {engine_address()} ({reason[:120]}): {wording.start_docker()}, "
            "or point DOCKER_HOST at a running engine"
        ) from None


def local_image(client, ref):
    """The local image ``ref``, or None."""
    try:
        return client.images.get(str(ref))
    except (_SdkImageNotFound, NotFound):
        return None
    except APIError:
        return None


def pull(client, ref, on_chunk=None):
    """Pull ``ref`` (an :class:`~dockermagic.reference.ImageRef` or text), passing each decoded
    progress chunk to ``on_chunk``. The SDK splits the reference itself, digests included.

    Raises:
        ImageNotFound: the registry does not have it, or no registry is reachable.
    """
    ref = str(ImageRef.parse(ref).pinned())
    try:
        for chunk in client.api.pull(ref, stream=True, decode=True):
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


def push(client, image, ref, on_chunk=None):
    """Tag ``image`` as ``ref`` and push it, passing each progress chunk to ``on_chunk``.

    Uses the credentials of the user's Docker configuration (``docker login``).

    Raises:
        PushError: the registry refused or could not be reached.
    """
    target = ImageRef.parse(ref).pinned()
    try:
        client.images.get(str(image)).tag(target.repository, target.tag)
        for chunk in client.api.push(str(target), stream=True, decode=True):
            if "error" in chunk:
                raise PushError(f"cannot push {target}: {chunk['error'].strip()}")
            if on_chunk:
                on_chunk(chunk)
    except (_SdkImageNotFound, NotFound):
        raise ImageNotFound(f"no image {image} on the engine") from None
    except APIError as exc:
        raise PushError(f"cannot push {target}: {exc.explanation or exc}") from None
    return str(target)


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
            "pull it or build it yourself, or choose another with --base"
        ) from None


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
    to clean up (:func:`discard_images`, :func:`stop_step`).

    Raises:
        BuildError: the engine refused the build (a Dockerfile it cannot parse).
    """
    stream = client.api.build(
        path=str(context), tag=str(tag), rm=True, forcerm=True, decode=True, buildargs=buildargs or None, pull=False
    )
    try:
        yield from stream
    except APIError as exc:
        raise BuildError(str(exc.explanation or exc)) from None
    finally:
        _close(stream)


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


def image_by_id(client, image_id):
    """The image with this id (it exists: the build just made it)."""
    return client.images.get(image_id)


def retire_replaced(client, image_id):
    """Remove an image of dockermagic's that a rebuild took the tag from, unless it still has
    another tag or a container uses it (the engine refuses then)."""
    try:
        image = client.images.get(image_id)
        if not image.tags and LABEL_VERSION in (image.labels or {}):
            client.images.remove(image_id, noprune=False)
    except (APIError, NotFound, _SdkImageNotFound):
        pass


def stop_step(client, containers=(), parent_layer=None, wait=3.0):
    """Remove the container of the step running now: the one the stream named (``containers``),
    or the one started from the previous step's layer (the stream may not have named it yet)."""
    deadline = time.monotonic() + wait
    while True:
        ids = set(list(containers)[-1:])
        if parent_layer:
            try:
                ids |= {
                    c.id
                    for c in client.containers.list(all=True, filters={"ancestor": parent_layer})
                    if c.status in ("created", "running")
                }
            except (APIError, NotFound):
                pass
        for container_id in ids:
            try:
                client.api.remove_container(container_id, force=True)
            except (APIError, NotFound):
                pass
        if ids or not parent_layer or time.monotonic() > deadline:
            return
        time.sleep(0.2)


#: seconds without a new commit after which an interrupted build counts as stopped
SWEEP_SETTLE = 3.0


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
        time.sleep(0.5)


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


_BASE_PROBE = (
    "ldconfig -p 2>/dev/null; echo '--- os-release'; cat /etc/os-release 2>/dev/null; "
    "echo '--- programs'; ls -1 /usr/local/bin /usr/bin /bin /usr/sbin /sbin 2>/dev/null; true"
)


def base_image_facts(client, ref):
    """What a base image has: ``ldconfig -p`` text, its ``/etc/os-release`` text and the
    programs on its PATH, read once from a throw-away container and cached per image id.

    Returns ``(ldconfig text, os-release text, programs)``, or None when it cannot be read.
    """
    import json

    from .layout import cache_home

    image = local_image(client, ref)
    if image is None:
        return None
    cache = cache_home() / "base-facts" / f"{image.id.split(':')[-1][:24]}.json"
    try:
        data = json.loads(cache.read_text())
        return data["ldconfig"], data["os_release"], data["programs"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        out = client.containers.run(
            image.id, ["sh", "-c", _BASE_PROBE], remove=True, entrypoint=[], labels={LABEL_VERSION: "probe"}
        ).decode("utf-8", errors="replace")
    except (APIError, DockerException):
        return None
    ldconfig, _, rest = out.partition("--- os-release\n")
    os_release, _, programs = rest.partition("--- programs\n")
    names = sorted({line.strip() for line in programs.splitlines() if line.strip() and not line.endswith(":")})
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"ldconfig": ldconfig, "os_release": os_release, "programs": names}))
    except OSError:
        pass
    return ldconfig, os_release, names


def gpu_runtime_available(client):
    """Whether the engine has a GPU-capable runtime."""
    try:
        info = client.info()
    except APIError:
        return False
    return "nvidia" in (info.get("Runtimes") or {})


def start_container(
    client,
    image,
    *,
    command=None,
    name=None,
    ports=None,
    env=None,
    gpus=None,
    labels=None,
    workdir=None,
    volumes=None,
    cpus=None,
    memory=None,
):
    """Create and start a container; remove it again if it cannot start.

    Args:
        ports: ``{"8080/tcp": ("127.0.0.1", 8080)}``.
        gpus: ``"all"`` or a count, to request GPUs.
        cpus: CPUs it may use; memory: bytes it may use (None: no limit).

    Raises:
        PortInUse, GPUUnavailable, RunError
    """
    device_requests = None
    if gpus:
        if not gpu_runtime_available(client):
            raise GPUUnavailable(
                f"--gpus {gpus}: the engine at {engine_address()} has no GPU runtime "
                "(install the NVIDIA Container Toolkit there, or run without --gpus)"
            )
        count = -1 if str(gpus) == "all" else int(gpus)
        device_requests = [DeviceRequest(count=count, capabilities=[["gpu"]])]
    try:
        container = client.containers.create(
            image,
            command=command,
            name=name,
            ports=ports or None,
            environment=env or None,
            labels=labels or None,
            device_requests=device_requests,
            working_dir=workdir,
            volumes=volumes or None,
            detach=True,
            nano_cpus=int(cpus * 1e9) if cpus else None,
            mem_limit=int(memory) if memory else None,
        )
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
            taken = sorted(p for _, p in (ports or {}).values() if port_holder(client, p))
            port = taken[0] if taken else None
            holder = port_holder(client, port) if port else None
            where = f"port {port} is already taken on the host by {holder}" if port else "a port is already taken"
            raise PortInUse(f"{where}: choose another with -p HOST:CONTAINER, or stop what holds it") from None
        raise RunError(f"cannot start a container of {image}: {text}") from None
    return container


def follow(container, on_text, timeout=None):
    """Stream the container's output to ``on_text`` until it exits; return its exit code.

    Returns ``(exit code, stopped by the timeout, the complete log, its stderr part)``; the
    engine may interleave the two streams of a short program out of order. With ``timeout``
    (seconds), a container still running then is stopped.
    The container is left as it is whatever happens: the caller stops and removes it.
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
            on_text(full[len(streamed) :].decode("utf-8", errors="replace"))
        full_text = full.decode("utf-8", errors="replace")
        errors_text = container.logs(stdout=False, stderr=True).decode("utf-8", errors="replace")
    finally:
        if timer:
            timer.cancel()
    return result.get("StatusCode", -1), timed_out.is_set(), full_text, errors_text


def port_holder(client, port):
    """What listens on ``port`` of the engine's host: ``container dm-api-1a2b3c`` or, for a local
    engine, ``process python3 (pid 123)``; None when nothing does."""
    try:
        for container in client.containers.list():
            for bindings in (container.ports or {}).values():
                if any(str(b.get("HostPort")) == str(port) for b in bindings or ()):
                    return f"container {container.name}"
    except APIError:
        pass
    if engine_address().startswith("unix://"):
        process = _local_listener(int(port))
        if process:
            return f"process {process}"
    return None


def _local_listener(port):
    """``name (pid N)`` of the local process listening on TCP ``port`` (from /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    fields = row.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    with open(f"/proc/{pid}/comm") as f:
                        return f"{f.read().strip()} (pid {pid})"
        except OSError:
            continue
    return "another program"


def stop_container(container, grace=2):
    """Stop a container (SIGTERM, then SIGKILL after ``grace`` seconds); it stays for its files."""
    try:
        container.stop(timeout=grace)
    except (APIError, NotFound):
        pass


def create_volume(client, name, labels):
    """A named volume (its first use copies the image's folder into it, ownership included)."""
    try:
        return client.volumes.create(name=name, labels=labels).name
    except APIError as exc:
        raise RunError(f"cannot create the volume {name}: {exc.explanation or exc}") from None


def remove_volume(client, name):
    try:
        client.volumes.get(name).remove(force=True)
    except (APIError, NotFound):
        pass


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


#: up to this many changed files are fetched one by one; more, and the whole folder comes at once
FILES_ONE_BY_ONE = 64


def _archive(container, path):
    stream, _ = container.get_archive(path)
    buffer = io.BytesIO()
    for chunk in stream:
        buffer.write(chunk)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def _members(archive, top):
    """``(relative path, member)`` of the regular files of an archive of folder ``top``."""
    for member in archive.getmembers():
        if member.isfile():
            parts = PurePosixPath(member.name).parts
            yield (PurePosixPath(*parts[1:]) if parts and parts[0] == top else PurePosixPath(member.name)), member


def download(container, root, wanted, dest, place=None):
    """Copy the files ``wanted`` (relative to ``root`` in the container) into ``dest``.

    Uses the Engine API's archive download, so it works with remote engines; a few files are
    fetched one by one (the folder may hold large data the program only read). Only regular
    files are written, and only inside ``dest``. ``place`` maps a file's path relative to
    ``root`` to where it goes under ``dest`` (default: the same).

    Returns:
        the written host paths.
    """
    wanted = {str(p) for p in wanted}
    if not wanted:
        return []
    place = place or (lambda rel: rel)
    dest = Path(dest)
    written = []

    def write(rel, archive, member):
        target_rel = PurePosixPath(place(rel))
        if str(rel) not in wanted or ".." in target_rel.parts or target_rel.is_absolute() or ".." in rel.parts:
            return
        target = dest.joinpath(*target_rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = archive.extractfile(member)
        if source is None:
            return
        with source, open(target, "xb") as out:
            out.write(source.read())
        written.append(target)

    if len(wanted) <= FILES_ONE_BY_ONE:
        for rel in sorted(wanted):
            try:
                with _archive(container, f"{root.rstrip('/')}/{rel}") as archive:
                    # the archive of one file holds just that file, under its own name
                    for member in archive.getmembers():
                        if member.isfile() and member.name == PurePosixPath(rel).name:
                            write(PurePosixPath(rel), archive, member)
            except (APIError, NotFound):
                continue
    else:
        with _archive(container, root) as archive:
            for rel, member in _members(archive, PurePosixPath(root).name):
                write(rel, archive, member)
    return sorted(written)


def collect_outputs(container, dest, root="/app"):
    """What the program wrote under ``root``, into ``dest``: files in its working folder keep their
    path relative to it; files it wrote elsewhere in the project go under ``project-files/``."""
    from .layout import PROJECT_FILES

    workdir = PurePosixPath((container.attrs.get("Config") or {}).get("WorkingDir") or root)
    try:
        inside = workdir.relative_to(PurePosixPath(root))
    except ValueError:
        inside = PurePosixPath(".")

    def place(rel):
        rel = PurePosixPath(rel)
        if str(inside) in (".", ""):
            return str(rel)
        try:
            return str(rel.relative_to(inside))
        except ValueError:
            return f"{PROJECT_FILES}/{rel}"

    return download(container, root, changed_files(container, root), dest, place)


def container_facts(container):
    """Name, image, state, published ports and age of a container, as plain data."""
    import datetime

    ports = ", ".join(
        f"{b[0]['HostIp']}:{b[0]['HostPort']}->{inner}" for inner, b in (container.ports or {}).items() if b
    )
    created = container.attrs.get("Created", "")
    age = ""
    try:
        started = datetime.datetime.fromisoformat(created[:19]).replace(tzinfo=datetime.timezone.utc)
        seconds = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
        age = next(
            f"{int(seconds // s)} {u}"
            for s, u in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))
            if seconds >= s or u == "s"
        )
    except ValueError:
        pass
    return {
        "name": container.name,
        "image": container.labels.get(LABEL_IMAGE, ""),
        "state": container.status,
        "ports": ports,
        "age": age,
    }


def service_facts(service):
    """Name, image, state (running/desired replicas), published ports and age of a service."""
    import datetime

    spec = service.attrs.get("Spec") or {}
    tasks = service_tasks(service)
    running = sum(t["state"] == "running" for t in tasks)
    desired = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", "?")
    ports = ", ".join(
        f"{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')} ({p.get('PublishMode')})"
        for p in ((spec.get("EndpointSpec") or {}).get("Ports") or [])
    )
    age = ""
    try:
        created = datetime.datetime.fromisoformat(service.attrs.get("CreatedAt", "")[:19])
        seconds = (datetime.datetime.utcnow() - created).total_seconds()
        age = f"{int(seconds // 60)} min" if seconds >= 60 else f"{int(seconds)} s"
    except ValueError:
        pass
    labels = spec.get("Labels") or {}
    return {
        "name": service.name,
        "image": labels.get(LABEL_IMAGE, ""),
        "state": f"service {running}/{desired}",
        "ports": ports,
        "age": age,
    }


def containers(client, all=True, user=None):
    """dockermagic's containers on the engine (only ``user``'s, a ``user@host`` label, when given)."""
    labels = [LABEL_VERSION] + ([f"{LABEL_USER}={user}"] if user else [])
    return client.containers.list(all=all, filters={"label": labels})


# --- Docker Swarm ------------------------------------------------------------------------------


def swarm_facts(client):
    """``(is a manager, number of nodes)`` of the engine's Swarm; ``(False, 0)`` outside one."""
    try:
        swarm = client.info().get("Swarm") or {}
    except APIError:
        return False, 0
    active = swarm.get("LocalNodeState") == "active"
    return bool(active and swarm.get("ControlAvailable")), int(swarm.get("Nodes") or 0) if active else 0


def cpu_count(client):
    """CPUs of the engine's host (``docker info`` NCPU), at least 1."""
    try:
        return max(1, int(client.info().get("NCPU") or 1))
    except (APIError, ValueError, TypeError):
        return 1


def swarm_cpus(client):
    """CPUs of the Swarm's ready nodes together, at least 1."""
    try:
        nodes = client.nodes.list()
    except APIError:
        return 1
    total = sum(
        int(((n.attrs.get("Description") or {}).get("Resources") or {}).get("NanoCPUs", 0)) // 10**9
        for n in nodes
        if (n.attrs.get("Status") or {}).get("State") == "ready"
    )
    return max(1, total)


def registry_has(client, ref):
    """Whether the registry of ``ref`` serves it (asked through the engine, as a node would pull it)."""
    try:
        client.api.inspect_distribution(str(ref))
        return True
    except (APIError, NotFound):
        return False


def create_secret(client, name, data, labels):
    """A Swarm secret (a file under ``/run/secrets/`` in the tasks that get it); returns its id."""
    try:
        return client.secrets.create(name=name, data=data.encode() if isinstance(data, str) else data, labels=labels).id
    except APIError as exc:
        raise RunError(f"cannot create the Swarm secret {name}: {exc.explanation or exc}") from None


def remove_secret(client, secret_id):
    try:
        client.api.remove_secret(secret_id)
    except (APIError, NotFound):
        pass


JOB_STOP_GRACE_NS = 3_000_000_000


def create_job(client, spec, *, retries=0, constraints=(), secrets=(), command=None):
    """A one-replica service running ``spec`` (a :class:`~dockermagic.backends.TaskSpec`) once:
    Swarm restarts a failed task up to ``retries`` times, and a task that completes is not
    restarted. Not a ``replicated-job``: removing one leaves its containers on the nodes
    (moby/moby#44312), while a replicated service's containers go with it.

    ``secrets`` are ``(secret id, secret name, file name)``.
    """
    from docker.types import Resources, RestartPolicy, SecretReference, ServiceMode

    resources = Resources(
        cpu_limit=int(spec.cpus * 1e9) if spec.cpus else None, mem_limit=int(spec.memory) if spec.memory else None
    )
    try:
        return client.services.create(
            spec.image,
            command=list(command or spec.command or []) or None,
            name=spec.name,
            env=[f"{k}={v}" for k, v in spec.env.items()],
            labels=spec.labels,
            container_labels=spec.labels,
            mode=ServiceMode("replicated", replicas=1),
            # max_attempts 0 would mean "no limit": no retries is condition "none"
            restart_policy=RestartPolicy(condition="on-failure", delay=0, max_attempts=int(retries))
            if retries
            else RestartPolicy(condition="none"),
            resources=resources,
            constraints=list(constraints) or None,
            secrets=[SecretReference(sid, name, filename=file) for sid, name, file in secrets] or None,
            # a program run as PID 1 ignores SIGTERM: a stopped sweep's tasks are killed soon after
            stop_grace_period=JOB_STOP_GRACE_NS,
        )
    except APIError as exc:
        raise RunError(f"cannot create the Swarm service {spec.name}: {exc.explanation or exc}") from None


def service_tasks(service):
    """The service's tasks as plain data: ``state``, ``node``, ``exit_code``, ``error``, ``created``."""
    try:
        tasks = service.tasks()
    except (APIError, NotFound):
        return []
    found = []
    for task in tasks:
        status = task.get("Status") or {}
        found.append(
            {
                "id": task.get("ID"),
                "state": status.get("State"),
                "desired": task.get("DesiredState"),
                "node": task.get("NodeID"),
                "exit_code": (status.get("ContainerStatus") or {}).get("ExitCode"),
                "error": status.get("Err") or "",
                "created": task.get("CreatedAt") or "",
            }
        )
    return sorted(found, key=lambda t: t["created"])


def service_logs(service):
    """Everything the service's tasks printed (stdout and stderr), and the stderr part."""

    def read(**streams):
        try:
            return b"".join(service.logs(timestamps=False, **streams)).decode("utf-8", errors="replace")
        except (APIError, NotFound):
            return ""

    return read(stdout=True, stderr=True), read(stdout=False, stderr=True)


def remove_service(service):
    """Remove a service (its tasks stop)."""
    try:
        service.remove()
    except (APIError, NotFound):
        pass


def node_name(client, node_id=None):
    """A node's host name (``docker node ls``), or the engine's own host name."""
    if node_id is None:
        try:
            return client.info().get("Name") or "local"
        except APIError:
            return "local"
    try:
        node = client.nodes.get(node_id)
        return (node.attrs.get("Description") or {}).get("Hostname") or node_id[:12]
    except (APIError, NotFound):
        return node_id[:12]


def services(client, user=None):
    """dockermagic's services on the Swarm (only ``user``'s when given)."""
    labels = [LABEL_VERSION] + ([f"{LABEL_USER}={user}"] if user else [])
    try:
        return client.services.list(filters={"label": labels})
    except APIError:
        return []
