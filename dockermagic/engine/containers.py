"""Containers: start one, follow its output, stop and remove it; volumes; who holds a port."""

import os
import threading
import time

from docker.errors import APIError, NotFound
from docker.errors import ImageNotFound as _SdkImageNotFound
from docker.types import DeviceRequest

from ..errors import (
    GPUUnavailable,
    ImageNotFound,
    PortInUse,
    RunError,
)
from ..layout import LABEL_IMAGE, LABEL_USER, LABEL_VERSION
from .connection import engine_address, gpu_runtime_available


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


def remove_container(container):
    """Stop and remove a container, whatever its state."""
    try:
        container.remove(force=True)
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


def containers(client, all=True, user=None):
    """dockermagic's containers on the engine (only ``user``'s, a ``user@host`` label, when given)."""
    labels = [LABEL_VERSION] + ([f"{LABEL_USER}={user}"] if user else [])
    return client.containers.list(all=all, filters={"label": labels})


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
