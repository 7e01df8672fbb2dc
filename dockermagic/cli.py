"""Command line for terminals and CI::

    dockermagic build NOTEBOOK.ipynb -t TAG [options]
    dockermagic run TAG [options] [-- COMMAND ...]
    python -m dockermagic ...

The same options and output as the magics, for a notebook file without a live kernel
(requirements come from the environment the command runs in). Exits non-zero on failure.
"""

import argparse
import sys

from . import __version__, api
from .display import BuildView, RunView, TransferView
from .errors import DockermagicError, RunError
from .options import BUILD_OPTIONS, RUN_OPTIONS, add_to_parser, build_kwargs, run_kwargs


def parser():
    p = argparse.ArgumentParser(prog="dockermagic", description="Turn a notebook into a Docker image that reruns it.")
    p.add_argument("--version", action="version", version=f"dockermagic {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="package a notebook file as an image")
    build.add_argument("notebook", help="the .ipynb file")
    add_to_parser(build, BUILD_OPTIONS)
    run = sub.add_parser("run", help="run an image and bring its outputs back")
    run.add_argument("image", help="image to run")
    add_to_parser(run, RUN_OPTIONS)
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    command = None
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    args = parser().parse_args(argv)
    try:
        if args.command == "build":
            view = None if args.quiet or args.dry_run or args.context else BuildView()
            image = api.dockerize(notebook=args.notebook, progress=view, push_progress=TransferView(),
                                  **build_kwargs(args))
            if args.dry_run:
                print(image.dockerfile)
                for req in image.requirements:
                    print(f"{str(req):<40} # {req.origin}")
            print(repr(image))
        else:
            result = api.run(args.image, command, progress=RunView(), pull_progress=TransferView(),
                             **run_kwargs(args))
            print(repr(result))
    except RunError as exc:
        print(f"dockermagic: {exc}", file=sys.stderr)
        return 1
    except DockermagicError as exc:
        print(f"dockermagic: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dockermagic: interrupted", file=sys.stderr)
        return 130
    return 0
