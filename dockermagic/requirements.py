"""Requirements: what the image must install, read from the live kernel.

Imports found in the program are mapped to the distributions installed in the kernel
(``importlib.metadata``) and pinned to the installed versions; so are the declared
dependencies of everything required, and the distributions the kernel loaded that no
requirement declares. Nothing is looked up on a package index: a module that is not
installed is reported (with pipreqs' guess at its distribution name when pipreqs is
installed), never guessed.
"""

import json
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as _PkgRequirement
from packaging.utils import canonicalize_name

from .errors import RequirementsError
from .imports import Import, _local_imports, find_imports, local_module_path, sys_path_folders
from .layout import BUILD_SUPPORT, RUNTIME_PACKAGE

#: distributions that make up the kernel itself; left out unless the program imports them
KERNEL_MACHINERY = (
    "ipykernel",
    "ipython",
    "jupyter-client",
    "jupyter-core",
    "dockermagic",
    "comm",
    "debugpy",
    "matplotlib-inline",
    "nbclient",
    "nbconvert",
    "nbformat",
    "docker",
    "detect-secrets",
    "pipreqs",
    "jupyterlab",
    "jupyter-server",
    "notebook",
    "ipywidgets",
    "pip",
    "setuptools",
    "wheel",
    "pytest",
)
#: installers, never pinned unless imported
TOOLING = {"pip", "setuptools", "wheel"}
#: pip options that take a value, and those of them that belong in requirements.txt
_VALUE_OPTIONS = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "--target",
    "-t",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "--report",
}
_FILE_OPTIONS = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "--trusted-host": "--trusted-host",
}


@dataclass(frozen=True)
class Requirement:
    """One line of the image's ``requirements.txt``.

    ``str(req)`` is the pip line (``scikit-learn==1.5.2``); ``origin`` says why it is there
    (``import sklearn in cell 3``, ``dependency of pandas``, ``%pip in cell 2``,
    ``loaded in the kernel, declared by no requirement``).
    """

    name: str
    version: Optional[str]
    origin: str
    spec: Optional[str] = None
    local_file: Optional[Path] = None
    #: the project folder of a package the kernel has installed from a folder (``pip install
    #: -e .``): the image installs that project's source (not editable)
    local_project: Optional[Path] = None

    def __str__(self):
        if self.spec:
            return self.spec
        return f"{self.name}=={self.version}" if self.version else self.name

    @property
    def key(self):
        return canonicalize_name(self.name)


@dataclass
class RequirementSet:
    """The result of requirement inference.

    Attributes:
        requirements: sorted by name; ``requirements.txt`` is ``text()``.
        pip_options: index options for ``requirements.txt`` (from ``%pip`` lines).
        local_modules: ``{import name: path}`` of modules beside the notebook.
        missing: imports nothing installed provides: ``(module, cell, suggestion)``.
        problems: installs that cannot be reproduced from an index; they stop the build.
        notes: things worth saying that do not stop the build.
        modules: the dotted modules the program imports from the standard library and its
            requirements (not local modules), sorted; the image compiles their bytecode.
    """

    requirements: list[Requirement] = field(default_factory=list)
    pip_options: list[str] = field(default_factory=list)
    local_modules: dict[str, Path] = field(default_factory=dict)
    missing: list[tuple[str, str, Optional[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    def text(self):
        """The ``requirements.txt`` the image installs (stable: only names and versions)."""
        lines = list(self.pip_options)
        lines += [_line(r) for r in self.requirements]
        return "\n".join(lines) + ("\n" if lines else "")


def _line(req: Requirement) -> str:
    if req.local_file:
        return f"{BUILD_SUPPORT}/wheels/{req.local_file.name}"
    if req.local_project:
        return f"{BUILD_SUPPORT}/projects/{req.key}"
    return str(req)


#: what makes a folder an installable Python project
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


# --- the kernel's installed distributions -------------------------------------------------


class Installed:
    """The kernel's installed distributions, looked up by import name and by project name."""

    def __init__(self, by_module=None, dists=None):
        self._by_module = by_module
        self._dists = dists

    @property
    def by_module(self):
        if self._by_module is None:
            self._by_module = metadata.packages_distributions()
        return self._by_module

    def dist(self, name):
        if self._dists is None:
            self._dists = {}
            for dist in metadata.distributions():
                key = canonicalize_name(dist.metadata["Name"] or "")
                self._dists.setdefault(key, dist)  # first on sys.path wins, as for import
        return self._dists.get(canonicalize_name(name))

    def dists_for(self, module, dotted=""):
        """Distribution names providing a top-level module; narrowed by the dotted name for
        namespace packages (``google.protobuf``)."""
        names = list(dict.fromkeys(self.by_module.get(module, [])))
        if len(names) > 1 and dotted and "." in dotted:
            prefix = dotted.replace(".", "/")
            narrowed = [n for n in names if self._provides(n, prefix)]
            names = narrowed or names
        return names

    def _provides(self, name, prefix):
        dist = self.dist(name)
        return bool(dist and any(str(f).startswith(prefix) for f in (dist.files or [])))


def target_environment(python_version):
    """Marker environment of the image: Linux, CPython of the kernel's major.minor."""
    env = default_environment()
    version = "%d.%d" % tuple(python_version[:2])
    env.update(
        {
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "python_version": version,
            "python_full_version": version + ".0"
            if not env["python_full_version"].startswith(version)
            else env["python_full_version"],
        }
    )
    return env


def declared_dependencies(dist, env, extras=()):
    """Names of the distributions ``dist`` requires in the target environment."""
    names = []
    for line in dist.requires or []:
        try:
            req = _PkgRequirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not any(
            req.marker.evaluate(dict(env, extra=e)) for e in (tuple(extras) or ("",))
        ):
            continue
        names.append((req.name, tuple(req.extras)))
    return names


def closure(names, installed, env):
    """Every installed distribution reachable from ``names`` through declared dependencies.

    Returns ``{canonical name: name of the distribution that first required it or None}``.
    """
    reached: dict = {}
    queue = [(n, (), None) for n in names]
    while queue:
        name, extras, parent = queue.pop(0)
        key = canonicalize_name(name)
        if key in reached and not extras:
            continue
        dist = installed.dist(name)
        if dist is None:
            continue
        reached.setdefault(key, parent)
        for dep, dep_extras in declared_dependencies(dist, env, extras):
            if canonicalize_name(dep) not in reached or dep_extras:
                queue.append((dep, dep_extras, dist.metadata["Name"]))
    return reached


# --- where a distribution came from -------------------------------------------------------


def install_source(dist):
    """``(kind, detail)`` of how a distribution was installed: ``index``, ``vcs``, ``editable``,
    ``local-dir``, ``local-file``, ``url`` or ``conda``."""
    try:
        text = dist.read_text("direct_url.json")
    except Exception:
        text = None
    if text:
        try:
            info = json.loads(text)
        except ValueError:
            info = {}
        url = info.get("url", "")
        if "vcs_info" in info:
            vcs = info["vcs_info"]
            return "vcs", f"{vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}"
        if info.get("dir_info", {}).get("editable"):
            return "editable", url
        if url.startswith("file://"):
            return ("local-dir", url) if "dir_info" in info else ("local-file", url)
        return "url", url
    try:
        installer = (dist.read_text("INSTALLER") or "").strip()
    except Exception:
        installer = ""
    if installer == "conda":
        return "conda", ""
    return "index", ""


def _requirement_for(dist, origin, problems):
    name, version = dist.metadata["Name"], dist.version
    kind, detail = install_source(dist)
    if kind == "index":
        return Requirement(name, version, origin)
    if kind == "url":
        return Requirement(name, version, origin, spec=f"{name} @ {detail}")
    if kind == "local-file":
        path = Path(detail[len("file://") :])
        if path.is_file():
            return Requirement(name, version, origin, local_file=path)
        problems.append(
            f"{name} {version} ({origin}) was installed from {path}, which no longer "
            "exists: reinstall it from an index, or put its wheel beside the notebook"
        )
        return None
    if kind == "vcs":
        problems.append(
            f"{name} {version} ({origin}) was installed from {detail}: publish a release "
            f"to your index, or build a wheel beside the notebook (pip wheel --no-deps "
            f"'{detail}') and install that"
        )
        return None
    if kind in ("editable", "local-dir"):
        from urllib.parse import unquote

        folder = Path(unquote(detail[len("file://") :] if detail.startswith("file://") else detail))
        if folder.is_dir() and any((folder / f).is_file() for f in PROJECT_FILES):
            # the project's own package: its source goes into the builder, installed (not editable)
            return Requirement(name, version, origin + f" (installed from {folder})", local_project=folder)
        problems.append(
            f"{name} {version} ({origin}) is installed from the folder {folder}, which has no "
            "pyproject.toml, setup.py or setup.cfg: add one (a pyproject.toml with [project] name and version, "
            "and a [build-system]) so that the image can install it"
        )
        return None
    if kind == "conda":
        return Requirement(name, version, origin + " (installed by conda; it must also exist on the index)")
    return None


def _pipreqs_name(module):
    """pipreqs' guess at the distribution name of an import name, without any network."""
    try:
        from pipreqs import pipreqs as _pr
    except Exception:  # pipreqs is optional; it may also fail to import on new Pythons
        return None
    try:
        guess = _pr.get_pkg_names([module])
    except Exception:
        return None
    return guess[0] if guess and guess[0] != module else (guess[0] if guess else None)


# --- %pip lines ---------------------------------------------------------------------------


def pip_line_requirements(pip_lines, installed):
    """Requirements and requirements.txt options from ``%pip install`` lines.

    A package the kernel has installed is pinned to its installed version, so the image gets
    what the ``%pip`` line gave the kernel.
    """
    reqs, options, problems = [], [], []
    for line in pip_lines:
        words = list(line.args)
        i = 0
        while i < len(words):
            word = words[i]
            value = None
            if word.startswith("-"):
                opt, eq, val = word.partition("=")
                if opt in _VALUE_OPTIONS:
                    if eq:
                        value = val
                    else:
                        value = words[i + 1] if i + 1 < len(words) else ""
                        i += 1
                    if opt in _FILE_OPTIONS:
                        options.append(f"{_FILE_OPTIONS[opt]} {value}")
                    elif opt in ("-r", "--requirement", "-e", "--editable", "-f", "--find-links", "-c", "--constraint"):
                        problems.append(
                            f"{line.cell}: '{line.text}' uses {opt} {value}: "
                            "put the package on an index or beside the notebook"
                        )
                i += 1
                continue
            i += 1
            try:
                req = _PkgRequirement(word)
            except InvalidRequirement:
                if word.endswith(".whl") and Path(word).is_file():
                    reqs.append(
                        Requirement(Path(word).name.split("-")[0], None, f"%pip in {line.cell}", local_file=Path(word))
                    )
                else:
                    problems.append(f"{line.cell}: cannot read '{word}' in '{line.text}'")
                continue
            dist = installed.dist(req.name)
            origin = f"%pip in {line.cell}"
            if req.url:
                reqs.append(Requirement(req.name, dist.version if dist else None, origin, spec=str(req)))
            elif dist is not None:
                reqs.append(Requirement(dist.metadata["Name"], dist.version, origin))
            else:
                reqs.append(Requirement(req.name, None, origin, spec=str(req)))
    return reqs, list(dict.fromkeys(options)), problems


# --- inference ----------------------------------------------------------------------------


def _program_imports(cells) -> list[Import]:
    imports = []
    for cell in cells:
        label, code = (cell.label, cell.code) if hasattr(cell, "code") else cell
        try:
            imports += find_imports(code, label)
        except SyntaxError as exc:
            raise RequirementsError(f"{label} has a syntax error on line {exc.lineno}: {exc.msg}") from None
    return imports


class _Inference:
    """The state of one inference: what is chosen so far, and why."""

    def __init__(self, installed, python_version):
        self.installed = installed
        self.env = target_environment(python_version or sys.version_info[:2])
        self.stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names)
        self.result = RequirementSet()
        self.chosen: dict[str, Requirement] = {}
        self.direct: list[str] = []
        self.modules: set = set()
        self.written: set = set()

    def add(self, req):
        if req is not None and req.key not in self.chosen:
            self.chosen[req.key] = req

    def add_dist(self, dist, origin, direct=False):
        self.add(_requirement_for(dist, origin, self.result.problems))
        if direct:
            self.direct.append(dist.metadata["Name"])

    def follow_local_modules(self, imports, workdir, search=(), known=None):
        """The notebook's own modules are copied, not installed; their own imports count too.

        They are found beside the notebook, in the folders the program adds to ``sys.path``
        (``search``), and where the kernel imported them from (``known``: ``{module: path}``).
        """
        known = known or {}
        queue = list(imports)
        while queue:
            imp = queue.pop(0)
            if imp.module in self.stdlib or imp.module in self.result.local_modules or imp.module == RUNTIME_PACKAGE:
                continue
            if imp.module in self.written or self.installed.dists_for(imp.module, imp.dotted):
                continue
            path = next(
                (p for p in (local_module_path(imp.module, f) for f in [workdir, *search]) if p is not None),
                known.get(imp.module),
            )
            if path is not None:
                self.result.local_modules[imp.module] = path
                found = _local_imports(path, set(self.result.local_modules))
                queue += found
                imports += found

    def map_imports(self, imports):
        """Each import to the installed distributions that provide it."""
        for imp in imports:
            if imp.module in self.result.local_modules or imp.module == RUNTIME_PACKAGE or imp.module in self.written:
                continue
            if imp.module in self.stdlib:
                self.modules.add(imp.dotted or imp.module)
                continue
            names = self.installed.dists_for(imp.module, imp.dotted)
            if not names:
                self._not_installed(imp)
                continue
            self.modules.add(imp.dotted or imp.module)
            for name in names:
                dist = self.installed.dist(name)
                if dist is not None and canonicalize_name(name) not in self.chosen:
                    self.add_dist(dist, f"import {imp.module} in {imp.cell}", direct=True)

    def _not_installed(self, imp):
        if imp.optional:
            self.result.notes.append(
                f"optional import '{imp.module}' ({imp.cell}) is not installed in "
                "the kernel; the image will not have it either"
            )
        elif (imp.module, imp.cell) not in [(m, c) for m, c, _ in self.result.missing]:
            self.result.missing.append((imp.module, imp.cell, _pipreqs_name(imp.module)))

    def add_pip_lines(self, pip_lines):
        """``%pip install`` lines: pinned to what they gave the kernel, with their index options."""
        pip_reqs, self.result.pip_options, problems = pip_line_requirements(pip_lines, self.installed)
        self.result.problems += problems
        for req in pip_reqs:
            if req.key in self.chosen and not req.spec:
                self.chosen[req.key] = Requirement(
                    req.name, req.version, self.chosen[req.key].origin + f"; {req.origin}"
                )
            else:
                self.chosen[req.key] = req
            self.direct.append(req.name)

    def add_dependencies(self, names):
        """The declared dependencies of ``names``, all the way down."""
        for key, parent in closure(names, self.installed, self.env).items():
            if key not in self.chosen and parent is not None and key not in TOOLING:
                self.add_dist(self.installed.dist(key), f"dependency of {parent}")

    def add_loaded_modules(self, loaded_modules):
        """Distributions the kernel loaded that no requirement declares (an undeclared dependency)."""
        machinery = closure(KERNEL_MACHINERY, self.installed, self.env)
        for module in sorted(set(loaded_modules)):
            if module in self.stdlib or module in self.result.local_modules or module.startswith("_"):
                continue
            for name in self.installed.dists_for(module):
                key = canonicalize_name(name)
                dist = self.installed.dist(name)
                if key in self.chosen or key in machinery or key in TOOLING or dist is None:
                    continue
                if install_source(dist)[0] not in ("index", "conda"):
                    continue
                origin = f"loaded in the kernel (module {module}), declared by no requirement"
                self.add(Requirement(dist.metadata["Name"], dist.version, origin))
                self.add_dependencies([name])


def infer(
    cells,
    workdir,
    pip_lines=(),
    loaded_modules=(),
    python_version=None,
    uses_ipython=False,
    installed=None,
    written=(),
    known_local=None,
):
    """Infer the program's requirements from the kernel.

    Args:
        cells: ``(label, python code)`` pairs, or objects with ``label`` and ``code``.
        workdir: the notebook's folder; modules there are local, not requirements.
        pip_lines: :class:`dockermagic.translate.PipLine` objects.
        loaded_modules: top-level names of modules loaded in the kernel.
        python_version: ``(major, minor)`` of the image's Python.
        uses_ipython: the program needs IPython (magics, ``!`` lines).
        installed: an :class:`Installed` (tests pass a fake one).
        written: paths (relative to the notebook) of files the program writes itself
            (``%%writefile mod.py``): importing them needs nothing installed.
        known_local: ``{module: path}`` of the notebook's own code the kernel imported.

    Returns:
        RequirementSet

    Raises:
        RequirementsError: a cell is not valid Python.
    """
    run = _Inference(installed or Installed(), python_version)
    run.written = {str(p)[: -len(".py")] if str(p).endswith(".py") else str(p) for p in written}
    imports = _program_imports(cells)
    codes = [cell.code if hasattr(cell, "code") else cell[1] for cell in cells]
    search = sys_path_folders(codes, workdir)
    run.follow_local_modules(imports, Path(workdir), search, known_local)
    run.map_imports(imports)
    if uses_ipython and "ipython" not in run.chosen:
        dist = run.installed.dist("ipython")
        if dist is not None:
            run.add_dist(dist, "the program uses IPython syntax (magics or ! lines)", direct=True)
    run.add_pip_lines(pip_lines)
    run.add_dependencies(run.direct)
    run.add_loaded_modules(loaded_modules)
    run.result.requirements = sorted(run.chosen.values(), key=lambda r: r.key)
    run.result.modules = sorted(run.modules)
    return run.result


#: PyTorch's own index, where builds with a local version label (``2.3.1+cu121``) live
PYTORCH_INDEX = "https://download.pytorch.org/whl/{label}"
PYTORCH_FAMILY = {"torch", "torchvision", "torchaudio", "triton", "pytorch-triton", "pytorch-triton-rocm"}


def pytorch_indexes(requirements) -> list[str]:
    """PyTorch index URLs the requirements need: a pin such as ``torch==2.3.1+cu121`` (or
    ``+cpu``, ``+rocm6.0``) exists only on PyTorch's own index for that label, not on PyPI."""
    found = []
    for req in requirements:
        version = getattr(req, "version", None) or ""
        if canonicalize_name(req.name) in PYTORCH_FAMILY and "+" in version:
            label = version.split("+", 1)[1]
            if re.fullmatch(r"cu\d+|cpu|rocm[\d.]+|xpu", label):
                url = PYTORCH_INDEX.format(label=label)
                if url not in found:
                    found.append(url)
    return found
