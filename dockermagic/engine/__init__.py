"""The Docker engine: this package is the only part of dockermagic that talks to it (through
the Docker SDK for Python). Callers use it as one module (``engine.pull(...)``); inside, one
module per engine object: the connection, images, builds, containers, files out of a
container, and Docker Swarm.

Works the same with a local engine and a remote one (``DOCKER_HOST=ssh://...`` or
``tcp://...``): files go in as the build context and come back through the Engine API's
archive download, never through host bind mounts.
"""

from .builds import PROXY_VARIABLES, build_args, build_stream, discard_images, stop_step, sweep_build
from .connection import connect, cpu_count, engine_address, gpu_runtime_available
from .containers import (
    container_facts,
    containers,
    create_volume,
    follow,
    port_holder,
    remove_container,
    remove_volume,
    start_container,
    stop_container,
)
from .files import changed_files, collect_outputs, download
from .images import (
    base_image_facts,
    ensure_base,
    image_by_id,
    local_image,
    optional_image,
    pull,
    push,
    registry_has,
    retire_replaced,
)
from .swarm import (
    create_job,
    create_secret,
    node_name,
    remove_secret,
    remove_service,
    service_facts,
    service_logs,
    service_tasks,
    services,
    swarm_cpus,
    swarm_facts,
)

__all__ = [
    "PROXY_VARIABLES",
    "base_image_facts",
    "build_args",
    "build_stream",
    "changed_files",
    "collect_outputs",
    "connect",
    "container_facts",
    "containers",
    "cpu_count",
    "create_job",
    "create_secret",
    "create_volume",
    "discard_images",
    "download",
    "engine_address",
    "ensure_base",
    "follow",
    "gpu_runtime_available",
    "image_by_id",
    "local_image",
    "node_name",
    "optional_image",
    "port_holder",
    "pull",
    "push",
    "registry_has",
    "remove_container",
    "remove_secret",
    "remove_service",
    "remove_volume",
    "retire_replaced",
    "service_facts",
    "service_logs",
    "service_tasks",
    "services",
    "start_container",
    "stop_step",
    "stop_container",
    "swarm_cpus",
    "swarm_facts",
    "sweep_build",
]
