"""The Python API: :func:`dockerize` and :func:`run`. The magics, the JupyterLab button and the
command line are thin layers over these two.

Each call turns its keyword arguments into a request (:mod:`dockermagic.request`, where every
option rule is checked) and hands it to its stage: :mod:`dockermagic.building` or
:mod:`dockermagic.running`. Importing this module is cheap; the stages load on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import session
from .request import BuildRequest, KernelContext, RunRequest, SweepRequest
from .results import Image, Run

if TYPE_CHECKING:
    from .results import Sweep

OnProgress = Optional[Callable[[Any], None]]


def dockerize(
    notebook: Optional[str] = None,
    tag: Optional[str] = None,
    *,
    form: str = "script",
    base: Optional[str] = None,
    dry_run: bool = False,
    context: Optional[str] = None,
    cell: Optional[str] = None,
    include: Iterable[str] = (),
    installer: str = "uv",
    precompile: Optional[bool] = None,
    allow_secrets: bool = False,
    no_cache: bool = False,
    serve: Optional[int] = None,
    function: Optional[str] = None,
    carry: Iterable[str] = (),
    push: Optional[str] = None,
    verify: bool = False,
    compose: Iterable[str] = (),
    apt: Iterable[str] = (),
    exclude: Iterable[str] = (),
    kernel: Optional[KernelContext] = None,
    on_progress: OnProgress = None,
    on_push_progress: OnProgress = None,
) -> Image:
    """Package a notebook as a Docker image that reruns it.

    Args:
        notebook: the ``.ipynb`` file; by default the notebook of the running kernel (or, when
            there is no file, the kernel's execution history).
        tag: the image name, e.g. ``heart-roc`` or ``heart-roc:v2``; by default from the
            notebook's name (``:latest`` when no tag is given).
        form: ``script`` (the cells as one Python script; figures saved as PNG), ``notebook``
            (the notebook executed headless; writes the executed notebook and an HTML report)
            or ``lab`` (JupyterLab serving the notebook in its environment on port 8888).
        base: the base image; by default ``python:<kernel major.minor>-slim``.
        dry_run: only work out the Dockerfile and requirements; write nothing, touch no engine.
        context: write the build context to this folder and stop (no engine needed).
        cell: code to run as the program's last step (the body of ``%%dockerize``).
        include: more files or folders (relative to the notebook) to copy into the image.
        installer: ``uv`` (default) or ``pip`` for the requirements layer.
        precompile: compile the bytecode of the modules the program imports while building, so
            that starts do not (the image runs as a user who cannot write it): seconds more for
            the first build, seconds less for every start. By default only with ``serve`` and
            the notebook and lab forms.
        allow_secrets: build even if something in the image looks like a credential.
        no_cache: reinstall the requirements instead of using the engine's build cache.
        serve: the port a web service listens on: the image exposes it and gets a health check.
            The ``%%dockerize`` cell body starts the service, or ``function`` names one to serve.
        function: a function of the notebook served as ``POST /<function>`` with JSON.
        carry: names of kernel objects (a trained model) to carry into the image, serialized,
            instead of recomputing them: the cells then only contribute imports and definitions.
        push: after the build, tag the image as this ``REGISTRY/REPO[:TAG]`` and push it.
        verify: run the image once and compare each cell's printed output with what the saved
            notebook shows; differences are in ``image.differences`` and ``image.notes``.
        compose: services the program talks to (``postgres``, ``redis``, or ``NAME=IMAGE``):
            writes ``<image>.compose.yaml`` beside the notebook, running the image beside them
            with the environment to reach them (``image.compose``).
        apt: Debian packages to install besides the ones found for the libraries the program
            uses (which are installed on their own: ``image.system_packages`` says why each).
        exclude: files or folders of the project (paths or globs, relative to the notebook) to
            leave out of the image even though the program reads them (mount them at run time).
        kernel: the live kernel (its shell, the calling cell, the cells that failed); by default
            the kernel this runs in, with every cell of its notebook.
        on_progress: called with a :class:`dockermagic.progress.BuildProgress` whenever it changes
            (and at least once a second during the build).
        on_push_progress: called with a :class:`dockermagic.progress.TransferProgress` during the push.

    Returns:
        dockermagic.results.Image

    Raises:
        dockermagic.errors.DockermagicError: a one-line reason (no engine, invalid tag, a
            requirement that cannot be installed, a failed step, an interrupt, ...).

    Example:
        >>> img = dockermagic.dockerize("analysis.ipynb", tag="analysis")   # doctest: +SKIP
        >>> img.tag, [str(r) for r in img.requirements][:2]                  # doctest: +SKIP
    """
    request = BuildRequest.from_options(
        notebook=notebook,
        tag=tag,
        form=form,
        base=base,
        body=cell,
        include=tuple(include),
        installer=installer,
        precompile=precompile,
        allow_secrets=allow_secrets,
        no_cache=no_cache,
        serve=serve,
        function=function,
        carry=tuple(carry),
        push=push,
        verify=verify,
        compose=tuple(compose),
        apt=tuple(apt),
        exclude=tuple(exclude),
        dry_run=dry_run,
        context=context,
    )
    from .building import build
    from .opened import paused

    with paused():  # what dockermagic opens itself is not the notebook's data
        return build(
            request, kernel or KernelContext.current(), on_progress=on_progress, on_push_progress=on_push_progress
        )


def run(
    image: Union[str, Image, None] = None,
    args: Optional[Sequence[str]] = None,
    *,
    ports: Iterable[str] = (),
    env: Iterable[str] = (),
    volumes: Iterable[str] = (),
    detach: bool = False,
    timeout: Optional[float] = None,
    gpus: Optional[str] = None,
    name: Optional[str] = None,
    outputs: Optional[str] = None,
    check: bool = True,
    params: Union[Mapping[str, Any], Iterable[str]] = (),
    cpus: Optional[float] = None,
    memory: Optional[str] = None,
    replicas: Optional[int] = None,
    publish_mode: Optional[str] = None,
    update: bool = False,
    on_progress: OnProgress = None,
    on_pull_progress: OnProgress = None,
) -> Run:
    """Run an image and bring back what the program produced.

    Args:
        image: tag, id or :class:`Image`; by default the last image this kernel built.
        args: command to run instead of the image's own (a list).
        ports: ``-p`` strings (``"8080:5000"``); published on 127.0.0.1 unless an IP is given.
        env: ``-e`` strings (``"NAME=value"`` or ``"NAME"`` to pass the kernel's value).
        volumes: ``-v`` strings (``"data:/app/data:ro"``); nothing is mounted unless asked.
        detach: start it and return at once (``-d``).
        timeout: stop the container after this many seconds.
        gpus: ``"all"`` or a count.
        name: the container's name; by default ``dm-<image>-<random>``.
        outputs: the host folder for outputs; by default a new folder under
            ``./dockermagic-outputs/``.
        check: raise :class:`~dockermagic.errors.RunError` (with ``.run`` attached) when the
            program fails.
        params: values for the notebook's parameters cell, ``{"lr": 0.1}`` or ``["lr=0.1"]``
            (``--param``); a name the cell does not assign is refused.
        cpus: CPUs the container may use; memory: memory it may use (``"512m"``).
        replicas: on a Docker Swarm, run a ``--serve`` image as a service with this many
            replicas (with ``detach``); ``publish_mode`` ``"host"`` publishes on each node's
            address, ``"ingress"`` through the routing mesh.
        update: on a Docker Swarm, roll the running service of this image to the image as it is now.
        on_progress: called with a :class:`dockermagic.progress.RunProgress` whenever it changes.
        on_pull_progress: called with a :class:`dockermagic.progress.TransferProgress` while an
            image that is not on the engine is pulled.

    Returns:
        dockermagic.results.Run
    """
    if isinstance(image, Image):
        image = image.tag
    request = RunRequest.from_options(
        image=image or None,
        command=tuple(args) if args else None,
        ports=tuple(ports),
        env=env,
        volumes=list(volumes),
        detach=detach,
        timeout=timeout,
        gpus=gpus,
        name=name,
        outputs=outputs,
        check=check,
        params=dict(params) if isinstance(params, Mapping) else list(params),
        cpus=cpus,
        memory=memory,
        replicas=replicas,
        publish_mode=publish_mode,
        update=update,
    )
    from .opened import paused
    from .running import run as _run

    with paused():
        return _run(request, on_progress=on_progress, on_pull_progress=on_pull_progress)


def sweep(
    image: Union[str, Image, None] = None,
    grid: Union[Mapping[str, Sequence[Any]], Iterable[str], None] = None,
    *,
    grid_file: Optional[str] = None,
    parallel: Optional[int] = None,
    retries: int = 0,
    resume: bool = False,
    cpus: Optional[float] = None,
    memory: Optional[str] = None,
    timeout: Optional[float] = None,
    name: Optional[str] = None,
    outputs: Optional[str] = None,
    env: Iterable[str] = (),
    swarm: bool = False,
    push: Optional[str] = None,
    constraints: Iterable[str] = (),
    store: Optional[str] = None,
    on_progress: OnProgress = None,
) -> Sweep:
    """Run an image once per point of a parameter grid, in parallel, and collect the results.

    Args:
        image: tag or :class:`Image`; by default the last image this kernel built.
        grid: ``{"lr": [0.1, 0.01], "seed": [1, 2]}`` or ``["lr=0.1,0.01", "seed=1,2"]``: every
            combination is a point; each name must be assigned by the notebook's parameters cell.
        grid_file: a YAML file listing the points (``- {lr: 0.1, seed: 1}``) or a grid.
        parallel: points at once (default: the engine's CPU count; on a Swarm, its nodes).
        retries: run a failed point again up to this many times.
        resume: skip the points an earlier sweep of the same image and grid finished.
        cpus, memory, timeout: limits of each point.
        name: the sweep's name, and its folder under ``outputs`` (default ./dockermagic-outputs/).
        env: ``-e`` strings for every point.
        swarm: run on the Docker Swarm the engine manages (chosen anyway when it manages one).
        push: push the image to ``REGISTRY/REPO[:TAG]`` first, so every node can pull it.
        constraints: Swarm placement constraints, e.g. ``["node.labels.gpu==true"]``.
        store: ``s3://BUCKET/PREFIX`` where tasks on other Swarm nodes leave their outputs
            (credentials from the ``AWS_*`` variables; tasks only get a presigned upload URL).
        on_progress: called with the sweep's live state (points, states, nodes, attempts).

    Returns:
        dockermagic.results.Sweep: ``.runs`` (one Run per point) and ``.table`` (a pandas DataFrame:
        parameter values, status, exit_code, duration, attempts, node, outputs, and one column
        per value the notebook recorded with :func:`record`).

    Raises:
        dockermagic.errors.SweepError: a point still failed after its retries (``.sweep`` has them all).
    """
    if isinstance(image, Image):
        image = image.tag
    request = SweepRequest.from_options(
        image=image or None,
        grid=grid if isinstance(grid, Mapping) else list(grid or ()),
        grid_file=grid_file,
        parallel=parallel,
        retries=retries,
        resume=resume,
        cpus=cpus,
        memory=memory,
        timeout=timeout,
        name=name,
        outputs=outputs,
        env=list(env),
        swarm=swarm,
        push=push,
        constraints=list(constraints),
        store=store,
    )
    from .opened import paused
    from .sweeping import sweep as _sweep

    with paused():
        return _sweep(request, on_progress=on_progress)


def record(name: str, value: Any) -> Any:
    """Make ``value`` part of the run's result: ``run.records[name]`` after ``%docker_run``, a
    column of ``sweep.table`` after ``%docker_sweep`` (``records.json`` in the outputs).

    Numbers, strings and small JSON-able values. In the kernel the value is kept (see
    :func:`records`) and shown; in the image it is written for dockermagic to bring back.
    """
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(f"record({name!r}, ...): {type(value).__name__} is not a JSON value") from None
    session.remember_record(name, value)
    print(f"[dockermagic] record {name} = {value!r}")
    return value


def records() -> dict:
    """The values :func:`record` kept in this kernel."""
    return session.records()


def push_image(image: Union[str, Image], ref: str, *, on_progress: OnProgress = None) -> str:
    """Tag ``image`` as ``ref`` (``REGISTRY/REPO[:TAG]``) and push it with per-layer progress,
    using the credentials of your Docker configuration (``docker login``); returns the pushed
    reference."""
    from .building import push_image as _push

    return _push(image.tag if isinstance(image, Image) else image, ref, on_progress=on_progress)


last_image = session.last_image
last_build = session.last_build
