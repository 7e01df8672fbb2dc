"""The Dockerfile, rendered as text from plain data (no I/O).

Two stages: a builder that installs the requirements into a virtual environment with the
package-index settings and CA bundle it needs, and a final stage that gets only that
environment and the program, compiles the bytecode of what the program imports, runs as a
non-root user and starts with an exec-form CMD.
Everything stays within what Docker's classic builder accepts (no BuildKit syntax).
"""

import json
from dataclasses import dataclass, field
from typing import Optional

from . import __version__
from .layout import APP, BUILD_SUPPORT, CACHE_DIR, LABEL_STAGE, REBUILD_ARG, RUNTIME_HOME, RUNTIME_PACKAGE, UID, VENV

#: the uv release the builder stage uses
UV_VERSION = "0.9.5"
#: uv's own image (only ``/uv`` and ``/uvx``), the way uv's documentation brings it into a build
UV_IMAGE = f"ghcr.io/astral-sh/uv:{UV_VERSION}"


@dataclass
class DockerfileSpec:
    """What the Dockerfile says.

    Attributes:
        base: the base image of both stages, e.g. ``python:3.11-slim``.
        command: exec-form command run in ``/app``.
        has_requirements: whether ``requirements.txt`` lists anything.
        pip_config: whether ``.dockermagic/pip.conf`` exists in the context (index settings).
        uv_config: whether ``.dockermagic/uv.toml`` exists in the context (the same for uv).
        installer: ``uv`` (the default: installed in the builder stage only) or ``pip``.
        uv_version: the uv release the builder stage installs with pip when there is no ``uv_image``.
        uv_image: an image holding ``/uv`` (uv's own, :data:`UV_IMAGE`) to copy uv from, which is
            faster than installing it; None when the engine cannot get it.
        ca_bundle: whether ``.dockermagic/ca-bundle.pem`` exists in the context.
        precompile: dotted modules the program imports; the final stage imports them once so
            that their bytecode is in the image (the program's user cannot write it). Worth
            its build seconds where start-up latency counts: services, Jupyter forms.
        labels: image labels (``org.dockermagic.*``).
        env: extra environment of the final image.
        expose: ports the program listens on.
        healthcheck: exec-form health check command, or None.
        source: the notebook, for the header comment.
        apt: Debian packages the final stage installs (system libraries and programs).
        check_args: arguments of the in-image check that every extension module's libraries
            (and the programs the code runs) resolve; None for no check.
        workdir: the program's folder: the notebook's own folder inside the project (``/app/...``).
        host_root: the project's folder on the notebook's machine, when the program uses
            absolute paths inside it: that path leads to ``/app`` in the image too.
    """

    base: str
    command: list[str]
    has_requirements: bool = True
    pip_config: bool = False
    uv_config: bool = False
    installer: str = "uv"
    uv_version: str = UV_VERSION
    uv_image: Optional[str] = None
    ca_bundle: bool = False
    precompile: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    healthcheck: Optional[list[str]] = None
    source: str = ""
    apt: list[str] = field(default_factory=list)
    check_args: Optional[list[str]] = None
    workdir: str = APP
    host_root: Optional[str] = None


def _quote(value):
    return json.dumps(str(value))


def _builder_env(spec):
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1", "PIP_ROOT_USER_ACTION": "ignore"}
    if spec.pip_config:
        env["PIP_CONFIG_FILE"] = f"{BUILD_SUPPORT}/pip.conf"
    if spec.installer == "uv":
        env["UV_NO_CACHE"] = "1"
        if spec.uv_config:
            env["UV_CONFIG_FILE"] = f"{BUILD_SUPPORT}/uv.toml"
        if spec.ca_bundle:
            env["SSL_CERT_FILE"] = f"{BUILD_SUPPORT}/ca-bundle.pem"
    return "ENV " + " ".join(f"{k}={v}" for k, v in env.items())


def _install_commands(spec):
    if spec.installer != "uv":
        commands = [f"python -m venv {VENV}"]
        if spec.has_requirements:
            commands.append(f"{VENV}/bin/pip install --no-cache-dir -r {BUILD_SUPPORT}/requirements.txt")
        return commands
    # the environment itself gets neither pip nor uv
    commands = [f"python -m venv --without-pip {VENV}"]
    if spec.has_requirements and spec.uv_image:
        commands.append(f"uv pip install --python {VENV}/bin/python -r {BUILD_SUPPORT}/requirements.txt")
    elif spec.has_requirements:
        # uv goes into the builder's own folder with the base image's pip (a base without pip
        # gets it from ensurepip first)
        commands += [
            "{ python -c 'import importlib.util as u, sys; sys.exit(not u.find_spec(\"pip\"))' "
            "|| python -m ensurepip --default-pip >/dev/null; }",
            f"python -m pip install --no-cache-dir --no-deps --no-compile --target {BUILD_SUPPORT}/uv "
            f"uv=={spec.uv_version}",
            f"{BUILD_SUPPORT}/uv/bin/uv pip install --python {VENV}/bin/python -r {BUILD_SUPPORT}/requirements.txt",
            f"rm -rf {BUILD_SUPPORT}/uv",
        ]
    return commands


def render(spec):
    """The Dockerfile for ``spec``, as a string."""
    runtime = RUNTIME_PACKAGE
    uv_stage = spec.installer == "uv" and spec.has_requirements and spec.uv_image
    lines = [
        f"# Generated by dockermagic {__version__}" + (f" from {spec.source}" if spec.source else "") + ".",
        "# Dependencies are installed in a layer of their own, before the code, so a code-only",
        "# change rebuilds in seconds. Index settings and CA certificates stay in the builder stage.",
    ]
    if uv_stage:
        lines.append(f"FROM {spec.uv_image} AS uv")
    lines += [f"FROM {spec.base} AS builder", f"LABEL {LABEL_STAGE}=builder", _builder_env(spec)]
    if uv_stage:
        lines.append("COPY --from=uv /uv /usr/local/bin/uv")
    lines += [
        f"COPY .dockermagic/ {BUILD_SUPPORT}/",
        f"COPY requirements.txt {BUILD_SUPPORT}/requirements.txt",
        f"ARG {REBUILD_ARG}",
        "RUN " + " \\\n && ".join(_install_commands(spec)),
        "",
        f"FROM {spec.base}",
    ]
    if spec.apt:
        lines += [
            "# System libraries and programs the environment needs (see the dry run for why each).",
            "# Not pinned: the base image's release updates them together with the libraries they depend on.",
            "# hadolint ignore=DL3008",
            "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends "
            + " ".join(sorted(spec.apt))
            + " >/dev/null && rm -rf /var/lib/apt/lists/*",
        ]
    env = {
        "PATH": f"{VENV}/bin:$PATH",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": f"module://{runtime}.mpl_backend",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONPATH": RUNTIME_HOME,
    }
    env.update(spec.env)
    lines.append("ENV " + " \\\n    ".join(f"{k}={_quote(v) if ' ' in str(v) else v}" for k, v in env.items()))
    link = ""
    if spec.host_root and spec.host_root != APP:
        parent = spec.host_root.rsplit("/", 1)[0] or "/"
        link = f" && mkdir -p {parent} && ln -s {APP} {spec.host_root}"
    lines.append(
        f"RUN useradd --create-home --uid {UID} --user-group app && mkdir -p {spec.workdir} {CACHE_DIR} "
        f"&& chown -R app:app {APP} {CACHE_DIR}{link}"
    )
    lines.append(f"COPY --from=builder {VENV} {VENV}")
    lines.append(f"WORKDIR {spec.workdir}")
    lines.append(f"COPY runtime/ {RUNTIME_HOME}/")
    if spec.check_args is not None:
        # an extension module whose libraries do not resolve fails the build here, not the import later
        lines.append("RUN " + json.dumps(["python", "-m", f"{runtime}.checklibs", "--venv", VENV, *spec.check_args]))
    if spec.precompile:
        lines.append(f"RUN python -m {runtime}.precompile --owner {UID} " + " ".join(spec.precompile))
    lines.append(f"COPY --chown={UID}:{UID} app/ {APP}/")
    lines.append(f"USER {UID}")
    for port in spec.expose:
        lines.append(f"EXPOSE {int(port)}")
    if spec.healthcheck:
        lines.append(
            "HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD " + json.dumps(spec.healthcheck)
        )
    if spec.labels:
        lines.append("LABEL " + " \\\n      ".join(f"{k}={_quote(v)}" for k, v in sorted(spec.labels.items())))
    lines.append("CMD " + json.dumps(spec.command))
    return "\n".join(lines) + "\n"
