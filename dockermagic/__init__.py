"""dockermagic: the live notebook as a Docker image that reruns it, serves it or shares it.

In IPython or Jupyter::

    %load_ext dockermagic
    img = %dockerize -t heart-roc
    run = %docker_run heart-roc

From Python: :func:`dockerize`, :func:`run` and :func:`sweep`; in a notebook,
:func:`record` makes a value part of a run's result.
"""

from ._version import __version__
from .api import dockerize, record, run, sweep


def load_ipython_extension(ipython):
    """Register dockermagic's magics: ``%load_ext dockermagic``."""
    from . import opened
    from .magics import DockerMagics

    ipython.register_magics(DockerMagics)
    # from now on the files the notebook opens are known, for the image to hold them
    opened.install(lambda: getattr(ipython, "execution_count", None))


def unload_ipython_extension(ipython):
    """Nothing to undo; present so ``%reload_ext dockermagic`` works."""


__all__ = ["__version__", "dockerize", "run", "sweep", "record", "load_ipython_extension"]
