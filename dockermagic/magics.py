"""The IPython magics: ``%dockerize`` / ``%%dockerize`` and ``%docker_run`` (plus helpers to
manage detached containers). Thin layers over :mod:`dockermagic.api`."""

from __future__ import annotations

import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import api, session, wording
from .display import BuildView, RunView, SweepView, TransferView
from .errors import DockermagicError, Interrupted, RunError, SweepError
from .options import BUILD_OPTIONS, RUN_OPTIONS, SWEEP_OPTIONS, build_kwargs, decorate, run_kwargs, sweep_kwargs
from .request import KernelContext


def _words(line):
    """A magic's line split with shell rules, as ``%run`` does: ``--notebook "my nb.ipynb"``."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the options: {exc} (close the quotes)") from None


def _parse(magic, words):
    return magic.parser.parse_args(words)


def _assigned_name(cell, magic):
    """The name a cell binds the magic's result to (``run = %docker_run ...``), or None."""
    import re

    for line in (cell or "").splitlines():
        match = re.match(rf"\s*([A-Za-z_][\w]*)\s*=\s*%{magic}\b", line)
        if match:
            return match.group(1)
    return None


def containers_table(rows):
    """``%docker_ps``'s table: name, image, state, ports, age (rows of plain dicts)."""
    head = ("NAME", "IMAGE", "STATE", "PORTS", "AGE")
    lines = [head] + [(r["name"], r["image"], r["state"], r["ports"] or "-", r["age"]) for r in rows]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines)


def _split_command(words):
    """``["IMAGE", "-p", "80", "--", "python", "x.py"]`` -> ``(["IMAGE", "-p", "80"], ["python", "x.py"])``."""
    if "--" in words:
        i = words.index("--")
        return words[:i], words[i + 1 :]
    return words, None


@magics_class
class DockerMagics(Magics):
    """dockermagic's magics; registered by ``%load_ext dockermagic``."""

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.failed = {}
        if shell is not None:
            shell.events.register("post_run_cell", self._record_failure)

    def _record_failure(self, result):
        if not result.success and result.execution_count is not None:
            from .replay import line_from_exception

            error = result.error_in_exec
            # a cell that did not compile ran nothing: it "failed" at its first line
            line = 1 if result.error_before_exec is not None else None
            self.failed[result.execution_count] = line_from_exception(error) if error is not None else line

    def _kernel(self):
        raw = getattr(getattr(self.shell, "history_manager", None), "input_hist_raw", None)
        return KernelContext(shell=self.shell, current_cell=raw[-1] if raw else None, failed=dict(self.failed))

    @magic_arguments()
    @argument("--notebook", metavar="PATH", help="the notebook to package (default: this kernel's notebook)")
    @decorate(BUILD_OPTIONS)
    @line_cell_magic
    def dockerize(self, line, cell=None):
        """Package the live notebook as a Docker image that reruns it.

        The program is every code cell above this one, as the kernel ran them; with
        ``%%dockerize`` the cell body is the program's last step (it is not run here).
        Requirements come from the kernel's installed packages, pinned exactly. The build's
        steps and logs show in the cell as they happen.

        Examples::

            img = %dockerize -t heart-roc
            %dockerize --dry-run                    # show Dockerfile and requirements only
            %dockerize --context build/ -t heart    # write the build context and stop

            %%dockerize -t report
            make_report("report.html")              # the image's last step

        Returns an Image: ``.tag``, ``.image_id``, ``.size``, ``.context``, ``.requirements``
        (each ``str()`` is a pip line; ``.origin`` says where it came from).
        """
        args = _parse(self.dockerize, _words(line))
        view = None if args.quiet or args.dry_run or args.context else BuildView()
        try:
            with wording.speaking("magic"):
                image = api.dockerize(
                    notebook=args.notebook,
                    cell=cell,
                    kernel=self._kernel(),
                    on_progress=view,
                    on_push_progress=None if args.quiet else TransferView(),
                    **build_kwargs(args),
                )
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        for note in session.new_notes(image.notes):
            print(f"[dockermagic] note: {note}")
        if args.dry_run:
            print(image.dry_run_text())
        return image

    @magic_arguments()
    @argument("image", nargs="?", help="image to run (default: the last one %%dockerize built)")
    @decorate(RUN_OPTIONS)
    @line_magic
    def docker_run(self, line):
        """Run an image; its logs stream into the cell, and what it produced comes back.

        Figures the program showed come back as PNG files and every file it wrote in its
        working folder is copied into a new host folder (``run.outputs``). A program that
        fails raises, so that running all cells stops there.

        Examples::

            run = %docker_run                        # the image %dockerize just built
            run = %docker_run heart-roc --timeout 600
            %docker_run api -p 8080:5000 -d          # serve on http://127.0.0.1:8080
            %docker_run heart-roc -e SEED=3 -- python program.py --fast

        Returns a Run: ``.exit_code``, ``.logs``, ``.outputs``, ``.files``, ``.figures``,
        ``.name``, ``.ports``.
        """
        options, command = _split_command(_words(line))
        args = _parse(self.docker_run, options)
        bound = _assigned_name(self._kernel().current_cell, "docker_run")
        try:
            with wording.speaking("magic"):
                run = api.run(
                    args.image, command, on_progress=RunView(), on_pull_progress=TransferView(), **run_kwargs(args)
                )
        except (RunError, Interrupted) as exc:
            message = str(exc)
            if exc.run is not None:
                self.shell.user_ns["_docker_run"] = exc.run
                if bound:
                    message += f" ({bound} was not assigned: the run is in _docker_run)"
            raise UsageError(message) from None
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        if bound:
            # the cell would end on the program's last line: end it with the run's summary
            from IPython.display import display

            display(run)
        return run

    @magic_arguments()
    @argument("image", nargs="?", help="image to run (default: the last one %%dockerize built)")
    @decorate(SWEEP_OPTIONS)
    @line_magic
    def docker_sweep(self, line):
        """Run an image once per point of a parameter grid, in parallel, on this engine or a Swarm.

        Each name of ``--grid`` must be assigned by the notebook's parameters cell (tagged
        ``parameters``, or starting with ``# parameters``). Values the notebook records with
        ``dockermagic.record(name, value)`` become columns of the result's table. A failing
        point does not stop the others; the magic raises at the end if some still failed.

        Examples::

            sweep = %docker_sweep heart-roc --grid C=0.01,0.1,1 --grid seed=1,2 --parallel 3
            sweep.table                              # one row per point, with the recorded values
            %docker_sweep heart-roc --grid-file points.yaml --retries 1 --resume
            %docker_sweep registry:5000/heart-roc --grid C=0.1,1 --store s3://bucket/sweeps   # on a Swarm

        Returns a Sweep: ``.table`` (a pandas DataFrame), ``.runs``, ``.points``, ``.folder``.
        """
        args = _parse(self.docker_sweep, _words(line))
        bound = _assigned_name(self._kernel().current_cell, "docker_sweep")
        try:
            with wording.speaking("magic"):
                result = api.sweep(args.image, on_progress=SweepView(), **sweep_kwargs(args))
        except (SweepError, Interrupted) as exc:
            partial = getattr(exc, "sweep", None) or getattr(exc, "run", None)
            message = str(exc)
            if partial is not None:
                self.shell.user_ns["_docker_sweep"] = partial
                if bound:
                    message += f" ({bound} was not assigned: the sweep is in _docker_sweep)"
            raise UsageError(message) from None
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        if bound:
            from IPython.display import display

            display(result)
        return result

    @line_magic
    def docker_push(self, line):
        """Tag an image and push it to a registry, with per-layer progress.

        Uses your Docker credentials (``docker login``). With one argument, pushes the image
        %dockerize built last::

            %docker_push registry.example.com/team/heart-roc:v2
            %docker_push heart-roc localhost:5000/heart-roc:v2
        """
        words = _words(line)
        if len(words) not in (1, 2):
            raise UsageError("usage: %docker_push [IMAGE] REGISTRY/REPO[:TAG]")
        image, ref = (session.last_image(), words[0]) if len(words) == 1 else words
        if not image:
            raise UsageError("no image to push: name one (%docker_push IMAGE REF) or build one with %dockerize")
        try:
            pushed = api.push_image(image, ref, on_progress=TransferView())
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        print(f"pushed {image} as {pushed}")
        return pushed

    @line_magic
    def docker_ps(self, line):
        """List dockermagic's containers (running and stopped)::

        %docker_ps
        """
        from . import engine

        try:
            client = engine.connect()
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        from .layout import user_label

        rows = [engine.container_facts(c) for c in engine.containers(client, user=user_label())]
        rows += [engine.service_facts(s) for s in engine.services(client, user=user_label())]
        if not rows:
            print("no dockermagic containers or services")
            return
        print(containers_table(rows))

    def _find(self, name):
        """dockermagic's container or Swarm service called ``name``: ``("container"|"service", it)``."""
        from . import engine

        if not name:
            raise UsageError("name the container or service (see %docker_ps)")
        try:
            client = engine.connect()
            found = [("container", c) for c in engine.containers(client) if c.name == name]
            found += [("service", s) for s in engine.services(client) if s.name == name]
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        if not found:
            raise UsageError(f"no dockermagic container or service named {name!r} (see %docker_ps)")
        return found[0]

    @line_magic
    def docker_stop(self, line):
        """Stop and remove a detached container (``%docker_run -d``) or a service (``--replicas``)::

        %docker_stop dm-api-1a2b3c
        """
        from . import engine

        name = line.strip()
        kind, thing = self._find(name)
        (engine.remove_container if kind == "container" else engine.remove_service)(thing)
        print(f"stopped and removed {kind} {name}")

    @line_magic
    def docker_logs(self, line):
        """Print the logs of a dockermagic container or service::

        %docker_logs dm-api-1a2b3c
        """
        from . import engine

        kind, thing = self._find(line.strip())
        text = thing.logs().decode("utf-8", errors="replace") if kind == "container" else engine.service_logs(thing)[0]
        print(text, end="")
