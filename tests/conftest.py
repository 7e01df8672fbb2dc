"""Shared fixtures: a real Docker engine (started by scripts/ensure-engine.sh), notebooks
executed in a real IPython kernel, and clean-up of everything the tests create."""

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
TEST_PREFIX = "dmtest-"
#: the names the ``tag`` fixture handed out in this session: only their images are removed at
#: the end (another test session may be using the same engine)
SESSION_TAGS = []
#: a test session never lasts this long: what an earlier one left this old, it left when killed
STALE_SECONDS = 2 * 3600


def _remove_stale(client):
    """Remove what a killed test session left: its ``dmtest-`` images, their containers and its
    builder-stage images, once they are older than any session can be."""
    import time

    cutoff = time.time() - STALE_SECONDS
    stale = set()
    for image in client.api.images(all=True):
        tags = [t for t in image.get("RepoTags") or [] if t.startswith(TEST_PREFIX)]
        labels = image.get("Labels") or {}
        dangling_builder = not (image.get("RepoTags") or []) or image.get("RepoTags") == ["<none>:<none>"]
        dangling_builder = dangling_builder and labels.get("org.dockermagic.stage") == "builder"
        if image.get("Created", cutoff) < cutoff and (tags or dangling_builder):
            stale.add(image["Id"])
    for container in client.api.containers(all=True, filters={"label": "org.dockermagic.version"}):
        if container.get("Created", cutoff) < cutoff and container.get("ImageID") in stale:
            try:
                client.api.remove_container(container["Id"], force=True)
            except Exception:
                pass
    for image_id in stale:
        try:
            client.api.remove_image(image_id, force=True)
        except Exception:
            pass


@pytest.fixture(scope="session")
def docker_client():
    """A client of a real engine; the engine and base image are made ready first."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-engine.sh")], capture_output=True, text=True)
    sys.stderr.write(result.stderr)
    assert result.returncode == 0, f"scripts/ensure-engine.sh failed:\n{result.stderr}"
    import docker

    client = docker.from_env(version="auto")
    client.ping()
    _remove_stale(client)
    # the low-level listing inspects nothing: an image another build removes meanwhile is no error
    before = {image["Id"] for image in client.api.images(all=True)}
    yield client
    ours = tuple(SESSION_TAGS)

    def of_this_session(name):
        return any(t in name for t in ours)

    for container in client.containers.list(all=True, filters={"label": "org.dockermagic.version"}):
        if of_this_session(container.labels.get("org.dockermagic.image", "")):
            container.remove(force=True)
    for image in client.api.images():
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        if any(of_this_session(t) for t in tags):
            for tag in tags:
                try:
                    client.images.remove(tag, force=True)
                except Exception:
                    pass
    contexts = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockermagic" / "contexts"
    for folder in contexts.glob(f"{TEST_PREFIX}*"):
        if of_this_session(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
    for image in client.api.images(filters={"dangling": True, "label": "org.dockermagic.stage=builder"}):
        if image["Id"] in before:
            continue
        try:
            client.images.remove(image["Id"], force=True)
        except Exception:
            pass


@pytest.fixture
def tag():
    """A unique image name that the session clean-up removes."""
    name = f"{TEST_PREFIX}{secrets.token_hex(4)}"
    SESSION_TAGS.append(name)
    return name


@pytest.fixture
def notebook_dir(tmp_path):
    """A folder for a notebook."""
    return tmp_path


def make_notebook(folder, cells, name="analysis.ipynb"):
    """Write a notebook of code cells (strings) or (kind, text) pairs; return its path."""
    nb = nbformat.v4.new_notebook()
    for cell in cells:
        kind, text = cell if isinstance(cell, tuple) else ("code", cell)
        nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(folder) / name
    nbformat.write(nb, str(path))
    return path


class Executed:
    """A notebook executed in a real kernel, with helpers to read its outputs."""

    def __init__(self, nb, messages):
        self.nb = nb
        self.messages = messages

    @property
    def code_cells(self):
        return [c for c in self.nb.cells if c.cell_type == "code"]

    def text(self, index):
        """All text a code cell showed (streams, plain-text results, errors)."""
        parts = []
        for out in self.code_cells[index].outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}\n" + "\n".join(out.traceback))
        return "\n".join(parts)

    def errors(self, index):
        return [o for o in self.code_cells[index].outputs if o.output_type == "error"]


def execute(path, *, session_file=True, timeout=900, extra_env=None, kernel_name="python3"):
    """Execute a notebook in a fresh python3 kernel, in the notebook's folder.

    With ``session_file`` the kernel is told its notebook file as JupyterLab does
    (``JPY_SESSION_NAME``); without it, dockermagic must use the kernel's history.
    Returns an :class:`Executed` that also holds every IOPub message, with arrival times.
    """
    import time

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    env_before = dict(os.environ)
    if session_file:
        os.environ["JPY_SESSION_NAME"] = str(path)
    else:
        os.environ.pop("JPY_SESSION_NAME", None)
    os.environ.update(extra_env or {})
    messages = []
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            allow_errors=True,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(path.parent)}},
        )
        original = client.process_message

        def record(msg, cell, cell_index):
            messages.append((time.monotonic(), cell_index, msg))
            return original(msg, cell, cell_index)

        client.process_message = record
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return Executed(nb, messages)


@pytest.fixture
def example_dir(tmp_path):
    """A private copy of examples/ (the tests never write into the repository)."""
    dest = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", dest, ignore=shutil.ignore_patterns("dockermagic-outputs", ".ipynb_checkpoints"))
    return dest
