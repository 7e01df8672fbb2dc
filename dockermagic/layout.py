"""Names shared by every stage: where things live in the image and in the build context, the
labels dockermagic puts on what it creates, and its cache folder on the host.

Plain constants and one helper; nothing here does I/O at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the program's folder in the image, and the root of the mirrored project
APP = "/app"
#: the virtual environment the requirements are installed into
VENV = "/opt/venv"
#: where the builder stage keeps index settings, the CA bundle and local wheels (never in the final image)
BUILD_SUPPORT = "/tmp/dockermagic"
#: the non-root user the program runs as
UID = 1000
#: dockermagic's support package, copied into every image (outside the project, on PYTHONPATH)
RUNTIME_PACKAGE = "_dockermagic_runtime"
RUNTIME_HOME = "/opt/dockermagic"
#: a folder the program's user can write, for bytecode shared by the points of a sweep
CACHE_DIR = "/var/cache/dockermagic"
#: where files a program wrote elsewhere in the project than its own folder come back
PROJECT_FILES = "project-files"
#: the exported program of the script form, and the notebook of the notebook/lab forms
PROGRAM_FILE = "program.py"
NOTEBOOK_FILE = "notebook.ipynb"
#: kernel objects carried into the image (``--carry``), pickled, under the program's folder
OBJECTS_FOLDER = "_dockermagic_objects"
#: the port JupyterLab listens on in a ``--form lab`` image
LAB_PORT = 8888
#: a build argument whose new value reruns the install step only (``--no-cache``)
REBUILD_ARG = "DOCKERMAGIC_REBUILD"
#: the host folder (beside the notebook) that receives what runs produced
OUTPUTS_FOLDER = "dockermagic-outputs"

# Labels on images, containers and services.
LABEL_VERSION = "org.dockermagic.version"
LABEL_NOTEBOOK = "org.dockermagic.notebook"
LABEL_REQUIREMENTS = "org.dockermagic.requirements-sha256"
LABEL_STAGE = "org.dockermagic.stage"
LABEL_IMAGE = "org.dockermagic.image"
LABEL_WORKDIR = "org.dockermagic.workdir"
LABEL_PARAMETERS = "org.dockermagic.parameters"
LABEL_CELLS = "org.dockermagic.cells"
LABEL_ENV = "org.dockermagic.env"
LABEL_SWEEP = "org.dockermagic.sweep"
LABEL_POINT = "org.dockermagic.point"
LABEL_CREATED = "org.opencontainers.image.created"
LABEL_USER = "org.dockermagic.user"
LABEL_BYTECODE = "org.dockermagic.bytecode"


def user_label() -> str:
    """Who started a container (``user@host``): ``%docker_ps`` lists this user's containers."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return f"{user}@{socket.gethostname()}"


def cache_home() -> Path:
    """dockermagic's cache folder: ``$XDG_CACHE_HOME/dockermagic`` (``~/.cache/dockermagic``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockermagic"
