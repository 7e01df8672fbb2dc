"""The options of building and running, defined once for the magics and the command line."""

BUILD_OPTIONS = [
    (("-t", "--tag"), dict(help="image name, e.g. heart-roc or heart-roc:v2 (default: from the notebook's name)")),
    (
        ("--form",),
        dict(
            choices=["script", "notebook", "lab"],
            default="script",
            help="script: the cells as a Python script (default); notebook: the notebook executed "
            "headless, writing the executed notebook and an HTML report; lab: JupyterLab "
            "serving the notebook in its environment (port 8888, token from JUPYTER_TOKEN)",
        ),
    ),
    (("--base",), dict(help="base image (default: python:<kernel major.minor>-slim)")),
    (
        ("--dry-run",),
        dict(action="store_true", help="show the Dockerfile and requirements; write nothing, touch no engine"),
    ),
    (("--context",), dict(metavar="DIR", help="write the build context to DIR and stop")),
    (
        ("--include",),
        dict(
            metavar="PATH",
            action="append",
            default=[],
            help="another file or folder (relative to the notebook) to copy into the image; repeatable",
        ),
    ),
    (
        ("--installer",),
        dict(choices=["uv", "pip"], default="uv", help="installer of the requirements layer (uv: faster)"),
    ),
    (
        ("--precompile",),
        dict(
            action="store_true",
            help="compile the bytecode of what the program imports at build time: every "
            "start of the image is seconds faster, the first build seconds slower "
            "(always on with --serve and the notebook and lab forms)",
        ),
    ),
    (
        ("--no-cache",),
        dict(action="store_true", help="reinstall the requirements instead of using the cached install layer"),
    ),
    (
        ("--allow-secrets",),
        dict(action="store_true", help="build even though something going into the image looks like a credential"),
    ),
    (
        ("--apt",),
        dict(
            metavar="PACKAGE",
            action="append",
            default=[],
            help="a Debian package to install in the image besides those the libraries need "
            "(found on their own); repeatable",
        ),
    ),
    (
        ("--exclude",),
        dict(
            metavar="PATH",
            action="append",
            default=[],
            help="a file or folder of the project (or a glob) to leave out of the image; repeatable",
        ),
    ),
    (("-q", "--quiet"), dict(action="store_true", help="no live build view")),
    (
        ("--verify",),
        dict(
            action="store_true",
            help="run the image once and compare what each cell prints with the saved notebook's outputs",
        ),
    ),
    (
        ("--compose",),
        dict(
            metavar="SERVICE[=IMAGE]",
            action="append",
            default=[],
            help="write <image>.compose.yaml beside the notebook, running the image beside "
            "this service (postgres, redis); repeatable",
        ),
    ),
    (
        ("--push",),
        dict(
            metavar="REGISTRY/REPO[:TAG]",
            help="after the build, tag the image so and push it (with your Docker credentials)",
        ),
    ),
    (
        ("--serve",),
        dict(
            type=int,
            metavar="PORT",
            help=(
                "package a web service listening on PORT (exposed, with a health check): the "
                "%%%%dockerize cell body starts it, or --function names one",
                "package a web service listening on PORT (exposed, with a health check): the body of the "
                "notebook's own %%%%dockerize cell starts it, or --function names one",
            ),
        ),
    ),
    (("--function",), dict(metavar="NAME", help="with --serve: serve this function as POST /NAME with JSON")),
    (
        ("--carry",),
        dict(
            metavar="NAME",
            action="append",
            default=[],
            help="carry this kernel object (e.g. a trained model) into the image instead of recomputing it; repeatable",
        ),
    ),
]

RUN_OPTIONS = [
    (
        ("-p", "--publish"),
        dict(
            action="append",
            default=[],
            metavar="[IP:]HOST:CONTAINER",
            help="publish a port (on 127.0.0.1 unless an IP is given); repeatable",
        ),
    ),
    (
        ("-e", "--env"),
        dict(
            action="append",
            default=[],
            metavar="NAME[=VALUE]",
            help="set an environment variable (NAME alone passes this process's value); repeatable",
        ),
    ),
    (
        ("-v", "--volume"),
        dict(
            action="append",
            default=[],
            metavar="HOST_DIR:CONTAINER_DIR[:ro]",
            help="bind-mount a host folder (only ever when asked; the engine must see the path)",
        ),
    ),
    (("-d", "--detach"), dict(action="store_true", help="start it and return at once")),
    (("--gpus",), dict(help="request GPUs: all or a count")),
    (("--timeout",), dict(type=float, help="stop the container after this many seconds")),
    (("--name",), dict(help="container name")),
    (
        ("--outputs",),
        dict(metavar="DIR", help="host folder for the outputs (default: a new folder under ./dockermagic-outputs/)"),
    ),
    (
        ("--param",),
        dict(
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="run with this value instead of the parameters cell's default (a Python literal, else text); "
            "repeatable",
        ),
    ),
    (("--cpus",), dict(metavar="N", help="CPUs the container may use (e.g. 1.5)")),
    (("--memory",), dict(metavar="SIZE", help="memory the container may use (e.g. 512m, 2g)")),
    (
        ("--replicas",),
        dict(type=int, metavar="N", help="on a Swarm: run a --serve image as a service with N replicas (with -d)"),
    ),
    (
        ("--publish-mode",),
        dict(
            choices=["ingress", "host"],
            default=None,
            help="on a Swarm: publish through the routing mesh (ingress, needs IPVS) or on each node's own "
            "address (host)",
        ),
    ),
    (
        ("--update",),
        dict(action="store_true", help="on a Swarm: roll the running service of this image to the image as it is now"),
    ),
]

SWEEP_OPTIONS = [
    (
        ("--grid",),
        dict(
            action="append",
            default=[],
            metavar="NAME=V1,V2,...",
            help="values of a parameter; repeatable (the sweep runs every combination)",
        ),
    ),
    (("--grid-file",), dict(metavar="FILE", help="points to run, from a YAML file (a list of NAME: VALUE maps)")),
    (("--parallel",), dict(type=int, metavar="K", help="points at once (default: the engine's CPU count)")),
    (("--retries",), dict(type=int, default=0, metavar="N", help="run a failed point again, up to N times")),
    (("--resume",), dict(action="store_true", help="skip points an earlier sweep of this image and grid finished")),
    (("--cpus",), dict(metavar="N", help="CPUs each point may use")),
    (("--memory",), dict(metavar="SIZE", help="memory each point may use (e.g. 512m)")),
    (("--timeout",), dict(type=float, metavar="SECONDS", help="stop a point that runs longer")),
    (("--name",), dict(help="the sweep's name (its outputs folder)")),
    (("--outputs",), dict(metavar="DIR", help="where the sweep's folder goes (default: ./dockermagic-outputs/)")),
    (
        ("-e", "--env"),
        dict(action="append", default=[], metavar="NAME[=VALUE]", help="environment variable of every point"),
    ),
    (("--swarm",), dict(action="store_true", help="run on the Docker Swarm the engine manages")),
    (("--push",), dict(metavar="REGISTRY/REPO[:TAG]", help="push the image there first, so every node can pull it")),
    (
        ("--constraint",),
        dict(action="append", default=[], metavar="EXPR", help="Swarm placement, e.g. node.labels.gpu==true"),
    ),
    (("--store",), dict(metavar="s3://BUCKET/PREFIX", help="where tasks on other Swarm nodes leave their outputs")),
]


def _for(kwargs, surface):
    """The option's arguments for a surface: a help given as ``(magic, cli)`` picks its wording."""
    help_text = kwargs.get("help")
    if isinstance(help_text, tuple):
        return dict(kwargs, help=help_text[0] if surface == "magic" else help_text[1])
    return kwargs


def add_to_parser(parser, options):
    """Add options to the command line's ``argparse`` parser."""
    for flags, kwargs in options:
        parser.add_argument(*flags, **_for(kwargs, "cli"))


def decorate(options):
    """Decorator giving an IPython magic these options (``magic_arguments`` style)."""
    from IPython.core.magic_arguments import argument

    def wrap(func):
        for flags, kwargs in reversed(options):
            func = argument(*flags, **_for(kwargs, "magic"))(func)
        return func

    return wrap


def build_kwargs(args):
    """Keyword arguments of :func:`dockermagic.dockerize` from parsed build options."""
    return dict(
        tag=args.tag,
        form=args.form,
        base=args.base,
        dry_run=args.dry_run,
        context=args.context,
        include=args.include,
        installer=args.installer,
        precompile=args.precompile or None,
        no_cache=args.no_cache,
        allow_secrets=args.allow_secrets,
        serve=args.serve,
        function=args.function,
        carry=args.carry,
        push=args.push,
        verify=args.verify,
        compose=args.compose,
        apt=args.apt,
        exclude=args.exclude,
    )


def sweep_kwargs(args):
    """Keyword arguments of :func:`dockermagic.sweep` from parsed sweep options."""
    return dict(
        grid=args.grid,
        grid_file=args.grid_file,
        parallel=args.parallel,
        retries=args.retries,
        resume=args.resume,
        cpus=args.cpus,
        memory=args.memory,
        timeout=args.timeout,
        name=args.name,
        outputs=args.outputs,
        env=args.env,
        swarm=args.swarm,
        push=args.push,
        constraints=args.constraint,
        store=args.store,
    )


def run_kwargs(args):
    """Keyword arguments of :func:`dockermagic.run` from parsed run options."""
    return dict(
        params=args.param,
        cpus=args.cpus,
        memory=args.memory,
        replicas=args.replicas,
        publish_mode=args.publish_mode,
        update=args.update,
        ports=args.publish,
        env=args.env,
        volumes=args.volume,
        detach=args.detach,
        timeout=args.timeout,
        gpus=args.gpus,
        name=args.name,
        outputs=args.outputs,
    )
