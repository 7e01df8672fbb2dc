#!/usr/bin/env python3
"""Project benchmark (issue 12, "Measure"): real project layouts, each notebook rerun in its own image.

    python3 benchmarks/projects_bench.py [--only CASE[,CASE]] [--keep]

The corpus is ``benchmarks/projects/<folder>/``: small projects laid out as people lay them
out (a cookiecutter-data-science tree with ``notebooks/`` beside ``data/`` and a ``src``
package, a shapefile, a partitioned parquet folder, globbed exports, OpenCV and LightGBM,
Graphviz, a cell that failed before the extension was loaded, ``%%time`` and ``!`` cells
with an old matplotlib, figures shown without ``plt.show()``, ``%lprun``, a ``%%writefile``
module). Every notebook ends with the three cells a user adds::

    %load_ext dockermagic
    img = %dockerize -t dmbench-proj-<case> -q
    run = %docker_run dmbench-proj-<case> --timeout 600

For each case the benchmark

1. copies the project into a temporary folder (nothing is written into the repository) and
   runs the case's data script there (``make_stations.py`` ...), with the kernel's Python;
2. executes the notebook top to bottom in a real IPython kernel (jupyter_client + nbclient,
   ``JPY_SESSION_NAME`` naming the notebook as JupyterLab does, working folder = the
   notebook's folder, errors allowed so that the kernel goes on after a failing cell, as a
   person would), with one more cell appended after the three above that prints what
   ``img`` and ``run`` hold (it comes after ``%dockerize``, so it is not part of the image);
3. reads the executed notebook: what the kernel showed (PNG figures before
   ``%load_ext dockermagic``), errors, the image and the run.

The kernels (cached virtualenvs under ``$XDG_CACHE_HOME/dmbench-proj/``, made on first use):

* ``main``: the machine's ``python3`` environment (``--system-site-packages``) plus what
  the corpus needs that the machine may lack (geopandas, pyarrow, graphviz, line_profiler;
  pip installs only what is missing);
* ``editable``: the same, made per run, with the copied cookiecutter project installed by
  ``pip install -e`` (what cookiecutter-data-science's ``make requirements`` does);
* ``old-mpl``: an isolated virtualenv with matplotlib 3.7, IPython 9, numpy 1.x and
  dockermagic's dependencies, the pair of issue 12 whose program died in the image with
  ``cannot import name 'backend2gui'``. If it cannot be made, that case runs in ``main`` and
  the report says so.

Each kernel gets this checkout's dockermagic afresh on every run: a copy of the package in
the venv's site-packages, where ``pip install dockermagic`` puts it for a user
(``--editable-dockermagic``: a ``.pth`` naming the repository instead, as a developer's
``pip install -e .``). The machine's own site-packages are never changed; ``dot``
(Debian's graphviz) is installed with apt-get when missing: the graphviz case needs it in
the kernel.

Target (exit code 1 when missed): every corpus notebook runs in its image, and no image
holds IPython only for ``%%time`` / ``%time`` / ``!`` (IPython is allowed only in a case
whose magics really need it: ``%lprun``).

Everything is tagged ``dmbench-proj-*``; the images, containers, builder-stage images of
these builds and the build contexts (``~/.cache/dockermagic/contexts/dmbench-proj-*``) are
removed at the end unless ``--keep`` (which also keeps the working copies, executed
notebooks included).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent  # benchmarks/
REPO = HERE.parent
PROJECTS = HERE / "projects"
PREFIX = "dmbench-proj-"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
VENVS = CACHE / "dmbench-proj" / "venvs"
CONTEXTS = CACHE / "dockermagic" / "contexts"
CELL_TIMEOUT = 1200  # seconds a cell may take in the kernel (the build and the run are cells)
REPORT_MARK = "DMBENCH-PROJ "  # the report cell's line
#: the notes of an image worth showing in the report (data, project, replay, magics, system packages)
NOTES_SHOWN = re.compile(r"(data|project|left out|statements?|cell|magic|system)", re.I)
#: a shared engine: another user's clean-up can remove a layer a build of ours stands on
ENGINE_TROUBLE = re.compile(r"unknown parent image|invalid from flag value|No such image|is not on this engine")


@dataclass
class Case:
    name: str
    folder: str  # under benchmarks/projects/
    notebook: str  # inside the folder
    what: str
    setup: tuple = ()  # scripts (inside the folder) that make the data, run with the kernel's Python
    kernel: str = "main"  # main | editable | old-mpl
    expect_files: tuple = ()  # files the program writes that should come back from the run (by name)
    needs_ipython: bool = False  # a magic of this notebook really needs IPython in the image
    saved: bool = False  # save the notebook, outputs so far included, just before %dockerize runs

    @property
    def tag(self):
        return PREFIX + self.name


CASES = [
    Case(
        "cookiecutter",
        "cookiecutter",
        "notebooks/1.0-explore.ipynb",
        "notebooks/ beside data/raw/, sys.path.append('..') then from src.features import ...",
        setup=("src/data/make_dataset.py",),
        expect_files=("model.pkl", "churn_by_tenure.png"),
    ),
    Case(
        "cookiecutter_editable",
        "cookiecutter",
        "notebooks/1.1-explore-installed.ipynb",
        "the same project installed with pip install -e . in the kernel",
        setup=("src/data/make_dataset.py",),
        kernel="editable",
        expect_files=("model.pkl", "churn_by_tenure.png"),
    ),
    Case(
        "shapefile",
        "shapefile",
        "stations.ipynb",
        "geopandas reads data/stations/points.shp (+ .shx .dbf .prj .cpg)",
        setup=("make_stations.py",),
    ),
    Case(
        "parquet_dataset",
        "parquet_dataset",
        "sales.ipynb",
        'pd.read_parquet("data/sales"): year=/month= partitions',
        setup=("make_sales.py",),
    ),
    Case(
        "globbed",
        "globbed",
        "shops.ipynb",
        'glob("data/stores/*.csv") and f"data/daily/day_{i}.csv"',
        setup=("make_data.py",),
    ),
    Case(
        "opencv_lightgbm",
        "opencv_lightgbm",
        "shapes.ipynb",
        "cv2 (opencv-python: libGL, glib) and lightgbm (libgomp)",
        setup=("make_board.py",),
        expect_files=("annotated.png",),
    ),
    Case(
        "graphviz_dot",
        "graphviz_dot",
        "docs/pipeline.ipynb",
        "graphviz renders a PNG with the dot program",
        expect_files=("pipeline.png",),
    ),
    Case(
        "failed_then_fixed",
        "failed_then_fixed",
        "loads.ipynb",
        "a cell raised after its imports, before %load_ext; the next cell fixed it",
    ),
    Case(
        "failed_then_fixed_saved",
        "failed_then_fixed",
        "loads.ipynb",
        "the same, with the notebook saved (error output included) before %dockerize",
        saved=True,
    ),
    Case(
        "time_and_shell_old_matplotlib",
        "time_and_shell_old_matplotlib",
        "sensors.ipynb",
        "%%time, %time, !echo, files = !ls data; matplotlib 3.7 with IPython 9",
        kernel="old-mpl",
    ),
    Case(
        "figures_without_show",
        "figures_without_show",
        "waves.ipynb",
        "figures left open at cell end, fig as a cell's last value",
        expect_files=("two_panels.png",),
    ),
    Case(
        "line_profiler",
        "line_profiler",
        "profile.ipynb",
        "%load_ext line_profiler, %lprun -f f f(10)",
        needs_ipython=True,
    ),
    Case(
        "writefile_module",
        "writefile_module",
        "reports/weekly.ipynb",
        "%%writefile helpers.py, then from helpers import f",
    ),
]

#: what the main kernel needs besides the machine's environment (pip adds only what is missing)
MAIN_EXTRAS = ["geopandas", "pyarrow", "graphviz", "line_profiler"]
#: the old-matplotlib kernel of issue 12 (dockermagic's own dependencies are added from pyproject.toml)
OLD_MPL = ["matplotlib==3.7.*", "numpy<2", "ipython==9.*", "ipykernel"]

#: appended after the notebook's own cells; prints what img and run hold
REPORT_CELL = """\
import json as _dmb_json
def _dmb_report():
    import dockermagic.api as _api
    out = {}
    _img = globals().get("img")
    if hasattr(_img, "to_dict"):
        out["image"] = _img.to_dict()
    _run = globals().get("run")
    if not hasattr(_run, "exit_code"):
        _run = globals().get("_docker_run")  # a failed run is kept there
    if hasattr(_run, "to_dict"):
        out["run"] = _run.to_dict()
        out["run"]["logs"] = out["run"]["logs"][-12000:]
    build = _api.last_build()
    out["layers"] = list(build.layers) if build is not None else []
    return out
print("DMBENCH-PROJ " + _dmb_json.dumps(_dmb_report(), default=str))
"""


def say(text):
    print(f"[projects-bench] {text}", file=sys.stderr, flush=True)


def pip_env():
    return dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")


# --- the kernels' environments ------------------------------------------------------------


def dockermagic_dependencies():
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def install_dockermagic(venv, editable=False):
    """Put this checkout's dockermagic into ``venv``, fresh (the code changes between runs).

    By default a plain copy of the package in the venv's site-packages, as ``pip install
    dockermagic`` leaves it for a user. With ``editable``, a ``.pth`` naming the repository,
    as a developer's ``pip install -e .`` does (dockermagic's own files then live outside the
    Python installation).
    """
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "00-dmbench-dockermagic.pth").unlink(missing_ok=True)
    shutil.rmtree(site / "dockermagic", ignore_errors=True)
    if editable:
        (site / "00-dmbench-dockermagic.pth").write_text(str(REPO) + "\n")
    else:
        shutil.copytree(
            REPO / "dockermagic", site / "dockermagic", ignore=shutil.ignore_patterns("__pycache__", "labextension")
        )


def pip_install(venv, args):
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args],
        capture_output=True,
        text=True,
        env=pip_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{proc.stdout[-1500:]}{proc.stderr[-2500:]}")


def make_venv(path, *, system_site, packages):
    """A virtualenv at ``path`` from this machine's python3, with ``packages``."""
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = shutil.which("python3") or sys.executable
    cmd = [base, "-m", "venv", str(path)] + (["--system-site-packages"] if system_site else [])
    subprocess.run(cmd, check=True, capture_output=True)
    if packages:
        pip_install(path, packages)
    return path


def cached_venv(name, *, system_site, packages):
    """A virtualenv kept between runs under ``VENVS``; remade when its recipe changes."""
    path = VENVS / name
    recipe = json.dumps([system_site, packages, sys.version, str(REPO)])
    stamp = hashlib.sha256(recipe.encode()).hexdigest()
    marker = path / ".dmbench-recipe"
    if (path / "bin" / "python").exists() and marker.exists() and marker.read_text() == stamp:
        return path
    say(f"making the {name!r} kernel environment in {path} (once; about {30 if system_site else 60} s)")
    make_venv(path, system_site=system_site, packages=packages)
    marker.write_text(stamp)
    return path


def kernel_python(case, work_project, tmproot, fallbacks, editable_dockermagic=False):
    """The virtualenv of the kernel that runs ``case`` (fallbacks are noted in ``fallbacks``)."""
    if case.kernel == "old-mpl":
        try:
            venv = cached_venv("old-mpl", system_site=False, packages=OLD_MPL + dockermagic_dependencies())
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            fallbacks[case.name] = f"the matplotlib 3.7 + IPython 9 kernel could not be made ({exc}); ran in main"
            say(f"{case.name}: {fallbacks[case.name]}")
            venv = cached_venv("main", system_site=True, packages=MAIN_EXTRAS)
    elif case.kernel == "editable":
        venv = make_venv(tmproot / f"venv-{case.name}", system_site=True, packages=[])
        # the project copy, installed editable: its metadata says so (direct_url.json, editable: true)
        pip_install(venv, ["--no-deps", "-e", str(work_project)])
    else:
        venv = cached_venv("main", system_site=True, packages=MAIN_EXTRAS)
    install_dockermagic(venv, editable=editable_dockermagic)
    return venv


def ensure_dot():
    """The graphviz case needs Debian's graphviz (the dot program) in the kernel."""
    if shutil.which("dot"):
        return
    say("installing Debian's graphviz (the dot program) for the graphviz case")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "graphviz"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(install, env=env, capture_output=True)
    if not shutil.which("dot"):
        say("could not install graphviz: the graphviz case will fail in the kernel")


# --- one case -----------------------------------------------------------------------------


def execute(case, venv, notebook_path):
    """Execute the notebook in a fresh kernel of ``venv``; return the executed notebook."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(str(notebook_path), as_version=4)
    for cell in nb.cells:  # a variant of a case shares its notebook: its own tag
        if cell.cell_type == "code" and re.search(r"%(dockerize|docker_run)\b", cell.source):
            cell.source = re.sub(PREFIX + r"[\w.-]+", case.tag, cell.source)
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_CELL))
    python = venv / "bin" / "python"
    kernels = Path(tempfile.mkdtemp(prefix="dmbench-proj-kernels-"))
    spec = kernels / "dmbench-proj" / "kernel.json"
    spec.parent.mkdir()
    spec.write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"dmbench-proj ({venv.name})",
                "language": "python",
            }
        )
    )
    env = dict(
        os.environ,
        JPY_SESSION_NAME=str(notebook_path),
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env.pop("PYTHONPATH", None)
    km = KernelManager(kernel_name="dmbench-proj", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        allow_errors=True,
        resources={"metadata": {"path": str(notebook_path.parent)}},
    )
    if case.saved:
        # what a person (or JupyterLab's autosave) does before packaging: the file on disk
        # then holds every output so far, errors included
        def save_before_dockerize(cell, cell_index):
            if "%dockerize" in cell.source:
                nbformat.write(nb, str(notebook_path))

        client.on_cell_execute = save_before_dockerize
    try:
        client.execute(env=env)
    finally:
        shutil.rmtree(kernels, ignore_errors=True)
    nbformat.write(nb, str(notebook_path.with_suffix(".executed.ipynb")))
    return nb


def cell_errors(cell):
    """``ename: evalue`` of a cell's errors, and IPython's UsageError lines (printed, no traceback)."""
    found = []
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            found.append(f"{out.ename}: {out.evalue}")
        elif out.output_type == "stream" and out.name == "stderr" and "UsageError:" in out.text:
            found.append(out.text[out.text.index("UsageError:") :].strip())
    return found


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')
TIMING = re.compile(r"(CPU times|Wall time):")  # what %time prints differs from run to run
CELL_FRAME = re.compile(r"^\s*(cell \d+, line \d+)")  # how the image's program names the notebook's lines


def failing_line(logs):
    """The error a program died of, with the program line it died at when there is a traceback."""
    lines = [l.rstrip() for l in ANSI.sub("", logs or "").splitlines()]
    text = [l for l in lines if l.strip()]
    if not text:
        return ""
    error = text[-1].strip()
    for i in range(len(text) - 1, -1, -1):
        if text[i].startswith("Traceback (most recent call last)"):
            # the exception line is the first line after the traceback's frames
            end = next((j for j in range(i + 1, len(text)) if not text[j].startswith((" ", "\t"))), len(text))
            if end < len(text):
                error = text[end].strip()
            frames = [j for j in range(i + 1, end) if CELL_FRAME.match(text[j]) or FRAME.match(text[j])]
            ours = [j for j in frames if CELL_FRAME.match(text[j]) or "program.py" in text[j]] or frames
            if ours:
                j = ours[-1]
                cell, frame = CELL_FRAME.match(text[j]), FRAME.match(text[j])
                where = cell.group(1) if cell else f"{Path(frame.group(1)).name}:{frame.group(2)}"
                nxt = text[j + 1] if j + 1 < end else ""
                code = "" if FRAME.match(nxt) or CELL_FRAME.match(nxt) else nxt.strip()
                return f"{error}  [{where}: {code[:90]}]"
            break
    return error


def docker_size(n):
    """Bytes as ``docker images`` shows them (powers of 1000, 3 significant digits)."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.3g}{unit}"
        size /= 1000


def empty_findings(**extra):
    found = {"kernel_figures": 0, "kernel_text_figures": 0, "kernel_printed": [], "expected_errors": []}
    found["kernel_errors"] = []
    found.update(dm_errors=[], report={}, **extra)
    return found


def examine(case, nb):
    """What the executed notebook says: kernel figures and errors, the image, the run."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    load = next((i for i, c in enumerate(code) if c.source.strip() == "%load_ext dockermagic"), len(code) - 1)
    result = empty_findings()
    for i, cell in enumerate(code):
        if i < load:
            for o in cell.get("outputs", []):
                data = o.get("data") or {}
                if "image/png" in data:
                    result["kernel_figures"] += 1
                elif str(data.get("text/plain", "")).startswith("<Figure size"):
                    result["kernel_text_figures"] += 1  # a figure the kernel displayed as text only
                if o.output_type == "stream" and o.name == "stdout":
                    result["kernel_printed"] += [l.strip() for l in o.text.splitlines() if l.strip()]
            errors = cell_errors(cell)
            if errors and "raises-exception" in cell.metadata.get("tags", []):
                result["expected_errors"] += errors
            elif errors:
                result["kernel_errors"].append(f"cell {i + 1}: {errors[0]}")
        elif i < len(code) - 1:
            result["dm_errors"] += [(cell.source.strip().splitlines()[0], e) for e in cell_errors(cell)]
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and REPORT_MARK in out.text:
                line = out.text[out.text.index(REPORT_MARK) + len(REPORT_MARK) :].splitlines()[0]
                result["report"] = json.loads(line)
    return result


def verdict(case, found, fallback):
    """The row of one case: runs?, why not, size, system packages, IPython, what came back."""
    image = found["report"].get("image") or {}
    run = found["report"].get("run") or {}
    dm_errors = found["dm_errors"]
    why = ""
    if found.get("setup_error"):
        why = "setup: " + found["setup_error"]
    elif found["kernel_errors"]:
        why = "in the kernel (not dockermagic's doing): " + found["kernel_errors"][0]
    elif not image.get("image_id"):
        build_errors = [e for src, e in dm_errors if "dockerize" in src or "load_ext" in src]
        why = "%dockerize: " + (build_errors[0] if build_errors else "no image")
    elif run.get("exit_code") != 0:
        why = failing_line(run.get("logs", ""))
        if run.get("timed_out"):
            why = "timed out: " + why
        if not why:
            run_errors = [e for src, e in dm_errors if "docker_run" in src]
            why = run_errors[0] if run_errors else f"exit code {run.get('exit_code')}"
    runs = not why
    reqs = image.get("requirements") or []
    ipython = next((r for r in reqs if re.match(r"(?i)ipython([=<>~! ]|$)", r["line"])), None)
    files = [Path(f).name for f in run.get("files") or []]
    # the figures the program showed: dockermagic's figures/ folder of the run's outputs, not
    # a PNG the notebook wrote itself (into a folder of its own that may also be named figures)
    shown_folder = Path(run.get("outputs") or "/nonexistent") / "figures"
    image_figures = sum(
        1 for f in run.get("figures") or [] if Path(f).parent == shown_folder and Path(f).name not in case.expect_files
    )
    kernel_figures = found["kernel_figures"] + found["kernel_text_figures"]
    missing = [f for f in case.expect_files if f not in files]
    # what the kernel printed (timings aside) should be printed by the run too
    logs = {l.strip() for l in ANSI.sub("", run.get("logs") or "").splitlines()}
    printed = [l for l in found["kernel_printed"] if not TIMING.match(l)]
    not_printed = [l for l in printed if l not in logs]
    back = f"{kernel_figures}/{image_figures}" if run else "-"
    if found["kernel_text_figures"]:
        back += f" ({found['kernel_text_figures']} text)"
    return {
        "case": case.name,
        "runs": runs,
        "why": why,
        "size": docker_size(image.get("size")),
        "size_bytes": image.get("size"),
        "system_packages": [(p["package"], p["reason"]) for p in image.get("system_packages") or []],
        "ipython": (ipython["line"], ipython["origin"]) if ipython else None,
        "ipython_unneeded": bool(ipython) and not case.needs_ipython,
        "figures_kernel": kernel_figures,
        "figures_kernel_text": found["kernel_text_figures"],
        "figures_image": image_figures if run else None,
        "figures_api": len(run.get("figures") or []) if run else None,
        "figures_ok": bool(run) and image_figures == kernel_figures,
        "missing_files": missing if run else list(case.expect_files),
        "printed": f"{len(printed) - len(not_printed)}/{len(printed)}" if run else "-",
        "not_printed": not_printed if run else [],
        "back": back,
        "expected_errors": found["expected_errors"],
        "notes": image.get("notes") or [],
        "requirements": reqs,
        "fallback": fallback,
        "layers": found["report"].get("layers") or [],
        "seconds": found.get("seconds"),
    }


def run_case(case, tmproot, fallbacks, editable_dockermagic=False):
    started = time.monotonic()
    work = tmproot / case.name
    project = work / Path(case.folder).name
    shutil.copytree(
        PROJECTS / case.folder,
        project,
        ignore=shutil.ignore_patterns("dockermagic-outputs", ".ipynb_checkpoints", "__pycache__", "*.executed.ipynb"),
    )
    found = empty_findings()
    try:
        venv = kernel_python(case, project, tmproot, fallbacks, editable_dockermagic)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        found["setup_error"] = f"kernel environment: {str(exc).strip().splitlines()[0][:200]}"
        return verdict(case, found, fallbacks.get(case.name))
    for script in case.setup:
        proc = subprocess.run([str(venv / "bin" / "python"), script], cwd=project, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            found["setup_error"] = f"{script}: {last}"
            return verdict(case, found, fallbacks.get(case.name))
    nb = execute(case, venv, project / case.notebook)
    found = examine(case, nb)
    found["seconds"] = time.monotonic() - started
    return verdict(case, found, fallbacks.get(case.name))


# --- engine clean-up ---------------------------------------------------------------------


def docker_client():
    import docker

    return docker.from_env(version="auto")


def clean_up(client, before, layers, keep):
    """Remove this benchmark's containers, images, builder-stage images and contexts."""
    from docker.errors import APIError, NotFound

    for c in client.api.containers(all=True, filters={"label": "org.dockermagic.image"}):
        if (c.get("Labels") or {}).get("org.dockermagic.image", "").startswith(PREFIX):
            try:
                client.api.remove_container(c["Id"], force=True)
            except (APIError, NotFound):
                pass
    if keep:
        return 0
    removed = 0
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(PREFIX):
                try:
                    client.api.remove_image(tag)
                    removed += 1
                except (APIError, NotFound) as exc:
                    say(f"could not remove {tag}: {exc}")
    # the builder stage of these builds: untagged, labelled, named in our build logs, and new
    ours = {layer.split(":")[-1][:12] for layer in layers}
    for image in client.api.images(filters={"dangling": True, "label": "org.dockermagic.stage=builder"}):
        short = image["Id"].split(":")[-1][:12]
        if short in ours and image["Id"] not in before:
            try:
                client.api.remove_image(image["Id"])
                removed += 1
            except (APIError, NotFound):
                pass
    for folder in CONTEXTS.glob(PREFIX + "*"):
        shutil.rmtree(folder, ignore_errors=True)
    return removed


# --- the report --------------------------------------------------------------------------


def report(rows, wall, python_info):
    w = max(len(r["case"]) for r in rows) + 1
    lines = [
        "",
        "Project benchmark (issue 12): each notebook executed in a real kernel, then rerun in its image",
        f"kernels: {python_info}",
        "figures: PNGs the kernel displayed / the run brought back (text: shown as '<Figure ...>' text in the kernel);",
        "printed: lines the kernel printed that the run printed too (timings aside)",
        "",
        f"{'case':<{w}} {'runs':<4} {'size':>7}  {'IPython':<8} {'figures':<12} {'printed':<8} system packages",
        "-" * (w + 100),
    ]
    for r in rows:
        packages = ", ".join(p for p, _ in r["system_packages"]) or "-"
        ipy = r["ipython"][0].split("==")[-1] if r["ipython"] else "no"
        lines.append(
            f"{r['case']:<{w}} {'yes' if r['runs'] else 'NO':<4} {r['size']:>7}  {ipy:<8} {r['back']:<12} "
            f"{r['printed']:<8} {packages}"
        )
    lines.append("-" * (w + 100))
    lines.append("")
    for r in rows:
        details = []
        if not r["runs"]:
            details.append(f"fails: {r['why']}")
        for package, reason in r["system_packages"]:
            details.append(f"system package {package}: {reason}")
        if r["ipython"]:
            details.append(
                f"IPython in the image ({r['ipython'][0]}): {r['ipython'][1]}"
                + ("" if not r["ipython_unneeded"] else "  <- not needed by this notebook")
            )
        if r["figures_image"] is not None and not r["figures_ok"]:
            details.append(f"figures: the kernel showed {r['figures_kernel']}, the image {r['figures_image']}")
        if r["figures_kernel_text"]:
            details.append(
                f"the kernel displayed {r['figures_kernel_text']} figure(s) as text ('<Figure size ...>'), not PNG"
            )
        if r["figures_api"] is not None and r["figures_api"] != r["figures_image"]:
            details.append(
                f"run.figures lists {r['figures_api']} PNG(s): it also counts those the notebook wrote into a "
                "folder of its own named figures"
            )
        for line in r["not_printed"][:3]:
            details.append(f"the kernel printed, the run did not: {line[:150]!r}")
        if r["missing_files"] and r["figures_image"] is not None:
            details.append(f"not among the run's outputs: {', '.join(r['missing_files'])}")
        if r["expected_errors"]:
            details.append(f"failed in the kernel on purpose: {r['expected_errors'][0]}")
        for note in r["notes"]:
            if NOTES_SHOWN.match(note) and "pip settings" not in note:
                details.append(f"note: {note[:300]}")
        if r["fallback"]:
            details.append(f"kernel: {r['fallback']}")
        if r.get("retried"):
            details.append("built twice: the engine lost a layer of the first build (another user's clean-up)")
        if details:
            lines.append(f"{r['case']}:")
            lines += [f"  {d}" for d in details]
    ran = sum(r["runs"] for r in rows)
    unneeded = [r["case"] for r in rows if r["ipython_unneeded"]]
    met = ran == len(rows) and not unneeded
    lines += [
        "",
        f"runs in its image: {ran}/{len(rows)}"
        + (f" (fail: {', '.join(r['case'] for r in rows if not r['runs'])})" if ran < len(rows) else ""),
        "IPython only for %%time / %time / ! (or another magic that does not need it): "
        + (", ".join(unneeded) if unneeded else "none"),
        f"figures brought back as shown: {sum(r['figures_ok'] for r in rows)}/{len(rows)}",
        f"printed what the kernel printed: {sum(r['printed'] != '-' and not r['not_printed'] for r in rows)}"
        f"/{len(rows)}",
        f"target (every notebook runs in its image; no image holds IPython only for %%time): "
        f"{'MET' if met else 'NOT MET'}",
        f"benchmark wall time: {wall:.0f} s",
    ]
    print("\n".join(lines), flush=True)
    return met


# --- main --------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", metavar="CASE[,CASE]", help="only these cases (comma-separated)")
    parser.add_argument("--keep", action="store_true", help="keep the images, build contexts and working copies")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    parser.add_argument(
        "--editable-dockermagic",
        action="store_true",
        help="load dockermagic from the repository (a .pth, as pip install -e), not from a copy in site-packages",
    )
    args = parser.parse_args(argv)

    cases = CASES
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in {c.name for c in CASES}]
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}; cases: {', '.join(c.name for c in CASES)}")
        cases = [c for c in CASES if c.name in wanted]

    started = time.monotonic()
    say(f"{len(cases)} cases; making sure the engine and the base image are ready")
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-engine.sh"), "%d.%d" % sys.version_info[:2]], check=True)
    if any(c.name == "graphviz_dot" for c in cases):
        ensure_dot()
    client = docker_client()
    before = {image["Id"] for image in client.api.images(all=True)}
    clean_up(client, before, [], keep=False)  # what an interrupted run left behind
    tmproot = Path(tempfile.mkdtemp(prefix="dmbench-proj-"))
    rows, layers, fallbacks = [], [], {}
    try:
        for n, case in enumerate(cases, 1):
            say(f"[{n}/{len(cases)}] {case.name}: {case.what}")
            for attempt in (1, 2):
                try:
                    row = run_case(case, tmproot / f"try{attempt}", fallbacks, args.editable_dockermagic)
                except Exception as exc:  # the benchmark's own trouble: report it as the case's result
                    trouble = f"benchmark error: {type(exc).__name__}: {exc}"
                    row = verdict(case, empty_findings(setup_error=trouble), None)
                if attempt == 1 and ENGINE_TROUBLE.search(row["why"]):
                    layers += row["layers"]
                    say(
                        f"[{n}/{len(cases)}] {case.name}: the engine lost a layer (not dockermagic's doing): "
                        f"once more ({row['why'][:99]})"
                    )
                    continue
                row["retried"] = attempt == 2
                break
            rows.append(row)
            layers += row["layers"]
            say(
                f"[{n}/{len(cases)}] {case.name}: {'runs' if row['runs'] else 'FAILS: ' + row['why']}"
                + (f" ({row['seconds']:.0f} s)" if row.get("seconds") else "")
            )
    finally:
        removed = clean_up(client, before, layers, keep=args.keep)
        if args.keep:
            say(f"kept the images, contexts ({CONTEXTS}) and working copies ({tmproot})")
        else:
            say(f"removed {removed} images")
            shutil.rmtree(tmproot, ignore_errors=True)
    python_info = (
        f"main = {shutil.which('python3')} (site-packages shared, + {', '.join(MAIN_EXTRAS)} in a venv), "
        f"old-mpl = venv with {', '.join(OLD_MPL)}; dockermagic: "
        + (f"editable from {REPO}" if args.editable_dockermagic else f"{REPO / 'dockermagic'} copied to site-packages")
    )
    met = report(rows, time.monotonic() - started, python_info)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
