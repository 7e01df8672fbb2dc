"""Services: a ``--serve`` image as a replicated Docker Swarm service, and rolling it to a new image.

``%docker_run IMAGE -p 8080:8000 --replicas 3 -d`` on a Swarm manager creates a service of 3
replicas with the image's health check. Ports are published through the routing mesh by
default, or with ``--publish-mode host`` on each node's own address (then at most one replica
per node, so their ports do not collide, and DNS round robin: ``--endpoint-mode dnsrr``).
``%docker_run IMAGE --update`` rolls the service of the same image repository to the image as
it is now, one replica at a time, each started only when the one before is healthy (start
first where the routing mesh allows it; in host mode a node's port is free only once its old
replica has stopped, so the old one stops first there and clients use the other nodes).
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Optional

from . import __version__, engine
from .errors import DockermagicError, RunError
from .layout import LABEL_IMAGE, LABEL_USER, LABEL_VERSION, user_label
from .reference import ImageRef, slug
from .request import RunRequest
from .results import Run


def _ports(request: RunRequest, mode: str):
    from docker.types import EndpointSpec

    ports = {}
    for binding in request.ports:
        inner, _, proto = binding.container.partition("/")
        ports[binding.host_port] = (int(inner), proto or "tcp", mode)
    return EndpointSpec(mode="dnsrr" if mode == "host" else "vip", ports=ports or None)


def _find(client, image: ImageRef):
    for service in engine.services(client):
        if ImageRef.parse(service.attrs["Spec"]["Labels"].get(LABEL_IMAGE, "x")).repository == image.repository:
            return service
    return None


def _manager(client) -> int:
    manager, nodes = engine.swarm_facts(client)
    if not manager:
        raise DockermagicError(
            f"--replicas and --update run a Swarm service: the engine at {engine.engine_address()} is not a "
            "Swarm manager (point DOCKER_HOST at one, or run without --replicas)"
        )
    return nodes


def start_service(request: RunRequest, image: ImageRef, client=None) -> Run:
    """Create a replicated service of ``image`` (the engine must manage a Swarm)."""
    from docker.types import ServiceMode, UpdateConfig

    client = client or engine.connect()
    nodes = _manager(client)
    from .backends.swarm import check_image_reachable

    check_image_reachable(client, str(image), nodes)
    mode = request.publish_mode or "ingress"
    replicas = int(request.replicas or 1)
    if mode == "host" and replicas > nodes:
        raise DockermagicError(
            f"--replicas {replicas} with --publish-mode host needs one node per replica; the Swarm has {nodes}"
        )
    name = request.name or f"dm-{slug(image.short)}-{secrets.token_hex(3)}"
    labels = {LABEL_VERSION: __version__, LABEL_IMAGE: str(image), LABEL_USER: user_label()}
    order = "stop-first" if mode == "host" else "start-first"
    try:
        service = client.services.create(
            str(image),
            command=list(request.command) if request.command else None,
            name=name,
            env=[f"{k}={v}" for k, v in request.env.items()],
            labels=labels,
            container_labels=labels,
            mode=ServiceMode("replicated", replicas=replicas),
            endpoint_spec=_ports(request, mode),
            maxreplicas=1 if mode == "host" else None,
            update_config=UpdateConfig(parallelism=1, order=order, failure_action="rollback", monitor=5_000_000_000),
        )
    except Exception as exc:  # docker's APIError and the SDK's argument errors alike
        raise RunError(f"cannot create the service {name}: {getattr(exc, 'explanation', None) or exc}") from None
    wait_converged(service, replicas)
    ports = {b.container: f"{'<each node>' if mode == 'host' else b.host_ip}:{b.host_port}" for b in request.ports}
    return Run(image=str(image), name=name, ports=ports, detached=True, node=f"{replicas} replicas on the Swarm")


def update_service(request: RunRequest, image: ImageRef, client=None) -> Run:
    """Roll the service running ``image``'s repository to ``image`` as it is now."""
    client = client or engine.connect()
    _manager(client)
    service = _find(client, image)
    if service is None:
        raise DockermagicError(f"--update: no dockermagic service runs {image.repository} (see %docker_ps)")
    local = engine.local_image(client, str(image))
    # the same tag names a new image after a rebuild: pin the update to what the tag names now
    target = str(image)
    if local is not None and local.attrs.get("RepoDigests"):
        target = local.attrs["RepoDigests"][0]
    try:
        service.update(
            image=target, force_update=True, labels={**service.attrs["Spec"]["Labels"], LABEL_IMAGE: str(image)}
        )
    except Exception as exc:
        raise RunError(f"cannot update {service.name}: {getattr(exc, 'explanation', None) or exc}") from None
    replicas = ((service.attrs["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)
    wait_updated(client, service.id)
    return Run(image=str(image), name=service.name, detached=True, node=f"{replicas} replicas on the Swarm")


def wait_converged(service: Any, replicas: int, timeout: float = 180) -> None:
    """Wait until ``replicas`` tasks run (and are healthy where the image has a health check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [t for t in engine.service_tasks(service) if t["desired"] == "running"]
        running = [t for t in tasks if t["state"] == "running"]
        failed = [t for t in engine.service_tasks(service) if t["state"] in ("failed", "rejected")]
        if len(running) >= replicas:
            return
        if failed and len(failed) >= 3 * replicas:
            raise RunError(f"{service.name}: its tasks keep failing: {failed[-1]['error'] or 'exited'}")
        time.sleep(0.5)
    raise RunError(f"{service.name}: {replicas} replicas did not start within {timeout:.0f} s")


def wait_updated(client, service_id: str, timeout: float = 300) -> Optional[str]:
    """Wait until a rolling update ends; its final state (``completed``, ``rollback_completed``...)."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        status = client.services.get(service_id).attrs.get("UpdateStatus") or {}
        state = status.get("State")
        if state in ("completed", "rollback_completed", "paused", "rollback_paused"):
            if state != "completed":
                raise RunError(f"the update stopped ({state}): {status.get('Message', '')}")
            return state
        time.sleep(0.5)
    raise RunError(f"the update did not finish within {timeout:.0f} s (state {state})")
