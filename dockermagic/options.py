"""The options of building and running, defined once for the magics and the command line."""

BUILD_OPTIONS = [
    (("-t", "--tag"), dict(help="image name, e.g. heart-roc or heart-roc:v2 (default: from the notebook's name)")),
    (("--form",), dict(choices=["script", "notebook", "lab"], default="script",
                       help="script: the cells as a Python script (default); notebook: the notebook executed "
                            "headless, writing the executed notebook and an HTML report; lab: JupyterLab "
                            "serving the notebook in its environment (port 8888, token from JUPYTER_TOKEN)")),
    (("--base",), dict(help="base image (default: python:<kernel major.minor>-slim)")),
    (("--dry-run",), dict(action="store_true", help="show the Dockerfile and requirements; write nothing, touch no engine")),
    (("--context",), dict(metavar="DIR", help="write the build context to DIR and stop")),
    (("--include",), dict(metavar="PATH", action="append", default=[],
                          help="another file or folder (relative to the notebook) to copy into the image; repeatable")),
    (("--installer",), dict(choices=["uv", "pip"], default="uv", help="installer of the requirements layer (uv: faster)")),
    (("--precompile",), dict(action="store_true",
                             help="compile the bytecode of what the program imports at build time: every "
                                  "start of the image is seconds faster, the first build seconds slower "
                                  "(always on with --serve and the notebook and lab forms)")),
    (("--no-cache",), dict(action="store_true", help="rebuild every step, ignoring the build cache")),
    (("--allow-secrets",), dict(action="store_true",
                                help="build even though something going into the image looks like a credential")),
    (("-q", "--quiet"), dict(action="store_true", help="no live build view")),
    (("--verify",), dict(action="store_true", help="run the image once and compare what each cell prints "
                                                  "with the saved notebook's outputs")),
    (("--compose",), dict(metavar="SERVICE[=IMAGE]", action="append", default=[],
                          help="write <image>.compose.yaml beside the notebook, running the image beside "
                               "this service (postgres, redis); repeatable")),
    (("--push",), dict(metavar="REGISTRY/REPO[:TAG]", help="after the build, tag the image so and push it "
                                                       "(with your Docker credentials)")),
    (("--serve",), dict(type=int, metavar="PORT",
                        help="package a web service listening on PORT (exposed, with a health check): the "
                             "%%%%dockerize cell body starts it, or --function names one")),
    (("--function",), dict(metavar="NAME", help="with --serve: serve this function as POST /NAME with JSON")),
    (("--carry",), dict(metavar="NAME", action="append", default=[],
                        help="carry this kernel object (e.g. a trained model) into the image instead of "
                             "recomputing it; repeatable")),
]

RUN_OPTIONS = [
    (("-p", "--publish"), dict(action="append", default=[], metavar="[IP:]HOST:CONTAINER",
                               help="publish a port (on 127.0.0.1 unless an IP is given); repeatable")),
    (("-e", "--env"), dict(action="append", default=[], metavar="NAME[=VALUE]",
                           help="set an environment variable (NAME alone passes this process's value); repeatable")),
    (("-v", "--volume"), dict(action="append", default=[], metavar="HOST_DIR:CONTAINER_DIR[:ro]",
                              help="bind-mount a host folder (only ever when asked; the engine must see the path)")),
    (("-d", "--detach"), dict(action="store_true", help="start it and return at once")),
    (("--gpus",), dict(help="request GPUs: all or a count")),
    (("--timeout",), dict(type=float, help="stop the container after this many seconds")),
    (("--name",), dict(help="container name")),
    (("--outputs",), dict(metavar="DIR", help="host folder for the outputs (default: a new folder under ./dockermagic-outputs/)")),
]


def add_to_parser(parser, options):
    """Add options to an ``argparse`` parser."""
    for flags, kwargs in options:
        parser.add_argument(*flags, **kwargs)


def decorate(options):
    """Decorator giving an IPython magic these options (``magic_arguments`` style)."""
    from IPython.core.magic_arguments import argument

    def wrap(func):
        for flags, kwargs in reversed(options):
            func = argument(*flags, **kwargs)(func)
        return func
    return wrap


def build_kwargs(args):
    """Keyword arguments of :func:`dockermagic.dockerize` from parsed build options."""
    return dict(tag=args.tag, form=args.form, base=args.base, dry_run=args.dry_run, context=args.context, include=args.include,
                installer=args.installer, precompile=getattr(args, "precompile", False) or None,
                no_cache=args.no_cache, allow_secrets=args.allow_secrets,
                serve=getattr(args, "serve", None), function=getattr(args, "function", None),
                carry=getattr(args, "carry", []), push=getattr(args, "push", None),
                verify=getattr(args, "verify", False), compose=getattr(args, "compose", []))


def run_kwargs(args):
    """Keyword arguments of :func:`dockermagic.run` from parsed run options."""
    return dict(ports=args.publish, env=args.env, volumes=args.volume, detach=args.detach, timeout=args.timeout, gpus=args.gpus,
                name=args.name, outputs=args.outputs)
