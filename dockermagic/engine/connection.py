"""Reaching the engine: where it is, a client for it, what it can run (GPUs, CPUs)."""

import os

import docker
from docker.errors import APIError, DockerException

from .. import wording
from ..errors import (
    EngineUnavailable,
)


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


def gpu_runtime_available(client):
    """Whether the engine has a GPU-capable runtime."""
    try:
        info = client.info()
    except APIError:
        return False
    return "nvidia" in (info.get("Runtimes") or {})


def cpu_count(client):
    """CPUs of the engine's host (``docker info`` NCPU), at least 1."""
    try:
        return max(1, int(client.info().get("NCPU") or 1))
    except (APIError, ValueError, TypeError):
        return 1
