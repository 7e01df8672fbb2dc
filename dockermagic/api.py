"""The Python API: :func:`dockerize` and :func:`run`. The magics, the JupyterLab button and
the command line are thin layers over these two.

Data flows one way: capture -> requirements -> program export -> context -> build -> run ->
outputs back.
"""

import datetime
import hashlib
import os
import re
import secrets as _random
import time
from pathlib import Path

from . import __version__
from . import capture as _capture
from . import context as _context
from . import dockerfile as _dockerfile
from . import engine
from .errors import DockermagicError, RequirementsError, RunError
from .export import LAB_PORT, export_lab, export_notebook, export_script
from .progress import BuildProgress, RunProgress, TransferProgress
from .requirements import infer
from .secretscan import check as check_secrets
from .results import Image, Run
from .tags import default_tag, slug, validate_tag

_state = {"last_image": None, "last_build": None}
OUTPUTS_FOLDER = "dockermagic-outputs"


def _cache_home():
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockermagic"


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _notify(progress, state):
    if progress is not None:
        progress(state)


FORMS = ("script", "notebook", "lab")
NOTEBOOK_RUNNER = ("nbclient", "nbconvert", "ipykernel", "nbformat")


def _carried(shell, names):
    """Pickles of kernel objects, and the modules their classes come from."""
    import pickle

    if names and shell is None:
        raise DockermagicError("--carry needs a live kernel to take the objects from")
    blobs, modules = {}, []
    for name in names:
        if name not in shell.user_ns:
            raise DockermagicError(f"--carry {name}: no such name in the kernel")
        value = shell.user_ns[name]
        try:
            blobs[f"_dockermagic_objects/{name}.pkl"] = pickle.dumps(value)
        except Exception as exc:
            raise DockermagicError(f"--carry {name}: cannot serialize {type(value).__name__}: {exc}") from None
        modules.append(type(value).__module__)
    return blobs, modules


def _healthcheck(port, path=None):
    """Exec-form health check: an HTTP GET of ``path`` when the service has one, else a TCP connect."""
    if path:
        return ["python", "-c", f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)"]
    return ["python", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 3).close()"]


def _installed(name):
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def _uv_image():
    """The image the builder copies uv from: ``DOCKERMAGIC_UV_IMAGE`` (a registry mirror; empty
    for none) or uv's own."""
    return os.environ.get("DOCKERMAGIC_UV_IMAGE", _dockerfile.UV_IMAGE) or None


def _precompiles(precompile, form, serve):
    """Whether the image compiles its imports' bytecode at build time: by default where start-up
    latency counts (a service, Jupyter) rather than first-build time (a batch program)."""
    return precompile if precompile is not None else bool(serve) or form != "script"


def plan(notebook=None, tag=None, *, form="script", base=None, cell=None, include=(), installer="uv",
         precompile=None, shell=None, current_cell=None, failed=(), allow_secrets=False, serve=None, function=None,
         carry=()):
    """Everything a build needs, without writing or building anything.

    Returns:
        (Image, ContextPlan): the image as it would be (not built) and the context to write.
    """
    shell = shell if shell is not None else _ipython()
    cap = _capture.capture(shell, notebook, current_cell=current_cell, failed=failed)
    tag = validate_tag(tag or default_tag(cap.notebook_path.name if cap.notebook_path else "notebook"))
    if ":" not in tag.rsplit("/", 1)[-1]:
        tag += ":latest"
    if form not in FORMS:
        raise DockermagicError(f"unknown program form {form!r}: use one of {', '.join(FORMS)}")
    if (serve or function or carry) and form != "script":
        raise DockermagicError("--serve, --function and --carry go with the script form")
    if form == "lab" and shell is not None and not _installed("jupyterlab"):
        raise DockermagicError("--form lab needs JupyterLab in the kernel's environment (%pip install jupyterlab), "
                               "so that the image gets the same version")
    if function and not serve:
        raise DockermagicError("--function NAME needs --serve PORT")
    if serve and not function and not (cell and cell.strip()):
        raise DockermagicError("--serve PORT needs a cell body that starts the app (%%dockerize --serve PORT) "
                               "or --function NAME to serve a function as a JSON endpoint")
    if function and shell is not None and not callable(shell.user_ns.get(function)):
        raise DockermagicError(f"--function {function}: no such function in the kernel")
    blobs, carried_modules = _carried(shell, carry)
    if form == "notebook":
        program = export_notebook(cap.cells, final_body=cell, source=cap.source)
    elif form == "lab":
        program = export_lab(cap.cells, final_body=cell, source=cap.source)
        serve = serve or LAB_PORT
    else:
        program = export_script(cap.cells, final_body=cell, source=cap.source, carry=carry,
                                serve_function=function, port=serve)
    runner = [] if form == "script" else [("the notebook form's runner", f"import {m}") for m in NOTEBOOK_RUNNER]
    if form == "lab":
        runner += [("--form lab", "import jupyterlab"), ("--form lab", "import ipykernel")]
    if any(re.search(r"run_line_magic\('run', '[^']*\.ipynb", c.code) for c in program.cells):
        runner.append(("%run of a notebook", "import nbformat"))
    runner += [(f"--carry ({module})", f"import {module}") for module in carried_modules if module != "builtins"]
    reqs = infer(list(program.cells) + runner, cap.workdir, program.pip_lines, cap.loaded_modules,
                 cap.python_version, program.uses_ipython)
    if reqs.problems:
        more = f" (and {len(reqs.problems) - 1} more)" if len(reqs.problems) > 1 else ""
        raise RequirementsError(reqs.problems[0] + more, reqs.problems)

    codes = [c.code for c in program.cells]
    for path in reqs.local_modules.values():
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        codes += [f.read_text(encoding="utf-8", errors="replace") for f in files]
    data = _context.find_data_files(codes, cap.workdir, extra=include)
    if data.refused:
        raise DockermagicError(f"the program names {', '.join(data.refused)}: credential files never go "
                               "into an image; pass secrets at run time instead (%docker_run -e NAME=...)")
    if data.too_large:
        raise DockermagicError(f"{', '.join(data.too_large)} is over {_context.LARGE_FILE // 2**20} MB: "
                               "leave it out of the image and mount it at run time (docker run -v)")

    notes = list(cap.notes)
    notes += [f"{module} ({cell_label}) is imported but not installed in the kernel"
              + (f" (pipreqs suggests the package {guess})" if guess else "")
              + ": the image will not have it" for module, cell_label, guess in reqs.missing]
    notes += reqs.notes
    if cap.index.dropped:
        notes.append("left out of the build's pip settings (not reachable from a container): "
                     + ", ".join(cap.index.dropped))

    copies = {}
    for module, path in reqs.local_modules.items():
        copies[path.name] = path
    copies.update(data.files)
    found = check_secrets(program.files, copies, cap.cells, allow=allow_secrets)
    notes += [f"--allow-secrets: {kind} in {name} line {line} goes into the image" for name, line, kind in found]
    requirements_text = reqs.text()
    support_files = {"pip.conf": _context.pip_config(cap.index), "uv.toml": _context.uv_config(cap.index)}
    support_copies = {}
    if cap.index.ca_bundle:
        support_copies["ca-bundle.pem"] = cap.index.ca_bundle
    for req in reqs.requirements:
        if req.local_file:
            support_copies[f"wheels/{req.local_file.name}"] = req.local_file
    base = base or "python:%d.%d-slim" % cap.python_version
    labels = {
        engine.LABEL: __version__,
        "org.dockermagic.notebook": cap.notebook_path.name if cap.notebook_path else cap.source,
        "org.dockermagic.requirements-sha256": hashlib.sha256(requirements_text.encode()).hexdigest(),
        "org.opencontainers.image.created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    spec = _dockerfile.DockerfileSpec(base=base, command=program.command,
                                      has_requirements=bool(reqs.requirements), pip_config=True,
                                      uv_config=True, installer=installer,
                                      precompile=reqs.modules if _precompiles(precompile, form, serve) else [],
                                      labels=labels, source=cap.source,
                                      ca_bundle=bool(cap.index.ca_bundle),
                                      uv_image=_uv_image() if installer == "uv" else None,
                                      expose=[int(serve)] if serve else [],
                                      healthcheck=_healthcheck(int(serve), "/api" if form == "lab" else
                                                               "/health" if function else None) if serve else None)
    text = _dockerfile.render(spec)
    context_plan = _context.ContextPlan(dockerfile=text, requirements=requirements_text,
                                        program_files=program.files, copies=copies,
                                        support_files=support_files, support_copies=support_copies,
                                        binary_files=blobs, spec=spec)
    image = Image(tag=tag, image_id=None, size=None, context=None, requirements=reqs.requirements,
                  cells=cap.cells,
                  dockerfile=text, source=cap.source, base=base, notes=notes,
                  files=sorted(list(program.files) + list(copies)), program=next(iter(program.files.values())))
    return image, context_plan


def dockerize(notebook=None, tag=None, *, form="script", base=None, dry_run=False, context=None, cell=None,
              include=(), installer="uv", precompile=None, progress=None, shell=None, current_cell=None, failed=(),
              allow_secrets=False, no_cache=False, serve=None, function=None, carry=(), push=None,
              push_progress=None, verify=False, compose=()):
    """Package a notebook as a Docker image that reruns it.

    Args:
        notebook: the ``.ipynb`` file; by default the notebook of the running kernel (or, when
            there is no file, the kernel's execution history).
        tag: the image name, e.g. ``heart-roc`` or ``heart-roc:v2``; by default from the notebook's name.
        form: ``script`` (the cells as one Python script; figures saved as PNG) or ``notebook``
            (the notebook executed headless; writes the executed notebook and an HTML report).
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
        progress: called with a :class:`dockermagic.progress.BuildProgress` whenever it changes.
        current_cell: the text of the cell calling this; the program is the cells above it.
        allow_secrets: build even if something in the image looks like a credential.
        no_cache: rebuild every step instead of reusing the engine's build cache.
        serve: the port a web service listens on: the image exposes it and gets a health check.
            The ``%%dockerize`` cell body starts the service, or ``function`` names one to serve.
        function: a function of the notebook served as ``POST /<function>`` with JSON.
        carry: names of kernel objects (a trained model) to carry into the image, serialized,
            instead of recomputing them: the cells then only contribute imports and definitions.
        push: after the build, tag the image as this ``REGISTRY/REPO[:TAG]`` and push it.
        push_progress: called with a :class:`dockermagic.progress.TransferProgress` during the push.
        compose: services the program talks to (``postgres``, ``redis``, or ``NAME=IMAGE``):
            writes ``<image>.compose.yaml`` beside the notebook, running the image beside them
            with the environment to reach them (``image.compose``).
        verify: run the image once and compare each cell's printed output with what the saved
            notebook shows; differences are in ``image.differences`` and ``image.notes``.

    Returns:
        dockermagic.results.Image

    Raises:
        dockermagic.errors.DockermagicError: a one-line reason (no engine, invalid tag, a
            requirement that cannot be installed, a failed step, ...).

    Example:
        >>> img = dockermagic.dockerize("analysis.ipynb", tag="analysis")   # doctest: +SKIP
        >>> img.tag, [str(r) for r in img.requirements][:2]                  # doctest: +SKIP
    """
    if tag is not None:
        validate_tag(tag)
    if push is not None:
        validate_tag(push)
    from . import compose as _compose

    services = _compose.parse(compose)
    image, context_plan = plan(notebook, tag, form=form, base=base, cell=cell, include=include,
                               installer=installer, precompile=precompile, shell=shell, current_cell=current_cell,
                               failed=failed,
                               allow_secrets=allow_secrets, serve=serve, function=function, carry=carry)
    if dry_run:
        return image
    if services:
        folder = Path(notebook).resolve().parent if notebook else Path.cwd()
        image.compose = _compose.write(folder, image.tag, services)
    if context is not None:
        image.context = _context.write_context(context_plan, context)
        return image
    client = engine.connect()
    spec = context_plan.spec
    if spec is not None and spec.uv_image and not engine.optional_image(client, spec.uv_image):
        image.notes.append(f"{spec.uv_image} cannot be pulled here: the builder stage installs uv "
                           "with the base image's pip instead")
        spec.uv_image = None
        context_plan.dockerfile = image.dockerfile = _dockerfile.render(spec)
    state = BuildProgress.for_dockerfile(image.tag, image.dockerfile)
    _state["last_build"] = state
    state.phase = "context"
    _notify(progress, state)
    target = _cache_home() / "contexts" / slug(image.tag)
    previous = _context.read_marker(target)
    folder = _context.write_context(context_plan, target, own_folder=True)
    image.context = folder
    image.notes.append(context_report(folder))
    state.changes = _context.what_changed(previous, _context.read_marker(folder))
    if engine.local_image(client, image.base) is None:
        state.phase = "pull"
        _notify(progress, state)

        def on_pull(chunk):
            state.feed_pull(chunk)
            _notify(progress, state)
        engine.ensure_base(client, image.base, on_pull)
    state.phase = "build"
    built = engine.build(client, folder, image.tag, state, lambda: _notify(progress, state), no_cache=no_cache)
    image.image_id = built.id
    image.size = built.attrs.get("Size")
    image.cached_steps = state.cached_steps
    if state.changes and state.cached_steps:
        rebuilt = next((s for s in state.steps if s.state == "done" and not s.instruction.startswith("FROM")), None)
        if rebuilt is not None:
            image.notes.append(f"rebuilt from step {rebuilt.n} ({rebuilt.instruction[:60]}): " + "; ".join(state.changes))
    state.done(built.id, image.size)
    image.build_seconds = state.elapsed
    _notify(progress, state)
    _state["last_image"] = image.tag
    if verify:
        _verify(image, image.cells, client)
    if push:
        image.pushed = push_image(image.tag, push, progress=push_progress, client=client)
    return image


def _verify(image, cells, client):
    """Run the image once with cell markers and compare its output with the notebook's."""
    import tempfile

    from .verify import compare

    if not any(c.outputs_text.strip() for c in cells):
        image.notes.append("--verify: the saved notebook has no outputs to compare with (save it after running)")
        return
    with tempfile.TemporaryDirectory(prefix="dockermagic-verify-") as folder:
        result = run(image.tag, env=["DOCKERMAGIC_MARKERS=1"], outputs=folder, check=False)
    image.differences = compare(cells, result.logs)
    if result.exit_code != 0:
        image.notes.append(f"--verify: the image exited with code {result.exit_code}")
    if image.differences:
        image.notes += [f"--verify: {d}" for d in image.differences]
    else:
        image.notes.append("--verify: every cell printed what the notebook shows")


def push_image(image, ref, *, progress=None, client=None):
    """Tag ``image`` as ``ref`` (``REGISTRY/REPO[:TAG]``) and push it with per-layer progress.

    Uses the credentials of your Docker configuration (``docker login``). Returns the pushed
    reference.
    """
    validate_tag(ref)
    if isinstance(image, Image):
        image = image.tag
    client = client or engine.connect()
    state = TransferProgress(ref=ref, kind="push")

    def on_chunk(chunk):
        state.feed(chunk)
        _notify(progress, state)
    pushed = engine.push(client, image, ref, on_chunk)
    state.done = True
    _notify(progress, state)
    return pushed


def context_report(folder):
    """One line on what the build context holds: files, bytes, the largest files."""
    from .results import human_size

    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    largest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:3]
    named = ", ".join(f"{p.relative_to(folder).as_posix()} {human_size(p.stat().st_size)}" for p in largest)
    return f"build context: {len(files)} files, {human_size(total)} (largest: {named})"


def last_build():
    """The :class:`~dockermagic.progress.BuildProgress` of the last build this kernel started."""
    return _state["last_build"]


def last_image():
    """The tag of the last image this kernel built, or None."""
    return _state["last_image"]


def parse_port(text):
    """``-p`` syntax to ``(container port key, (host ip, host port))``.

    ``8080:5000`` -> ``("5000/tcp", ("127.0.0.1", 8080))``; ``5000`` publishes 5000 on 5000;
    ``0.0.0.0:8080:5000`` publishes on every interface, as asked.
    """
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
        host_port, inner_port = int(host), int(inner)
        if not (0 < host_port < 65536 and 0 < inner_port < 65536):
            raise ValueError
    except ValueError:
        raise DockermagicError(f"invalid port {text!r}: use HOST:CONTAINER (8080:5000), CONTAINER (5000) "
                               "or IP:HOST:CONTAINER") from None
    return f"{inner_port}/{proto}", (ip, host_port)


def parse_env(items):
    """``["A=1", "B"]`` -> ``{"A": "1", "B": <value of B in this process>}``."""
    env = {}
    for item in items or ():
        name, eq, value = str(item).partition("=")
        if not name:
            raise DockermagicError(f"invalid environment variable {item!r}: use NAME=VALUE or NAME")
        if not eq:
            if name not in os.environ:
                raise DockermagicError(f"-e {name}: no such variable in the kernel's environment; use {name}=VALUE")
            value = os.environ[name]
        env[name] = value
    return env


def _outputs_folder(root, image_tag):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{slug(image_tag.split(':')[0].rsplit('/', 1)[-1])}-{stamp}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def parse_volume(text):
    """``HOST:CONTAINER[:ro]`` -> ``(host path, {"bind": CONTAINER, "mode": "rw"|"ro"})``."""
    parts = str(text).split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/") or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise DockermagicError(f"invalid volume {text!r}: use HOST_DIR:/CONTAINER_DIR[:ro]")
    return os.path.abspath(os.path.expanduser(parts[0])), {"bind": parts[1], "mode": parts[2] if len(parts) == 3 else "rw"}


def run(image=None, args=None, *, ports=(), env=(), volumes=(), detach=False, timeout=None, gpus=None,
        name=None, outputs=None, check=True, progress=None, pull_progress=None):
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
        check: raise :class:`RunError` (with ``.run`` attached) when the program fails.
        progress: called with a :class:`dockermagic.progress.RunProgress` whenever it changes.
        pull_progress: called with a :class:`dockermagic.progress.TransferProgress` while an
            image that is not on the engine is pulled.

    Returns:
        dockermagic.results.Run
    """
    if isinstance(image, Image):
        image = image.tag
    image = image or last_image()
    if not image:
        raise DockermagicError("no image to run: give one (%docker_run TAG) or build one with %dockerize first")
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        image += ":latest"
    port_map = dict(parse_port(p) for p in (ports or ()))
    environment = parse_env(env)
    mounts = dict(parse_volume(v) for v in (volumes or ()))
    client = engine.connect()
    if engine.local_image(client, image) is None:
        pulling = TransferProgress(ref=image, kind="pull")

        def on_chunk(chunk):
            pulling.feed(chunk)
            _notify(pull_progress, pulling)
        try:
            engine.pull(client, image, on_chunk)
            pulling.done = True
            _notify(pull_progress, pulling)
        except DockermagicError:
            raise DockermagicError(f"unknown image {image}: it is not on the engine and cannot be pulled "
                                   "(build it with %dockerize, or check the name)") from None
    name = name or f"dm-{slug(image.split(':')[0].rsplit('/', 1)[-1])}-{_random.token_hex(3)}"
    state = RunProgress(name=name, image=image)
    _notify(progress, state)
    labels = {engine.LABEL: __version__, "org.dockermagic.image": image}
    started = time.monotonic()
    container = engine.start_container(client, image, command=args or None, name=name, ports=port_map,
                                       env=environment, gpus=gpus, labels=labels, volumes=mounts)
    shown_ports = {inner: f"{ip if ip not in ('0.0.0.0', '') else '127.0.0.1'}:{host}"
                   for inner, (ip, host) in port_map.items()}
    if detach:
        state.state = "running"
        _notify(progress, state)
        return Run(image=image, name=name, ports=shown_ports, detached=True)
    try:
        def on_text(text):
            state.feed(text)
            _notify(progress, state)
        code, timed_out, full_log, error_log = engine.follow(container, on_text, timeout=timeout)
        folder = _outputs_folder(outputs or Path.cwd() / OUTPUTS_FOLDER, image)
        files = engine.download(container, "/app", engine.changed_files(container, "/app"), folder)
    finally:
        engine.remove_container(container)
    result = Run(image=image, name=name, exit_code=code, logs=full_log.rstrip("\n"),
                 outputs=folder, files=files, ports=shown_ports, duration=time.monotonic() - started,
                 timed_out=timed_out)
    state.exited(code, str(folder), [str(f) for f in result.figures])
    _notify(progress, state)
    if check and (code != 0 or timed_out):
        why = "stopped by --timeout" if timed_out else f"exited with code {code}"
        # the error is the last line the program wrote to stderr, else the last line it wrote
        last = next((line for log in (error_log, full_log) for line in reversed(log.splitlines()) if line.strip()), "")
        raise RunError(f"{image}: the program {why}" + (f": {last.strip()[:200]}" if last else ""), run=result)
    return result
