"""The build context: the folder Docker builds from, holding only what the program needs.

Layout::

    Dockerfile
    requirements.txt
    .dockermagic/          builder stage only: pip.conf, CA bundle, local wheels and projects
    runtime/               dockermagic's runtime package (/opt/dockermagic in the image)
    app/                   the needed part of the project, from its root: the program in the
                           notebook's folder, local modules, data files (/app in the image)

What goes into ``app/`` is decided by :mod:`dockermagic.datafiles`; credentials (``.env``,
``.git``, SSH keys, cloud credential files) never enter. The folder is written next to its
final place and swapped in whole, so a failure never leaves a half-written context, and a
folder that dockermagic did not write is never overwritten.
"""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .datafiles import SKIP_DIRS, is_secret_path
from .errors import DockermagicError
from .layout import BUILD_SUPPORT, RUNTIME_PACKAGE

MARKER = "dockermagic-context.json"
RUNTIME_SOURCE = Path(__file__).parent / "runtime"


def _copy(src, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(
            src,
            dest,
            dirs_exist_ok=True,
            ignore=lambda d, names: [n for n in names if n in SKIP_DIRS or is_secret_path(n)],
        )
    else:
        shutil.copy2(src, dest)


def folder_digest(folder):
    """A digest of every file's path and content under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass
class ContextPlan:
    """Everything that goes into a build context (plain data; :func:`write_context` writes it).

    Attributes:
        dockerfile: the Dockerfile text.
        requirements: ``requirements.txt`` text.
        program_files: ``{path under app/: text}`` of generated files.
        copies: ``{path under app/: source path}`` of local modules and data.
        support_files: ``{path under .dockermagic/: text}`` for the builder stage.
        support_copies: ``{path under .dockermagic/: source path}`` (CA bundle, wheels).
        binary_files: ``{path under app/: bytes}`` (carried objects).
    """

    dockerfile: str
    requirements: str
    program_files: dict[str, str]
    copies: dict[str, Path] = field(default_factory=dict)
    support_files: dict[str, str] = field(default_factory=dict)
    support_copies: dict[str, Path] = field(default_factory=dict)
    binary_files: dict[str, bytes] = field(default_factory=dict)


def pip_config(index):
    """``pip.conf`` text carrying the kernel's index settings into the builder stage."""
    lines = ["[global]"]
    if index.index_url:
        lines.append(f"index-url = {index.index_url}")
    if index.extra_index_urls:
        lines.append("extra-index-url = " + " ".join(index.extra_index_urls))
    if index.trusted_hosts:
        lines.append("trusted-host = " + " ".join(index.trusted_hosts))
    if index.ca_bundle:
        lines.append(f"cert = {BUILD_SUPPORT}/ca-bundle.pem")
    return "\n".join(lines) + "\n"


def uv_config(index):
    """``uv.toml`` text with the same index settings, for uv in the builder stage.

    uv reads neither ``pip.conf`` nor ``PIP_CERT``; the CA bundle reaches it as ``SSL_CERT_FILE``.
    """
    lines = []
    if index.index_url:
        lines.append(f"index-url = {json.dumps(index.index_url)}")
    if index.extra_index_urls:
        lines.append(f"extra-index-url = {json.dumps(list(index.extra_index_urls))}")
    if index.trusted_hosts:
        lines.append(f"allow-insecure-host = {json.dumps(list(index.trusted_hosts))}")
    if getattr(index, "best_match", False):
        lines.append('index-strategy = "unsafe-best-match"')
    return "\n".join(lines) + "\n"


def write_context(plan, folder, own_folder=False):
    """Write the build context to ``folder`` and return its path.

    The new context is written beside ``folder`` and swapped in only when complete. An
    existing ``folder`` is replaced only if dockermagic wrote it (or it is empty).

    Args:
        plan: the :class:`ContextPlan`.
        folder: where the context goes.
        own_folder: ``folder`` belongs to dockermagic (its cache), not to the user.

    Raises:
        DockermagicError: ``folder`` holds files dockermagic did not write.
    """
    folder = Path(folder).resolve()
    if folder.exists():
        if not folder.is_dir():
            raise DockermagicError(f"--context {folder} is a file, not a folder")
        if any(folder.iterdir()) and not (folder / MARKER).is_file() and not own_folder:
            raise DockermagicError(
                f"--context {folder} is not empty and was not written by dockermagic: name a new or empty folder"
            )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (staging / "Dockerfile").write_text(plan.dockerfile)
        (staging / "requirements.txt").write_text(plan.requirements)
        app = staging / "app"
        app.mkdir()
        shutil.copytree(
            RUNTIME_SOURCE, staging / "runtime" / RUNTIME_PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        for rel, src in plan.copies.items():
            _copy(Path(src), app / rel)
        for rel, text in plan.program_files.items():
            (app / rel).parent.mkdir(parents=True, exist_ok=True)
            (app / rel).write_text(text)
        for rel, data in plan.binary_files.items():
            (app / rel).parent.mkdir(parents=True, exist_ok=True)
            (app / rel).write_bytes(data)
        support = staging / ".dockermagic"
        support.mkdir()
        for rel, text in plan.support_files.items():
            (support / rel).parent.mkdir(parents=True, exist_ok=True)
            (support / rel).write_text(text)
        for rel, src in plan.support_copies.items():
            _copy(Path(src), support / rel)
        (staging / ".dockerignore").write_text("# everything in this folder was put here by dockermagic\n")
        (staging / MARKER).write_text(
            json.dumps(
                {
                    "app": folder_digest(app) + folder_digest(staging / "runtime"),
                    "support": folder_digest(support),
                    "requirements": plan.requirements,
                    "dockerfile": hashlib.sha256(
                        "".join(
                            line for line in plan.dockerfile.splitlines(True) if "image.created" not in line
                        ).encode()
                    ).hexdigest(),
                },
                indent=1,
            )
        )
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            folder.rename(old)
        staging.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def read_marker(folder):
    """What dockermagic recorded about the context in ``folder`` (empty if none)."""
    try:
        return json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def what_changed(old, new):
    """Why a rebuild of the same image could not use the cache, from two context markers."""
    if not old:
        return []
    changes = []
    before = set(old.get("requirements", "").splitlines())
    after = set(new.get("requirements", "").splitlines())
    if before != after:
        diff = [f"+{r}" for r in sorted(after - before)] + [f"-{r}" for r in sorted(before - after)]
        changes.append("requirements changed (" + ", ".join(diff[:6]) + (" ..." if len(diff) > 6 else "") + ")")
    if old.get("support") != new.get("support"):
        changes.append("package-index settings changed")
    if old.get("dockerfile") != new.get("dockerfile") and old.get("requirements") == new.get("requirements"):
        changes.append("the Dockerfile changed")
    if old.get("app") != new.get("app"):
        changes.append("the program or its files changed")
    return changes
