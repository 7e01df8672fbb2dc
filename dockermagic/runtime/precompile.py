"""Write the bytecode of the modules a program imports, once, while the image is built.

    python -m _dockermagic_runtime.precompile [--owner UID] MODULE [MODULE ...]

The image runs as a non-root user with ``PYTHONDONTWRITEBYTECODE``, so a module without a
``.pyc`` is compiled again on every start. Compiling every installed file costs seconds of
build time and a fifth of the environment's size; importing what the program imports writes
exactly the ``.pyc`` files a start needs (standard library included, which the official
images ship without). A module that cannot be imported here is reported and skipped: the
program itself will say what is wrong when it runs. Caches that imports create under
``MPLCONFIGDIR`` (matplotlib's font list) are handed to ``--owner``.
"""

import argparse
import importlib
import os
import signal
import sys
import time

PER_MODULE_SECONDS = 120


class _TooSlow(Exception):
    pass


def _alarm(signum, frame):
    raise _TooSlow()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m _dockermagic_runtime.precompile")
    parser.add_argument("--owner", type=int, default=None, help="uid that gets the caches imports create")
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = False
    os.environ["MPLBACKEND"] = "Agg"  # importing pyplot needs no figure output here
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    done = 0
    for name in args.modules:
        signal.alarm(PER_MODULE_SECONDS)
        try:
            importlib.import_module(name)
            done += 1
        except _TooSlow:
            print(f"dockermagic: import {name} took over {PER_MODULE_SECONDS} s at build time; skipped", flush=True)
        except BaseException as exc:
            line = (str(exc).strip().splitlines() or [""])[0]
            print(f"dockermagic: import {name} fails in the image: {type(exc).__name__}: {line}", flush=True)
        finally:
            signal.alarm(0)
    cache = os.environ.get("MPLCONFIGDIR")
    if args.owner is not None and cache and os.path.isdir(cache):
        for root, _dirs, files in os.walk(cache):
            for entry in [root] + [os.path.join(root, f) for f in files]:
                os.chown(entry, args.owner, args.owner)
    print(
        f"dockermagic: bytecode for {done} of {len(args.modules)} imports in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
