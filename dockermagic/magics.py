"""The IPython magics: ``%dockerize`` / ``%%dockerize`` and ``%docker_run`` (plus helpers to
manage detached containers). Thin layers over :mod:`dockermagic.api`."""

import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import api, engine
from .display import BuildView, RunView
from .errors import BuildError, DockermagicError, RunError


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
    @argument("-t", "--tag", help="image name, e.g. heart-roc or heart-roc:v2 (default: from the notebook's name)")
    @argument("--base", help="base image (default: python:<kernel major.minor>-slim)")
    @argument("--dry-run", action="store_true", help="show the Dockerfile and requirements; write nothing, touch no engine")
    @argument("--context", metavar="DIR", help="write the build context to DIR and stop")
    @argument("--notebook", metavar="PATH", help="the notebook to package (default: this kernel's notebook)")
    @argument("--include", metavar="PATH", action="append", default=[],
              help="another file or folder (relative to the notebook) to copy into the image; repeatable")
    @argument("--installer", choices=["pip", "uv"], default="pip", help="installer of the requirements layer")
    @argument("--no-cache", action="store_true", help="rebuild every step, ignoring the build cache")
    @argument("--allow-secrets", action="store_true",
              help="build even though something going into the image looks like a credential")
    @argument("-q", "--quiet", action="store_true", help="no live build view")
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
            image = api.dockerize(notebook=args.notebook, tag=args.tag, base=args.base, dry_run=args.dry_run,
                                  context=args.context, cell=cell, include=args.include,
                                  installer=args.installer, progress=view, shell=self.shell,
                                  current_cell=self._current_cell(),
                                  failed=tuple(self.failed), allow_secrets=args.allow_secrets,
                                  no_cache=args.no_cache)
        except BuildError as exc:
            raise UsageError(str(exc)) from None
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
    @argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOST:CONTAINER",
              help="publish a port (on 127.0.0.1 unless an IP is given); repeatable")
    @argument("-e", "--env", action="append", default=[], metavar="NAME[=VALUE]",
              help="set an environment variable (NAME alone passes the kernel's value); repeatable")
    @argument("-d", "--detach", action="store_true", help="start it and return at once")
    @argument("--gpus", help="request GPUs: all or a count")
    @argument("--timeout", type=float, help="stop the container after this many seconds")
    @argument("--name", help="container name")
    @argument("--outputs", metavar="DIR", help="host folder for the outputs (default: a new folder under ./dockermagic-outputs/)")
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
            result = api.run(args.image, command, ports=args.publish, env=args.env, detach=args.detach,
                             timeout=args.timeout, gpus=args.gpus, name=args.name, outputs=args.outputs,
                             progress=RunView())
        except RunError as exc:
            if exc.run is not None:
                self.shell.user_ns["_docker_run"] = exc.run
            raise UsageError(str(exc)) from None
        except DockermagicError as exc:
            raise UsageError(str(exc)) from None
        return result

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
