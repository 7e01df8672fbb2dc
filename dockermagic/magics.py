"""The IPython magics: ``%dockerize`` / ``%%dockerize`` and ``%docker_run`` (plus helpers to
manage detached containers). Thin layers over :mod:`dockermagic.api`."""

import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import api, engine
from .display import BuildView, RunView, TransferView
from .errors import DockermagicError, RunError
from .options import BUILD_OPTIONS, RUN_OPTIONS, build_kwargs, decorate, run_kwargs


def _split_args(line):
    """``"IMAGE -p 80 -- python x.py"`` -> ``("IMAGE -p 80", ["python", "x.py"])``."""
    words = shlex.split(line)
    if "--" in words:
        i = words.index("--")
        return " ".join(shlex.quote(w) for w in words[:i]), words[i + 1:]
    return line, None


@magics_class
class DockerMagics(Magics):
    """dockermagic's magics; registered by ``%load_ext dockermagic``."""

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.failed = set()
        if shell is not None:
            shell.events.register("post_run_cell", self._record_failure)

    def _record_failure(self, result):
        if not result.success and result.execution_count is not None:
            self.failed.add(result.execution_count)

    def _current_cell(self):
        history = getattr(self.shell, "history_manager", None)
        raw = getattr(history, "input_hist_raw", None)
        return raw[-1] if raw else None

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
        args = parse_argstring(self.dockerize, line)
        view = None if args.quiet or args.dry_run or args.context else BuildView()
        try:
            image = api.dockerize(notebook=args.notebook, cell=cell, progress=view, shell=self.shell,
                                  push_progress=None if args.quiet else TransferView(),
                                  current_cell=self._current_cell(), failed=tuple(self.failed),
                                  **build_kwargs(args))
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        for note in image.notes:
            print(f"[dockermagic] note: {note}")
        if args.dry_run:
            print(image.dockerfile)
            print("# requirements.txt")
            for req in image.requirements:
                print(f"{str(req):<40} # {req.origin}")
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
        options, command = _split_args(line)
        args = parse_argstring(self.docker_run, options)
        try:
            result = api.run(args.image, command, progress=RunView(), pull_progress=TransferView(),
                             **run_kwargs(args))
        except RunError as exc:
            if exc.run is not None:
                self.shell.user_ns["_docker_run"] = exc.run
            raise UsageError(str(exc)) from None
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        return result

    @line_magic
    def docker_push(self, line):
        """Tag an image and push it to a registry, with per-layer progress.

        Uses your Docker credentials (``docker login``). With one argument, pushes the image
        %dockerize built last::

            %docker_push registry.example.com/team/heart-roc:v2
            %docker_push heart-roc localhost:5000/heart-roc:v2
        """
        words = line.split()
        if len(words) not in (1, 2):
            raise UsageError("usage: %docker_push [IMAGE] REGISTRY/REPO[:TAG]")
        image, ref = (api.last_image(), words[0]) if len(words) == 1 else words
        if not image:
            raise UsageError("no image to push: name one (%docker_push IMAGE REF) or build one with %dockerize")
        try:
            pushed = api.push_image(image, ref, progress=TransferView())
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        print(f"pushed {image} as {pushed}")
        return pushed

    @line_magic
    def docker_ps(self, line):
        """List dockermagic's containers (running and stopped)::

            %docker_ps
        """
        try:
            client = engine.connect()
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        rows = engine.containers(client)
        if not rows:
            print("no dockermagic containers")
        for c in rows:
            ports = ", ".join(f"{k}->{v[0]['HostIp']}:{v[0]['HostPort']}" for k, v in (c.ports or {}).items() if v)
            print(f"{c.name:<28} {c.status:<10} {c.labels.get('org.dockermagic.image', ''):<30} {ports}")

    @line_magic
    def docker_stop(self, line):
        """Stop and remove a detached container started by ``%docker_run -d``::

            %docker_stop dm-api-1a2b3c
        """
        name = line.strip()
        if not name:
            raise UsageError("name the container to stop (see %docker_ps)")
        try:
            client = engine.connect()
            matches = [c for c in engine.containers(client) if c.name == name]
            if not matches:
                raise UsageError(f"no dockermagic container named {name} (see %docker_ps)")
            engine.remove_container(matches[0])
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        print(f"stopped and removed {name}")

    @line_magic
    def docker_logs(self, line):
        """Print the logs of a dockermagic container::

            %docker_logs dm-api-1a2b3c
        """
        name = line.strip()
        try:
            client = engine.connect()
            matches = [c for c in engine.containers(client) if c.name == name]
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        if not matches:
            raise UsageError(f"no dockermagic container named {name!r} (see %docker_ps)")
        print(matches[0].logs().decode("utf-8", errors="replace"), end="")
