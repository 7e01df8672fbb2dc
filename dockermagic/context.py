"""The build context: the folder Docker builds from, holding only what the program needs.

Layout::

    Dockerfile
    requirements.txt
    .dockermagic/          builder stage only: pip.conf, CA bundle, local wheels
    app/                   the program, dockermagic's runtime, local modules, data files

Files the program reads are found from string literals in its code that name existing
files beside the notebook. Credentials (``.env``, ``.git``, SSH keys, cloud credential
files) never enter, whatever the program names. The folder is written next to its final
place and swapped in whole, so a failure never leaves a half-written context, and a folder
that dockermagic did not write is never overwritten.
"""

import ast
import fnmatch
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DockermagicError
from .layout import BUILD_SUPPORT, RUNTIME_PACKAGE

MARKER = "dockermagic-context.json"
RUNTIME_SOURCE = Path(__file__).parent / "runtime"
#: files that never enter an image
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    ".git",
    ".ssh",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    ".aws",
    ".azure",
    ".gcloud",
    "credentials",
    "credentials.json",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".docker",
    ".kube",
    "*.kubeconfig",
    "service-account*.json",
    ".git-credentials",
)
SKIP_DIRS = {
    "__pycache__",
    ".ipynb_checkpoints",
    ".dockermagic",
    "dockermagic-outputs",
    ".venv",
    "venv",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
}
#: methods whose first argument is a file the program writes, not one it reads
WRITE_CALLS = {
    "to_csv",
    "to_parquet",
    "to_excel",
    "to_json",
    "to_pickle",
    "to_feather",
    "to_html",
    "to_latex",
    "to_markdown",
    "to_hdf",
    "to_stata",
    "to_xml",
    "savefig",
    "write_text",
    "write_bytes",
    "imsave",
    "imwrite",
    "savez",
    "savez_compressed",
    "save",
    "dump",
    "to_file",
    "mkdir",
    "makedirs",
}
LARGE_FILE = 200 * 1024 * 1024


def is_secret_path(path):
    """Whether a path (any of its parts) is a credential file that must never be copied."""
    return any(fnmatch.fnmatch(part, pattern) for part in Path(path).parts for pattern in SECRET_PATTERNS)


@dataclass
class DataFiles:
    """Files beside the notebook the program reads.

    Attributes:
        files: ``{relative path: absolute path}`` to copy.
        refused: relative paths named by the program that are credentials, not copied.
        too_large: relative paths over the size limit, not copied.
    """

    files: dict[str, Path] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)


def _written_strings(tree):
    written = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in WRITE_CALLS:
            written.add(first.value)
        elif name == "open":
            mode = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax"):
                written.add(first.value)
    return written


def _tree_size(path):
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def find_data_files(codes, workdir, extra=(), limit=LARGE_FILE):
    """Files and folders beside the notebook that the program's code names.

    Args:
        codes: Python sources of the program (cells, local modules).
        workdir: the notebook's folder.
        extra: more paths (relative to ``workdir``) the user asked for.
        limit: size above which a file is not copied (it should be mounted at run time).
    """
    workdir = Path(workdir).resolve()
    found = DataFiles()
    from .imports import cell_magic_body

    names = list(extra)
    pending = list(codes)
    while pending:
        code = pending.pop(0)
        try:
            tree = code if isinstance(code, ast.AST) else ast.parse(code)
        except SyntaxError:
            continue
        # the Python body of a %%time or %%capture cell is one string: read it as code too
        pending += [body for body in map(cell_magic_body, ast.walk(tree)) if body is not None]
        written = _written_strings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value not in written:
                value = node.value.strip()
                if value and len(value) < 300 and "\n" not in value and not value.startswith(("http:", "https:")):
                    names.append(value)
    for name in dict.fromkeys(names):
        candidate = workdir / name
        try:
            resolved = candidate.resolve()
            inside = resolved.relative_to(workdir)
        except (ValueError, OSError):
            continue
        if not resolved.exists() or str(inside) in (".", ""):
            continue
        if any(part in SKIP_DIRS for part in inside.parts):
            continue
        rel = inside.as_posix()
        if is_secret_path(inside):
            found.refused.append(rel)
            continue
        if _tree_size(resolved) > limit:
            found.too_large.append(rel)
            continue
        found.files[rel] = resolved
    return found


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
        shutil.copytree(RUNTIME_SOURCE, app / RUNTIME_PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
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
                    "app": folder_digest(app),
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
