"""What the user asked for, checked once: :class:`BuildRequest`, :class:`RunRequest` and the
:class:`KernelContext` the magics capture.

Every option rule lives here (forms, ``--serve``/``--function``/``--carry``, tags and the
default ``:latest``, ports, ``-e``/``-v`` syntax). A request that exists is valid; later
stages never re-check options.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import wording
from .errors import DockermagicError
from .layout import LAB_PORT
from .reference import ImageRef

FORMS = ("script", "notebook", "lab")
INSTALLERS = ("uv", "pip")


@dataclass(frozen=True)
class KernelContext:
    """The live kernel a magic runs in.

    Attributes:
        shell: IPython's ``InteractiveShell`` (None outside a kernel).
        current_cell: the raw text of the cell calling ``%dockerize``; the program is the cells
            above it. None packages every cell (the JupyterLab button, the Python API).
        failed: ``{execution count: failing line}`` of the cells that raised since the extension
            was loaded (the line None when the traceback did not tell).
    """

    shell: Any = None
    current_cell: Optional[str] = None
    failed: Mapping[int, Optional[int]] = field(default_factory=dict)

    @classmethod
    def current(cls) -> KernelContext:
        """The kernel this code runs in, if any (no cell: everything the notebook holds)."""
        try:
            from IPython import get_ipython
        except ImportError:
            return cls()
        return cls(shell=get_ipython())

    @property
    def user_ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}


def _port(value: Any, option: str) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise DockermagicError(f"{option} {value!r}: a port is a number from 1 to 65535")
    return port


def _ref(value: Any, pinned: bool = True) -> Optional[ImageRef]:
    if value is None or value == "":
        return None
    ref = ImageRef.parse(value)
    return ref.pinned() if pinned else ref


@dataclass(frozen=True)
class BuildRequest:
    """Everything ``%dockerize`` was asked to do (see :func:`dockermagic.dockerize` for each option);
    :meth:`from_options` makes one from what the user typed.

    Derived rules: :attr:`port` (the service's port: ``serve``, or 8888 for the lab form),
    :attr:`health_path`, and :attr:`compiles` (bytecode at build time).
    """

    notebook: Optional[Path] = None
    tag: Optional[ImageRef] = None
    form: str = "script"
    base: Optional[ImageRef] = None
    body: Optional[str] = None
    include: tuple[str, ...] = ()
    installer: str = "uv"
    precompile: Optional[bool] = None
    allow_secrets: bool = False
    no_cache: bool = False
    serve: Optional[int] = None
    function: Optional[str] = None
    carry: tuple[str, ...] = ()
    push: Optional[ImageRef] = None
    verify: bool = False
    compose: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    context: Optional[Path] = None
    apt: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, **options: Any) -> BuildRequest:
        """A request from options as a user gives them: text for paths, tags, ports and
        ``--compose`` services; everything is parsed and checked."""
        from . import compose as _compose

        raw = dict(options)
        for key in ("notebook", "context"):
            raw[key] = Path(raw[key]).expanduser() if raw.get(key) else None
        raw["tag"] = _ref(raw.get("tag"))
        raw["base"] = _ref(raw.get("base"), pinned=False)
        raw["push"] = _ref(raw.get("push"))
        raw["serve"] = _port(raw.get("serve"), "--serve")
        raw["include"] = tuple(str(p) for p in raw.get("include") or ())
        raw["carry"] = tuple(raw.get("carry") or ())
        raw["compose"] = tuple(_compose.parse(raw.get("compose") or ()).items())
        raw["apt"] = tuple(raw.get("apt") or ())
        raw["exclude"] = tuple(str(p) for p in raw.get("exclude") or ())
        return cls(**raw)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise DockermagicError(f"unknown program form {self.form!r}: use one of {', '.join(FORMS)}")
        if self.installer not in INSTALLERS:
            raise DockermagicError(f"unknown installer {self.installer!r}: use one of {', '.join(INSTALLERS)}")
        if (self.serve or self.function or self.carry) and self.form != "script":
            raise DockermagicError("--serve, --function and --carry go with the script form")
        for package in self.apt:
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package):
                raise DockermagicError(f"--apt {package!r}: not a Debian package name (e.g. libgl1, graphviz)")
        if self.function and not self.serve:
            raise DockermagicError("--function NAME needs --serve PORT")
        if self.serve and not self.function and not (self.body and self.body.strip()):
            raise DockermagicError(
                f"--serve PORT needs {wording.app_body()}, or --function NAME to serve a function as a JSON endpoint"
            )

    @property
    def port(self) -> Optional[int]:
        """The port the image's program listens on: ``--serve``, or JupyterLab's in the lab form."""
        return LAB_PORT if self.form == "lab" else self.serve

    @property
    def health_path(self) -> Optional[str]:
        """The path the health check GETs; None for a plain TCP connect."""
        if self.form == "lab":
            return "/api"
        return "/health" if self.function else None

    @property
    def compiles(self) -> bool:
        """Whether the image compiles its imports' bytecode at build time: by default where
        start-up latency counts (a service, Jupyter) rather than first-build time (a batch program)."""
        return self.precompile if self.precompile is not None else bool(self.serve) or self.form != "script"

    @property
    def touches_engine(self) -> bool:
        """False for ``--dry-run`` and ``--context``, which need no engine at all."""
        return not (self.dry_run or self.context is not None)


@dataclass(frozen=True)
class PortBinding:
    """One ``-p``: the container's port (``5000/tcp``) published on ``host_ip:host_port``."""

    container: str
    host_ip: str
    host_port: int

    @property
    def shown(self) -> str:
        """Where to reach it: ``127.0.0.1:8080`` (0.0.0.0 shown as 127.0.0.1)."""
        ip = self.host_ip if self.host_ip not in ("0.0.0.0", "") else "127.0.0.1"
        return f"{ip}:{self.host_port}"


def parse_port(text: str) -> PortBinding:
    """``-p`` syntax: ``8080:5000`` publishes 5000 on 127.0.0.1:8080; ``5000`` publishes 5000 on
    5000; ``0.0.0.0:8080:5000`` publishes on every interface, as asked; ``/udp`` may follow."""
    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            ip, host, inner = "127.0.0.1", parts[0], parts[0]
        elif len(parts) == 2:
            ip, (host, inner) = "127.0.0.1", parts
        elif len(parts) == 3:
            ip, host, inner = parts
        else:
            raise ValueError
        proto = "tcp"
        if "/" in inner:
            inner, proto = inner.split("/", 1)
        if "/" in host:
            host = host.split("/", 1)[0]
        host_port, inner_port = int(host), int(inner)
        if not (0 < host_port < 65536 and 0 < inner_port < 65536) or proto not in ("tcp", "udp"):
            raise ValueError
    except ValueError:
        raise DockermagicError(
            f"invalid port {text!r}: use HOST:CONTAINER (8080:5000), CONTAINER (5000) or IP:HOST:CONTAINER"
        ) from None
    return PortBinding(f"{inner_port}/{proto}", ip, host_port)


def parse_env(items, environ=None) -> dict[str, str]:
    """``["A=1", "B"]`` -> ``{"A": "1", "B": <value of B in this process>}``."""
    environ = os.environ if environ is None else environ
    env = {}
    for item in items or ():
        name, eq, value = str(item).partition("=")
        if not name or " " in name:
            raise DockermagicError(f"invalid environment variable {item!r}: use NAME=VALUE or NAME")
        if not eq:
            if name not in environ:
                raise DockermagicError(f"-e {name}: no such variable in the kernel's environment; use {name}=VALUE")
            value = environ[name]
        env[name] = value
    return env


def parse_volume(text: str) -> tuple[str, dict[str, str]]:
    """``HOST:CONTAINER[:ro]`` -> ``(host path, {"bind": CONTAINER, "mode": "rw"|"ro"})``."""
    parts = str(text).split(":")
    if (
        len(parts) not in (2, 3)
        or not parts[0]
        or not parts[1].startswith("/")
        or (len(parts) == 3 and parts[2] not in ("ro", "rw"))
    ):
        raise DockermagicError(f"invalid volume {text!r}: use HOST_DIR:/CONTAINER_DIR[:ro]")
    return (
        os.path.abspath(os.path.expanduser(parts[0])),
        {"bind": parts[1], "mode": parts[2] if len(parts) == 3 else "rw"},
    )


@dataclass(frozen=True)
class RunRequest:
    """Everything ``%docker_run`` was asked to do (see :func:`dockermagic.run` for each option);
    :meth:`from_options` makes one from what the user typed."""

    image: Optional[ImageRef] = None
    command: Optional[tuple[str, ...]] = None
    ports: tuple[PortBinding, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    detach: bool = False
    timeout: Optional[float] = None
    gpus: Optional[str] = None
    name: Optional[str] = None
    outputs: Optional[Path] = None
    check: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    cpus: Optional[float] = None
    memory: Optional[int] = None
    replicas: Optional[int] = None
    publish_mode: Optional[str] = None
    update: bool = False

    @classmethod
    def from_options(cls, **options: Any) -> RunRequest:
        """A request from options as a user gives them: ``-p``/``-e``/``-v`` strings, an image
        name, an outputs path, ``--param NAME=VALUE``; everything is parsed and checked."""
        from .parameters import parse as parse_params

        raw = dict(options)
        params = raw.get("params") or {}
        raw["params"] = dict(params) if isinstance(params, dict) else parse_params(params)
        raw["memory"] = parse_memory(raw.get("memory"))
        raw["cpus"] = parse_cpus(raw.get("cpus"))
        raw["image"] = _ref(raw.get("image"))
        raw["command"] = tuple(str(w) for w in raw["command"]) or None if raw.get("command") else None
        raw["ports"] = tuple(parse_port(p) for p in raw.get("ports") or ())
        env = raw.get("env") or {}
        raw["env"] = dict(env) if isinstance(env, dict) else parse_env(env)
        raw["volumes"] = dict(parse_volume(v) for v in raw.get("volumes") or ())
        raw["outputs"] = Path(raw["outputs"]).expanduser() if raw.get("outputs") else None
        return cls(**raw)

    @property
    def as_service(self) -> bool:
        """A replicated Swarm service (``--replicas``/``--update``) rather than one container."""
        return self.replicas is not None or self.update

    def __post_init__(self) -> None:
        if self.timeout is not None and float(self.timeout) <= 0:
            raise DockermagicError(f"--timeout {self.timeout}: give a number of seconds above 0")
        if self.replicas is not None and int(self.replicas) < 1:
            raise DockermagicError(f"--replicas {self.replicas}: give 1 or more")
        if self.replicas is not None and not self.detach:
            raise DockermagicError("--replicas runs a service that keeps running: add -d")
        if self.publish_mode and not self.as_service:
            raise DockermagicError("--publish-mode goes with --replicas (a Swarm service)")
        if self.gpus is not None and str(self.gpus) != "all" and not str(self.gpus).isdigit():
            raise DockermagicError(f"--gpus {self.gpus}: use all or a number of GPUs")
        if self.name is not None:
            import re

            if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", self.name):
                raise DockermagicError(
                    f"invalid container name {self.name!r}: letters, digits and . _ - (starting with a letter or digit)"
                )


def parse_memory(value: Any) -> Optional[int]:
    """``--memory 512m`` / ``2g`` / bytes -> bytes."""
    if value is None or value == "":
        return None
    from docker.utils import parse_bytes

    try:
        size = int(parse_bytes(str(value)))
    except Exception:
        size = 0
    if size < 6 * 1024 * 1024:
        raise DockermagicError(f"--memory {value}: give a size of at least 6m, e.g. 512m or 2g")
    return size


def parse_cpus(value: Any) -> Optional[float]:
    """``--cpus 1.5`` -> 1.5 (a share of the machine's CPUs, as ``docker run --cpus``)."""
    if value is None or value == "":
        return None
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        cpus = 0.0
    if cpus <= 0:
        raise DockermagicError(f"--cpus {value}: give a number of CPUs above 0, e.g. 1 or 0.5")
    return cpus


@dataclass(frozen=True)
class SweepRequest:
    """Everything ``%docker_sweep`` was asked to do (see :func:`dockermagic.sweep`).

    Attributes:
        points: the grid's points, ``{name: value}`` each, in order.
        parallel: at most this many points at once (None: the engine's CPU count).
        retries: how many times a failed point runs again.
        resume: skip points an earlier sweep of the same image and grid finished.
        swarm: run on the Docker Swarm the engine manages (also chosen when it is a manager).
        push: push the image here first, so every node can pull it.
        constraints: Swarm placement constraints (``node.labels.gpu==true``).
        store: ``s3://BUCKET/PREFIX`` where tasks on other nodes put their outputs.
    """

    image: Optional[ImageRef] = None
    points: tuple[dict[str, Any], ...] = ()
    parallel: Optional[int] = None
    retries: int = 0
    resume: bool = False
    cpus: Optional[float] = None
    memory: Optional[int] = None
    timeout: Optional[float] = None
    name: Optional[str] = None
    outputs: Optional[Path] = None
    env: dict[str, str] = field(default_factory=dict)
    swarm: bool = False
    push: Optional[ImageRef] = None
    constraints: tuple[str, ...] = ()
    store: Optional[str] = None

    @classmethod
    def from_options(cls, **options: Any) -> SweepRequest:
        """A request from what the user typed: ``--grid NAME=V1,V2`` strings (or a ``grid`` dict),
        a ``--grid-file``, sizes and counts as text."""
        from . import grid as _grid

        raw = dict(options)
        grid = raw.pop("grid", None) or {}
        grid_file = raw.pop("grid_file", None)
        if not isinstance(grid, dict):
            grid = _grid.parse_grid(grid)
        points = _grid.points(grid) if grid else []
        if grid_file:
            points += _grid.read_grid_file(str(grid_file))
        raw["points"] = tuple(points)
        raw["image"] = _ref(raw.get("image"))
        raw["push"] = _ref(raw.get("push"))
        env = raw.get("env") or {}
        raw["env"] = dict(env) if isinstance(env, dict) else parse_env(env)
        raw["outputs"] = Path(raw["outputs"]).expanduser() if raw.get("outputs") else None
        raw["memory"] = parse_memory(raw.get("memory"))
        raw["cpus"] = parse_cpus(raw.get("cpus"))
        raw["constraints"] = tuple(raw.get("constraints") or ())
        return cls(**raw)

    def __post_init__(self) -> None:
        if not self.points:
            raise DockermagicError("the grid is empty: give --grid NAME=V1,V2 (repeatable) or --grid-file FILE")
        if self.parallel is not None and int(self.parallel) < 1:
            raise DockermagicError(f"--parallel {self.parallel}: run at least 1 point at a time")
        if int(self.retries) < 0:
            raise DockermagicError(f"--retries {self.retries}: give 0 or more")
        if self.timeout is not None and float(self.timeout) <= 0:
            raise DockermagicError(f"--timeout {self.timeout}: give a number of seconds above 0")
        if self.store is not None and not str(self.store).startswith("s3://"):
            raise DockermagicError(f"--store {self.store}: give s3://BUCKET/PREFIX")
        for constraint in self.constraints:
            if not any(op in constraint for op in ("==", "!=")):
                raise DockermagicError(f"--constraint {constraint!r}: write e.g. node.labels.gpu==true")
