"""Command line for terminals and CI::

    dockermagic build NOTEBOOK.ipynb -t TAG [options]
    dockermagic run TAG [options] [-- COMMAND ...]
    python -m dockermagic ...

The same options as the magics, for a notebook file without a live kernel (requirements come
from the environment the command runs in). On a terminal the build shows a live step line in
colour; piped or under ``CI=true`` it prints plain lines. Exit codes: 0 success, 1 the
program failed, 2 a mistake or a failed build, 130 interrupted.
"""

import argparse
import os
import sys

from . import __version__, api, wording
from .capture import packaging_cell
from .display import BuildView, RunView, SweepView, TransferView, terminal_build_view
from .errors import DockermagicError, Interrupted, RunError
from .options import BUILD_OPTIONS, RUN_OPTIONS, SWEEP_OPTIONS, add_to_parser, build_kwargs, run_kwargs, sweep_kwargs
from .request import KernelContext

BUILD_EXAMPLES = """examples:
  dockermagic build analysis.ipynb -t analysis
  dockermagic build analysis.ipynb --dry-run              # Dockerfile and requirements only
  dockermagic build analysis.ipynb --context build/       # write the build context and stop
  dockermagic build api.ipynb -t api --serve 8000 --function predict
  dockermagic build analysis.ipynb --push localhost:5000/team/analysis:v1
"""
SWEEP_EXAMPLES = """examples:
  dockermagic sweep analysis --grid C=0.01,0.1,1 --grid seed=1,2 --parallel 3
  dockermagic sweep analysis --grid-file points.yaml --retries 1 --resume
  DOCKER_HOST=ssh://manager dockermagic sweep registry:5000/analysis --grid C=0.1,1 --store s3://bucket/sweeps
"""
RUN_EXAMPLES = """examples:
  dockermagic run analysis --timeout 600                  # outputs land in ./dockermagic-outputs/
  dockermagic run api -p 8080:8000 -d                     # serve on http://127.0.0.1:8080
  dockermagic run analysis -e SEED=3 -- python program.py --fast
  dockermagic run analysis --param C=0.1 --param seed=3    # values for the parameters cell
"""


def parser():
    p = argparse.ArgumentParser(
        prog="dockermagic",
        description="Turn a notebook into a Docker image that reruns it, and run it.",
        epilog="see 'dockermagic build --help' and 'dockermagic run --help' for examples",
    )
    p.add_argument("--version", action="version", version=f"dockermagic {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    build = sub.add_parser(
        "build",
        help="package a notebook file as an image",
        description="Package a notebook file as a Docker image that reruns it.",
        epilog=BUILD_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("notebook", help="the .ipynb file")
    add_to_parser(build, BUILD_OPTIONS)
    run = sub.add_parser(
        "run",
        help="run an image and bring its outputs back",
        description="Run an image; what the program wrote comes back into a new folder.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("image", help="image to run")
    add_to_parser(run, RUN_OPTIONS)
    sweep = sub.add_parser(
        "sweep",
        help="run an image once per point of a parameter grid",
        description="Run an image once per point of a parameter grid, in parallel, on this engine or a Swarm.",
        epilog=SWEEP_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("image", help="image to run")
    add_to_parser(sweep, SWEEP_OPTIONS)
    return p


def _plain_output():
    """Plain lines, no colour or live line: not a terminal, or a CI log."""
    return not sys.stdout.isatty() or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    command = None
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1 :]
    args = parser().parse_args(argv)
    with wording.speaking("cli"):
        return _main(args, command)


def _main(args, command):
    try:
        if args.command == "build":
            view = None
            if not (args.quiet or args.dry_run or args.context):
                view = BuildView() if _plain_output() else terminal_build_view()
            cell, body = packaging_cell(args.notebook) if os.path.isfile(args.notebook) else (None, None)
            image = api.dockerize(
                notebook=args.notebook,
                cell=body,
                on_progress=view,
                on_push_progress=TransferView(),
                kernel=KernelContext(current_cell=cell),
                **build_kwargs(args),
            )
            if args.dry_run:
                print(image.dry_run_text())
            print(repr(image))
        elif args.command == "sweep":
            print(repr(api.sweep(args.image, on_progress=SweepView(), **sweep_kwargs(args))))
        else:
            result = api.run(
                args.image, command, on_progress=RunView(), on_pull_progress=TransferView(), **run_kwargs(args)
            )
            print(repr(result))
    except Interrupted as exc:
        print(f"dockermagic: {exc}", file=sys.stderr)
        return 130
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
