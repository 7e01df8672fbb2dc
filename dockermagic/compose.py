"""Compose: a compose file running the image beside the services the notebook talks to.

Rendered as text from plain data; the only I/O is :func:`write`, which never overwrites a
file dockermagic did not write.
"""

from pathlib import Path

from .errors import DockermagicError

HEADER = "# Written by dockermagic: run with `docker compose -f {name} up`"

#: services the notebook can talk to: image, its environment, a health check, and the
#: environment the program gets to reach it
SERVICES = {
    "postgres": {
        "image": "postgres:16",
        "environment": {"POSTGRES_PASSWORD": "postgres"},
        "healthcheck": ["CMD-SHELL", "pg_isready -U postgres"],
        "program_env": {
            "PGHOST": "postgres",
            "PGPORT": "5432",
            "PGUSER": "postgres",
            "PGPASSWORD": "postgres",
            "DATABASE_URL": "postgresql://postgres:postgres@postgres:5432/postgres",
        },
    },
    "redis": {
        "image": "redis:7",
        "environment": {},
        "healthcheck": ["CMD", "redis-cli", "ping"],
        "program_env": {"REDIS_URL": "redis://redis:6379/0"},
    },
}


def parse(specs):
    """``["postgres", "redis=my/redis:7"]`` -> ``{"postgres": "postgres:16", "redis": "my/redis:7"}``."""
    chosen = {}
    for spec in specs:
        name, _, image = spec.partition("=")
        if name not in SERVICES:
            raise DockermagicError(
                f"--compose {name}: unknown service; choose from {', '.join(sorted(SERVICES))} "
                "(NAME=IMAGE to use another image)"
            )
        chosen[name] = image or SERVICES[name]["image"]
    return chosen


def _quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(tag, services, name):
    """The compose file (YAML) for image ``tag`` and ``{service: image}``."""
    lines = [HEADER.format(name=name), "services:", "  program:", f"    image: {_quote(tag)}"]
    env = {}
    for service in services:
        env.update(SERVICES[service]["program_env"])
    if env:
        lines.append("    environment:")
        lines += [f"      {k}: {_quote(v)}" for k, v in env.items()]
    if services:
        lines.append("    depends_on:")
        for service in services:
            lines += [f"      {service}:", "        condition: service_healthy"]
    for service, image in services.items():
        spec = SERVICES[service]
        lines += [f"  {service}:", f"    image: {_quote(image)}"]
        if spec["environment"]:
            lines.append("    environment:")
            lines += [f"      {k}: {_quote(v)}" for k, v in spec["environment"].items()]
        lines += [
            "    healthcheck:",
            "      test: [" + ", ".join(_quote(t) for t in spec["healthcheck"]) + "]",
            "      interval: 2s",
            "      timeout: 5s",
            "      retries: 30",
        ]
    return "\n".join(lines) + "\n"


def write(folder, tag, services):
    """Write ``<image name>.compose.yaml`` in ``folder``; return its path."""
    from .reference import ImageRef, slug

    path = Path(folder) / f"{slug(ImageRef.parse(tag).short)}.compose.yaml"
    if path.exists() and not path.read_text().startswith(HEADER.split(":")[0]):
        raise DockermagicError(f"{path} exists and was not written by dockermagic: move it away first")
    path.write_text(render(tag, services, path.name))
    return path
