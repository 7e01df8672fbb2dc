"""Docker Swarm: its size, services (one-replica jobs of a sweep and replicated web services),
their tasks and logs, secrets, and the registry the nodes pull from."""

from docker.errors import APIError, NotFound

from ..errors import (
    RunError,
)
from ..layout import LABEL_IMAGE, LABEL_USER, LABEL_VERSION


def swarm_facts(client):
    """``(is a manager, number of nodes)`` of the engine's Swarm; ``(False, 0)`` outside one."""
    try:
        swarm = client.info().get("Swarm") or {}
    except APIError:
        return False, 0
    active = swarm.get("LocalNodeState") == "active"
    return bool(active and swarm.get("ControlAvailable")), int(swarm.get("Nodes") or 0) if active else 0


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
