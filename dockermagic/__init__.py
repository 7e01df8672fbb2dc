"""dockermagic: the live notebook as a Docker image that reruns it, serves it or shares it.

In IPython or Jupyter::

    %load_ext dockermagic
    img = %dockerize -t heart-roc
    run = %docker_run heart-roc

From Python: :func:`dockerize` and :func:`run`.
"""

from ._version import __version__


def dockerize(*args, **kwargs):
    from .api import dockerize as _dockerize

    return _dockerize(*args, **kwargs)


def run(*args, **kwargs):
    from .api import run as _run

    return _run(*args, **kwargs)


def load_ipython_extension(ipython):
    """Register dockermagic's magics: ``%load_ext dockermagic``."""
    from .magics import DockerMagics

    ipython.register_magics(DockerMagics)


def unload_ipython_extension(ipython):
    """Nothing to undo; present so ``%reload_ext dockermagic`` works."""


__all__ = ["__version__", "dockerize", "run", "load_ipython_extension"]
