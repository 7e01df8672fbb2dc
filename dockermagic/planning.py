"""Planning: from a capture of the kernel and a build request to everything the build needs.

:func:`plan` is pure in the sense that matters: it writes nothing and never talks to the
engine. What it needs to know about the engine (whether uv's image can be had) arrives as
:class:`EngineFacts`, decided before planning, so the plan it returns is final.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import __version__, datafiles, wording
from . import context as _context
from . import dockerfile as _dockerfile
from .capture import Capture
from .diagnose import cell_map, environment_reads
from .errors import DockermagicError, RequirementsError
from .export import Program, add_script_metadata, export_lab, export_notebook, export_script
from .layout import (
    APP,
    LABEL_BYTECODE,
    LABEL_CELLS,
    LABEL_CREATED,
    LABEL_ENV,
    LABEL_NOTEBOOK,
    LABEL_PARAMETERS,
    LABEL_REQUIREMENTS,
    LABEL_VERSION,
    OBJECTS_FOLDER,
    PROGRAM_FILE,
)
from .parameters import Parameters
from .parameters import find as find_parameters
from .reference import ImageRef, default_name
from .request import BuildRequest
from .requirements import RequirementSet, infer
from .results import Image, human_size
from .secretscan import check as check_secrets

#: what the notebook form's runner imports in the image
NOTEBOOK_RUNNER = ("nbclient", "nbconvert", "ipykernel", "nbformat")


@dataclass(frozen=True)
class EngineFacts:
    """What planning needs to know about the engine, found out before planning.

    Attributes:
        uv_image: the image the builder copies uv from (uv's own, or a mirror); None when the
            engine cannot get it, and the builder installs uv with the base image's pip.
    """

    uv_image: Optional[str] = _dockerfile.UV_IMAGE
    #: images the build would have used but the engine cannot get
    unavailable: tuple[str, ...] = ()
    #: the base image's shared libraries (None: not known, assume python:X.Y-slim's)
    base_sonames: Optional[frozenset[str]] = None
    #: the base image's Debian release (None: not known, assume the one dockermagic ships a table for)
    base_release: Optional[str] = None
    #: programs on the base image's PATH
    base_programs: Optional[frozenset[str]] = None


def base_system(ldconfig: str, os_release: str, programs: list[str]) -> dict:
    """:class:`EngineFacts` fields from what the base image holds."""
    from .sharedlibs import parse_ldconfig

    release = next(
        (
            line.split("=", 1)[1].strip().strip('"')
            for line in os_release.splitlines()
            if line.startswith("VERSION_CODENAME=")
        ),
        None,
    )
    return {
        "base_sonames": frozenset(parse_ldconfig(ldconfig)) or None,
        "base_release": release or None,
        "base_programs": frozenset(programs) or None,
    }


def base_image(cap: Capture, request: BuildRequest) -> str:
    """The base of both stages: ``--base``, else ``python:<kernel major.minor>-slim``."""
    return str(request.base) if request.base else "python:%d.%d-slim" % cap.python_version


def system_packages(cap: Capture, request: BuildRequest, program: Program, reqs: RequirementSet, facts: EngineFacts):
    """The Debian packages the image needs (libraries the environment's extension modules link,
    programs the code runs), with a reason each: a :class:`dockermagic.syslibs.SystemPlan`."""
    import importlib.util

    from .debian import DEFAULT_RELEASE
    from .requirements import Installed
    from .sharedlibs import installed_files
    from .syslibs import SystemPlan, plan_system_packages

    if importlib.util.find_spec("elftools") is None:  # a broken install: build, and let the image's check speak
        return SystemPlan(
            packages=[(package, "added with --apt") for package in request.apt],
            notes=[
                "pyelftools is not installed in this kernel: the system libraries the packages need are not "
                "planned, only checked in the image (pip install pyelftools)"
            ],
        )
    installed = Installed()
    dists = [d for d in (installed.dist(r.name) for r in reqs.requirements) if d is not None]
    sources = [c.code for c in program.cells]
    for path in reqs.local_modules.values():
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        sources += [f.read_text(encoding="utf-8", errors="replace") for f in files]
    return plan_system_packages(
        installed_files(dists),
        sources,
        base_sonames=facts.base_sonames,
        release=facts.base_release or DEFAULT_RELEASE,
        python_version="%d.%d" % cap.python_version,
        base_programs=facts.base_programs,
        extra_packages=request.apt,
    )


@dataclass
class BuildPlan:
    """A planned build: the image as it will be (not built yet) and the context to write."""

    image: Image
    context: _context.ContextPlan


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def export_program(cap: Capture, request: BuildRequest) -> Program:
    """The notebook's cells as the program of the requested form."""
    if request.form == "notebook":
        return export_notebook(cap.cells, final_body=request.body, source=cap.source)
    if request.form == "lab":
        return export_lab(cap.cells, final_body=request.body, source=cap.source)
    parameters = find_parameters(cap.cells)
    return export_script(
        cap.cells,
        final_body=request.body,
        source=cap.source,
        carry=request.carry,
        serve_function=request.function,
        port=request.serve,
        parameters_cell=parameters.cell if parameters else None,
    )


def runner_imports(program: Program, request: BuildRequest, cap: Capture) -> list[tuple[str, str]]:
    """``(why, import line)`` for what the image needs besides the program's own imports."""
    runner = (
        [] if request.form == "script" else [("the notebook form's runner", f"import {m}") for m in NOTEBOOK_RUNNER]
    )
    if request.form == "lab":
        runner += [("--form lab", "import jupyterlab"), ("--form lab", "import ipykernel")]
    if any(re.search(r"run_line_magic\('run', '[^']*\.ipynb", c.code) for c in program.cells):
        runner.append(("%run of a notebook", "import nbformat"))
    runner += [(f"--carry ({module})", f"import {module}") for module in cap.object_modules if module != "builtins"]
    # %load_ext NAME: NAME is an import, whether or not its magics still need IPython in the image
    runner += [(f"%load_ext in {cell}", f"import {module}") for cell, module in program.extension_imports]
    # modules the program writes itself (%%writefile) are imports of what they import
    runner += [
        (f"{path}, written by the program", text) for path, text in program.written_text.items() if path.endswith(".py")
    ]
    return runner


def healthcheck(port: int, path: Optional[str] = None) -> list[str]:
    """Exec-form health check: an HTTP GET of ``path`` when the service has one, else a TCP connect."""
    if path:
        return [
            "python",
            "-c",
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)",
        ]
    return ["python", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 3).close()"]


def _notes(cap: Capture, reqs: RequirementSet) -> list[str]:
    notes = list(cap.notes)
    notes += [
        f"{module} ({cell_label}) is imported but not installed in the kernel"
        + (f" (pipreqs suggests the package {guess})" if guess else "")
        + ": the image will not have it"
        for module, cell_label, guess in reqs.missing
    ]
    notes += reqs.notes
    if cap.index.dropped:
        notes.append(
            "left out of the build's pip settings (not reachable from a container): " + ", ".join(cap.index.dropped)
        )
    return notes


def program_requirements(cap: Capture, request: BuildRequest, program: Program) -> RequirementSet:
    """What the program needs installed; a requirement no index can provide stops here."""
    reqs = infer(
        list(program.cells) + runner_imports(program, request, cap),
        cap.workdir,
        program.pip_lines,
        cap.loaded_modules,
        cap.python_version,
        program.uses_ipython,
        written=program.written_files,
        known_local=cap.module_files,
    )
    problems = list(reqs.problems)
    if cap.live:
        # a %pip line that failed in the kernel fails in the build too: say so before building
        problems += [
            f"{r.name} from {r.origin} is not installed in this kernel (did the %pip line fail?): "
            "fix its name or version and run it, or delete it"
            for r in reqs.requirements
            if r.version is None and r.origin.startswith("%pip") and not r.local_file and " @ " not in str(r)
        ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RequirementsError(problems[0] + more, problems)
    return reqs


@dataclass
class Layout:
    """Where the program sits in the project the image mirrors.

    Attributes:
        root: the project's root on this machine (``/app`` in the image).
        folder: the notebook's folder relative to the root (``notebooks``; ``""`` at the root).
        copies: ``{path relative to the root: host path}`` of local code and data files.
        data: what data discovery found (origins, remote sources).
    """

    root: Path
    folder: str
    copies: dict[str, Path]
    data: datafiles.DataPlan

    @property
    def workdir(self) -> str:
        return f"{APP}/{self.folder}" if self.folder else APP

    def place(self, files: dict) -> dict:
        """Program files (relative to the notebook's folder) at their place in the project."""
        return {f"{self.folder}/{name}" if self.folder else name: value for name, value in files.items()}


def _local_code(path: Path) -> list[tuple[str, str]]:
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [(f.name, f.read_text(encoding="utf-8", errors="replace")) for f in files]


def project_layout(cap: Capture, request: BuildRequest, program: Program, reqs: RequirementSet) -> Layout:
    """The project's root, the notebook's place in it, and the files the image needs from it:
    local modules and packages, and the data files the program (and the kernel) read.

    Raises:
        DockermagicError: the program reads a file outside the project, names a credential
            file, or reads a file or folder too large for an image (each with its cell and line).
    """
    codes = [(c.label, c.code) for c in program.cells]
    for path in reqs.local_modules.values():
        codes += _local_code(path)
    uses = datafiles.path_uses(codes)
    workdir = Path(cap.workdir).resolve()
    reads = [Path(u.text) if Path(u.text).is_absolute() else workdir / u.text for u in uses if not u.writes]
    reads += list(reqs.local_modules.values())
    root = datafiles.project_root(workdir, [p for p in reads if p.exists()])
    # what the kernel opened counts inside the project; outside it is the environment (a library's
    # configuration, a font), not the notebook's data
    opened = [event for event in cap.opened if datafiles._inside(Path(event[0]), root) is not None]
    data = datafiles.discover(uses, workdir, root, opened=opened, include=request.include, exclude=request.exclude)
    if data.unmatched:
        raise DockermagicError(f"--include {data.unmatched[0]}: no such file or folder in the project ({root})")
    if data.outside:
        outside, origin = data.outside[0]
        where = origin.split(" in ", 1)[-1] if " in " in origin else origin
        mount = wording.run(f"-v {Path(outside).parent}:/data:ro")
        raise DockermagicError(
            f"{where} reads {outside}, outside the project ({root}): the image cannot hold it; "
            f"mount its folder at run time ({mount}, and read it from /data), or move it into the project"
        )
    if data.refused:
        rel, origin = data.refused[0]
        raise DockermagicError(
            f"{rel} ({origin}) is a credential file: it never goes into an image; pass secrets at run time "
            f"instead ({wording.run('-e NAME=...')})"
        )
    if data.too_large:
        rel, origin, size = data.too_large[0]
        raise DockermagicError(
            f"{rel} ({origin}) is {human_size(size)}, over {datafiles.LARGE_FILE // 10**6} MB: leave it out of the "
            f"image and mount it at run time ({wording.run(f'-v {root / rel}:{APP}/{rel}:ro')}), or --exclude it"
        )
    copies: dict[str, Path] = {}
    for path in reqs.local_modules.values():
        copies[datafiles._inside(path, root) or path.name] = path
    copies.update({rel: f.path for rel, f in data.files.items()})
    folder = datafiles._inside(workdir, root) or ""
    return Layout(root=root, folder="" if folder == "." else folder, copies=copies, data=data)


def builder_files(cap: Capture, reqs: RequirementSet) -> dict[str, Path]:
    """``{path under .dockermagic/: host path}`` for the builder stage only: CA bundle, local
    wheels, and the source of the projects the kernel has installed from a folder."""
    support = {}
    if cap.index.ca_bundle:
        support["ca-bundle.pem"] = cap.index.ca_bundle
    for req in reqs.requirements:
        if req.local_file:
            support[f"wheels/{req.local_file.name}"] = req.local_file
        if req.local_project:
            for rel, path in project_source(req.local_project).items():
                support[f"projects/{req.key}/{rel}"] = path
    return support


def project_source(folder: Path) -> dict[str, Path]:
    """What installing a local project needs: the files at its root (pyproject.toml, setup.py,
    README, ...) and every folder holding Python code; not its data, notebooks or outputs."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.name in datafiles.SKIP_DIRS or datafiles.is_secret_path(path.name) or path.suffix == ".ipynb":
            continue
        if path.is_file() and path.stat().st_size < 5 * 10**6 or path.is_dir() and any(path.rglob("*.py")):
            found[path.name] = path
    return found


def builder_index(cap: Capture, reqs: RequirementSet):
    """The kernel's index settings, plus PyTorch's own index for a ``torch==2.x+cu121``-style pin."""
    from dataclasses import replace

    from .requirements import pytorch_indexes

    extra = [url for url in pytorch_indexes(reqs.requirements) if url not in cap.index.extra_index_urls]
    if not extra:
        return cap.index
    return replace(cap.index, extra_index_urls=tuple(cap.index.extra_index_urls) + tuple(extra), best_match=True)


def image_labels(
    cap: Capture,
    requirements_text: str,
    program: Program,
    now: Optional[datetime.datetime] = None,
    parameters: Optional[Parameters] = None,
    compiled: bool = False,
) -> dict[str, str]:
    """The labels naming the source notebook, dockermagic's version and the requirement set, and
    what a run needs to speak in the notebook's terms: where each cell starts in program.py and
    which environment variables the program reads."""
    created = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    labels = {
        LABEL_VERSION: __version__,
        LABEL_NOTEBOOK: cap.notebook_path.name if cap.notebook_path else cap.source,
        LABEL_REQUIREMENTS: hashlib.sha256(requirements_text.encode()).hexdigest(),
        LABEL_CREATED: created,
    }
    script = program.files.get(PROGRAM_FILE)
    if script:
        labels[LABEL_CELLS] = json.dumps(cell_map(script), separators=(",", ":"))
    if parameters is not None:
        labels[LABEL_PARAMETERS] = parameters.to_label()
    if compiled:
        labels[LABEL_BYTECODE] = "compiled"
    reads = environment_reads("\n".join(c.code for c in program.cells))
    if reads:
        labels[LABEL_ENV] = ",".join(reads)
    return labels


def _script_block(program: Program) -> str:
    text = program.files.get(PROGRAM_FILE, "")
    if not text.startswith("# /// script"):
        return ""
    return text[: text.index("# ///\n", 1) + len("# ///")]


def plan(
    cap: Capture, request: BuildRequest, facts: EngineFacts = EngineFacts(), now: Optional[datetime.datetime] = None
) -> BuildPlan:
    """Everything a build needs, without writing or building anything.

    Raises:
        RequirementsError: something the program needs cannot be installed from an index.
        SecretFound: something going into the image looks like a credential.
        DockermagicError: another reason the notebook cannot be packaged as asked.
    """
    name = default_name(cap.notebook_path.name if cap.notebook_path else "notebook")
    tag = request.tag or ImageRef.parse(name).pinned()
    if request.form == "lab" and cap.live and not _installed("jupyterlab"):
        raise DockermagicError(
            "--form lab needs JupyterLab in the kernel's environment (%pip install jupyterlab), "
            "so that the image gets the same version"
        )
    program = export_program(cap, request)
    reqs = program_requirements(cap, request, program)
    # program.py says what it needs, so that `uv run program.py` reproduces the environment elsewhere
    program = add_script_metadata(
        program,
        [str(r) for r in reqs.requirements if not r.local_file],
        cap.python_version,
        cap.index.index_url,
        list(cap.index.extra_index_urls),
    )
    layout = project_layout(cap, request, program, reqs)
    index = builder_index(cap, reqs)
    copies = layout.copies
    notes = _notes(cap, reqs) + layout.data.notes()
    found = check_secrets(program.files, copies, cap.cells, allow=request.allow_secrets)
    notes += [f"--allow-secrets: {kind} in {name} line {line} goes into the image" for name, line, kind in found]
    if facts.uv_image is None and request.installer == "uv" and reqs.requirements:
        notes += [
            f"{image} cannot be pulled here: the builder stage installs uv with the base image's pip instead"
            for image in facts.unavailable
        ]
    base = base_image(cap, request)
    system = system_packages(cap, request, program, reqs, facts)
    notes += system.notes
    notes += [
        f"{soname} (needed by {who}) is in no Debian package dockermagic knows: the build's check will "
        "stop if the base image lacks it; add the package that provides it with --apt PACKAGE"
        for soname, who in system.unknown
    ]
    notes += [
        f"{program_name} is run by the program and no Debian package is known to provide it: add it with --apt PACKAGE"
        for program_name in system.unknown_programs
    ]
    port = request.port
    spec = _dockerfile.DockerfileSpec(
        base=base,
        command=program.command,
        has_requirements=bool(reqs.requirements),
        pip_config=True,
        uv_config=True,
        installer=request.installer,
        precompile=reqs.modules if request.compiles else [],
        labels=image_labels(cap, reqs.text(), program, now, find_parameters(cap.cells), request.compiles),
        source=cap.source,
        ca_bundle=bool(cap.index.ca_bundle),
        uv_image=facts.uv_image if request.installer == "uv" else None,
        expose=[port] if port else [],
        healthcheck=healthcheck(port, request.health_path) if port else None,
        apt=system.package_names,
        check_args=system.check_args(),
        workdir=layout.workdir,
        host_root=str(layout.root) if layout.data.absolute else None,
    )
    text = _dockerfile.render(spec)
    context_plan = _context.ContextPlan(
        dockerfile=text,
        requirements=reqs.text(),
        program_files=layout.place(program.files),
        copies=copies,
        support_files={"pip.conf": _context.pip_config(index), "uv.toml": _context.uv_config(index)},
        support_copies=builder_files(cap, reqs),
        binary_files=layout.place({f"{OBJECTS_FOLDER}/{name}.pkl": blob for name, blob in cap.objects.items()}),
    )
    image = Image(
        tag=str(tag),
        image_id=None,
        size=None,
        context=None,
        requirements=reqs.requirements,
        cells=cap.cells,
        dockerfile=text,
        source=cap.source,
        base=base,
        notes=notes,
        files=sorted(list(layout.place(program.files)) + list(copies)),
        notebook=cap.notebook_path,
        system_packages=list(system.packages),
        script_metadata=_script_block(program),
    )
    return BuildPlan(image=image, context=context_plan)
