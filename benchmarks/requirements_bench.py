#!/usr/bin/env python3
"""Requirements benchmark (issue 3): dockermagic against pipreqs alone, on a corpus of notebooks.

    python3 benchmarks/requirements_bench.py [--only NAME ...] [--jobs 2] [--keep-images]

What it does
------------
1. Makes (once, cached) a virtualenv ``benchmarks/.cache/venv`` holding the benchmark kernel:
   ipykernel, the local dockermagic (editable, ``--no-deps``) and its dependencies, pipreqs,
   and the packages the corpus uses at the versions in
   ``benchmarks/requirements/kernel-requirements.txt`` (Pillow is old on purpose). It is
   made from an interpreter whose standard-library folder holds no ``site-packages``
   (Debian's ``/usr/bin/python3.X`` when there is one; see :func:`base_python`), so that
   pipreqs, which walks every ``sys.path`` folder, sees exactly the kernel's packages. The
   script then re-runs itself with that virtualenv's Python.
2. Makes sure a Docker engine and the base image are there (``scripts/ensure-engine.sh``).
3. For every notebook in ``benchmarks/requirements/corpus/<name>/``:

   * **dockermagic**: a copy of the folder is executed in a fresh kernel of that virtualenv
     (jupyter_client + nbclient, ``JPY_SESSION_NAME`` naming the notebook, as JupyterLab
     does), with two cells appended: ``%dockerize -t dmbench-<name>`` and
     ``%docker_run dmbench-<name>``. The requirement set is the image's ``requirements.txt``
     (``Image.requirements``); "runs" means the notebook ran in the kernel and its program
     exited 0 in its image.
   * **pipreqs alone**: ``jupyter nbconvert --to script`` of the same notebook, then
     ``pipreqs --use-local --print`` on that folder (the script and any local ``.py``), inside
     a network namespace with no network (``unshare -n``) so it cannot query PyPI. Its
     output is the ``requirements.txt`` of a plain Dockerfile (the base image dockermagic
     uses, a venv, ``pip install -r requirements.txt`` with the CA bundle for the TLS proxy,
     ``COPY . .``, ``CMD python notebook.py`` with ``MPLBACKEND=Agg``); "runs" means
     ``python notebook.py`` exited 0 in that image.
   * **pipreqs default** (scored, not built): what plain ``pipreqs`` would write. Its
     default mode asks PyPI for every name it cannot find locally and pins the newest
     release; the benchmark computes those names with pipreqs' own functions, offline, and
     scores them assuming every look-up succeeds (PyPI resolves a name to the project of
     that name, e.g. ``attr`` to the unrelated project "attr", not to attrs).
   * **control**, for a case with ``control-requirements.txt`` (``old_pin``): the plain
     Dockerfile with those requirements (Pillow unpinned) must make the notebook fail, or
     the case does not test what it claims to.
4. Times requirement inference for a generated notebook of 300 code cells and a
   ``%dockerize`` cell: ``dockermagic.planning.plan`` (capture, hidden-state check against the
   kernel's history, export, requirements, data files: everything a build needs short of
   writing and building), with an IPython shell whose history is the notebook run top to
   bottom, in a process with no network: ``unshare -n`` when possible, and
   ``socket.connect`` patched to raise and count attempts. The first call in a new
   environment also pays the one-time (cached) measurement of a fresh kernel's modules;
   it is shown apart.
5. Prints one table, and removes every image and container it created (tags ``dmbench-*``,
   and the untagged builder-stage images of its own builds).

Scoring rule (precision and recall)
-----------------------------------
``truth.txt`` lists, per notebook, the distributions the notebook's code needs directly
to run: what it imports (in cells, in cell magics, in local modules, by literal
``importlib.import_module``), what it needs without importing (``lxml`` asked for by name as a
BeautifulSoup parser, ``wcwidth`` installed by ``%pip`` for tabulate), never what it imports
optionally and does not have. Names are compared canonicalised (PEP 503).

For a tool's requirement set R (every line of the ``requirements.txt`` it produced):

* true positive: a name in R that is in truth;
* false negative: a truth name missing from R;
* false positive: a name in R that is not in truth **and** not a declared dependency
  (transitively, in the kernel's environment) of a truth name. Pinning the declared
  dependencies of what is needed (``six`` for python-dateutil, ``soupsieve`` for
  beautifulsoup4) is how a reproducible image is made, so they are neither right nor wrong.
  ``ipython`` and its declared dependencies are neutral too: dockermagic adds IPython when
  the exported program keeps magics (``%%time``), which is about the export, not the
  notebook's requirements. Dependencies of a false positive count as false positives.

Precision = TP / (TP + FP), recall = TP / (TP + FN). The totals are micro-averaged over
the corpus (sums of TP, FP, FN); a notebook with an empty truth and an empty R scores 1/1.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent  # benchmarks/
REPO = HERE.parent
CORPUS = HERE / "requirements" / "corpus"
KERNEL_REQUIREMENTS = HERE / "requirements" / "kernel-requirements.txt"
CACHE = HERE / ".cache"
VENV = CACHE / "venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".dmbench-stamp"
PREFIX = "dmbench-"
BENCH_LABEL = "org.dockermagic.benchmark"
BUILDER_LABEL = "org.dockermagic.stage"
RUN_TIMEOUT = 300
#: failures that come from the engine losing an image mid-build, not from the tool
ENGINE_TROUBLE = re.compile(r"unknown parent image|is not on this engine|registry-1\.docker\.io|No such image")
#: files of a corpus folder that belong to the benchmark, not to the notebook
BENCH_FILES = ("truth.txt", "control-requirements.txt")
CA_BUNDLE = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"


def say(text):
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# --- the benchmark kernel's virtualenv -----------------------------------------------------


def _stamp():
    digest = hashlib.sha256(KERNEL_REQUIREMENTS.read_bytes())
    digest.update((REPO / "pyproject.toml").read_bytes())
    digest.update(base_python().encode())
    return digest.hexdigest()


def ensure_venv():
    """Create or refresh the benchmark virtualenv; return True if it was (re)made."""
    if VENV_PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == _stamp():
        return False
    base = base_python()
    say(f"making the benchmark kernel's virtualenv in {VENV} from {base} (about a minute, once)")
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "-q"]
    for extra in (["-r", str(KERNEL_REQUIREMENTS)], ["--no-deps", "-e", str(REPO)]):
        proc = subprocess.run(pip + extra, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"pip install {' '.join(extra)} failed in {VENV}:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    STAMP.write_text(_stamp())
    return True


def base_python():
    """The interpreter the benchmark virtualenv is made from.

    pipreqs (``get_locally_installed_packages``) walks every ``sys.path`` folder recursively;
    a pyenv-style interpreter keeps its own ``site-packages`` inside its standard-library
    folder, so pipreqs would also report the base interpreter's packages, which the kernel
    cannot import. To give both tools exactly the kernel's environment, prefer an
    interpreter of the same major.minor whose standard library holds no ``site-packages``
    (Debian's ``/usr/bin/python3.X``); ``DMBENCH_PYTHON`` overrides.
    """
    if os.environ.get("DMBENCH_PYTHON"):
        return os.environ["DMBENCH_PYTHON"]
    probe = (
        "import sysconfig, os, sys; "
        "print(os.path.isdir(os.path.join(sysconfig.get_paths()['stdlib'], 'site-packages')))"
    )
    for candidate in ("/usr/bin/python%d.%d" % sys.version_info[:2], sys.executable):
        try:
            proc = subprocess.run(
                [candidate, "-c", probe + "; import venv, ensurepip"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if proc.returncode == 0 and proc.stdout.strip() == "False":
            return candidate
    return sys.executable


def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


# --- the corpus ----------------------------------------------------------------------------


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


class Case:
    def __init__(self, folder):
        self.folder = folder
        self.name = folder.name
        self.tag = PREFIX + re.sub(r"[^a-z0-9]+", "-", self.name.lower())
        lines = (folder / "truth.txt").read_text().splitlines()
        self.truth_names = [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]
        self.truth = {canon(n) for n in self.truth_names}
        control = folder / "control-requirements.txt"
        self.control = (
            [l.strip() for l in control.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
            if control.exists()
            else None
        )


def load_corpus(only=()):
    cases = [Case(p) for p in sorted(CORPUS.iterdir()) if (p / "notebook.ipynb").is_file()]
    if only:
        unknown = set(only) - {c.name for c in cases}
        if unknown:
            sys.exit(f"unknown notebook(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.name in only]
    return cases


def declared_closure(names):
    """Canonical names of ``names`` and everything they declare, transitively, in this environment."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    seen, queue = set(), [canon(n) for n in names]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            queue.append(canon(req.name))
    return seen


def score(found, truth):
    """``(tp, fp, fn, extras, missed)`` of a requirement set against the truth (see the module doc)."""
    found = {canon(n) for n in found}
    neutral = declared_closure(set(truth) | {"ipython"})
    tp = found & truth
    missed = truth - found
    extras = found - truth - neutral
    return len(tp), len(extras), len(missed), sorted(extras), sorted(missed)


def ratio(a, b):
    return a / b if b else 1.0


# --- engine helpers ----------------------------------------------------------------------


def docker_client():
    import docker

    return docker.from_env(version="auto")


def remove_bench_images(client, builder_layers=()):
    """Remove every ``dmbench-*`` image and this run's dangling builder-stage images.

    Uses the low-level API (plain lists, no per-image inspect), so images that other
    users of the engine remove meanwhile do not break the clean-up.
    """
    from docker.errors import APIError, NotFound

    removed = 0
    for c in client.api.containers(all=True, filters={"label": BENCH_LABEL}):
        try:
            client.api.remove_container(c["Id"], force=True)
        except (APIError, NotFound):
            pass
    for c in client.api.containers(all=True, filters={"label": "org.dockermagic.image"}):
        if (c.get("Labels") or {}).get("org.dockermagic.image", "").startswith(PREFIX):
            try:
                client.api.remove_container(c["Id"], force=True)
            except (APIError, NotFound):
                pass
    for image in client.api.images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(PREFIX):
                try:
                    client.api.remove_image(tag, noprune=False)
                    removed += 1
                except NotFound:
                    pass
                except APIError as exc:
                    say(f"could not remove {tag}: {exc.explanation or exc}")
    layers = {l[:12] for l in builder_layers}
    if layers:
        for image in client.api.images(filters={"dangling": True, "label": f"{BUILDER_LABEL}=builder"}):
            if image["Id"].split(":", 1)[-1][:12] in layers:
                try:
                    client.api.remove_image(image["Id"], noprune=False)
                    removed += 1
                except NotFound:
                    pass
                except APIError as exc:
                    say(f"could not remove builder image {image['Id'][7:19]}: {exc.explanation or exc}")
    return removed


def no_network_prefix():
    """``["unshare", "-n"]`` when this machine lets us drop the network, else ``[]``."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return ["unshare", "-n"] if ok else []


# --- dockermagic: the notebook executed in a real kernel ------------------------------------

BENCH_CELLS = [
    # One cell: a cell's own text is not part of the program %dockerize packages (the
    # program is the cells above it), so the instrumentation never reaches the image.
    # The dry run records the requirement set even when the build then fails.
    """%load_ext dockermagic
_dmb_plan = %dockerize -t {tag} --dry-run
_dmb_img = %dockerize -t {tag} -q""",
    """import json as _dmb_json
import dockermagic.api as _dmb_api
_dmb_build = _dmb_api.last_build()
_dmb_out = {{"layers": _dmb_build.layers if _dmb_build is not None else []}}
if "_dmb_plan" in globals():  # the requirements, even when the build then fails
    _dmb_out.update(notes=_dmb_plan.notes, requirements=[[r.name, r.version, r.origin] for r in _dmb_plan.requirements])
if "_dmb_img" in globals():
    _dmb_out.update(image_id=_dmb_img.image_id, build_seconds=_dmb_img.build_seconds,
                    built_requirements=[str(r) for r in _dmb_img.requirements])
print("DMBENCH-BUILD " + _dmb_json.dumps(_dmb_out))""",
    """_dmb_run = %docker_run {tag} --timeout {timeout} --outputs dockermagic-outputs""",
    """_dmb_r = globals().get("_dmb_run") or globals().get("_docker_run")
print("DMBENCH-RUN " + _dmb_json.dumps(None if _dmb_r is None else
      {{"exit_code": _dmb_r.exit_code, "logs": _dmb_r.logs[-4000:]}}))""",
]


def execute_dockermagic(case_dir, work, tag):
    """Runs in the benchmark virtualenv: execute the notebook with the dockerize cells appended."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(case_dir, work, ignore=shutil.ignore_patterns(*BENCH_FILES))
    path = work / "notebook.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    n_corpus = len(nb.cells)
    for text in BENCH_CELLS:
        nb.cells.append(nbformat.v4.new_code_cell(text.format(tag=tag, timeout=RUN_TIMEOUT)))
    nbformat.write(nb, str(path))

    kernels = Path(tempfile.mkdtemp(prefix="dmbench-kernels-"))
    spec = kernels / "dmbench" / "kernel.json"
    spec.parent.mkdir()
    spec.write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "dmbench",
                "language": "python",
            }
        )
    )
    env = dict(
        os.environ, JPY_SESSION_NAME=str(path), XDG_CACHE_HOME=str(CACHE / "xdg"), PYDEVD_DISABLE_FILE_VALIDATION="1"
    )
    km = KernelManager(kernel_name="dmbench", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=900, allow_errors=True, resources={"metadata": {"path": str(work)}})
    started = time.monotonic()
    try:
        client.execute(env=env)
    finally:
        shutil.rmtree(kernels, ignore_errors=True)
    nbformat.write(nb, str(work / "executed.ipynb"))
    result = {"seconds": time.monotonic() - started, "kernel_errors": [], "errors": [], "build": None, "run": None}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                message = f"{out.ename}: {out.evalue}"
                (result["kernel_errors"] if i < n_corpus else result["errors"]).append(message)
            elif out.output_type == "stream":
                if out.name == "stderr" and "UsageError:" in out.text:  # IPython prints these, no traceback
                    message = out.text[out.text.index("UsageError:") :].strip()
                    (result["kernel_errors"] if i < n_corpus else result["errors"]).append(message)
                for line in out.text.splitlines():
                    if line.startswith("DMBENCH-BUILD "):
                        result["build"] = json.loads(line[len("DMBENCH-BUILD ") :])
                    elif line.startswith("DMBENCH-RUN "):
                        result["run"] = json.loads(line[len("DMBENCH-RUN ") :])
    return result


def run_dockermagic(case, workroot):
    work = workroot / "dockermagic" / case.name
    out = workroot / f"dockermagic-{case.name}.json"
    proc = subprocess.run(
        [sys.executable, __file__, "--execute-dockermagic", str(case.folder), str(work), case.tag, str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not out.exists():
        return {
            "requirements": [],
            "runs": False,
            "why": f"benchmark error: {proc.stderr.strip()[-300:]}",
            "layers": [],
            "seconds": None,
            "notes": [],
        }
    raw = json.loads(out.read_text())
    build = raw["build"] or {}
    run = raw["run"]
    reqs = build.get("requirements") or []
    runs = bool(run) and run.get("exit_code") == 0 and not raw["kernel_errors"]
    why = ""
    if raw["kernel_errors"]:
        why = "the notebook failed in the kernel: " + raw["kernel_errors"][0]
    elif not build.get("image_id"):
        why = "%dockerize failed: " + (raw["errors"][0] if raw["errors"] else "no image")
    elif not runs:
        why = last_line((run or {}).get("logs", "")) or (raw["errors"][0] if raw["errors"] else "did not run")
    return {
        "requirements": [r[0] for r in reqs],
        "detail": reqs,
        "runs": runs,
        "why": why,
        "layers": build.get("layers") or [],
        "seconds": raw["seconds"],
        "notes": build.get("notes") or [],
    }


def last_line(text):
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text or "")
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:160] if lines else ""


# --- pipreqs alone -------------------------------------------------------------------------

NAIVE_DOCKERFILE = """\
FROM {base}
ENV PIP_CERT=/etc/pip-ca-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \\
    PIP_ROOT_USER_ACTION=ignore MPLBACKEND=Agg PATH=/opt/venv/bin:$PATH
COPY ca-bundle.crt /etc/pip-ca-bundle.crt
WORKDIR /app
COPY requirements.txt .
RUN python -m venv /opt/venv && pip install -r requirements.txt
COPY . .
LABEL {label}=requirements
CMD ["python", "notebook.py"]
"""

PIPREQS_DEFAULT_SNIPPET = """
import json, sys
from pipreqs import pipreqs as p
folder = sys.argv[1]
candidates = p.get_pkg_names(p.get_all_imports(folder))
local = p.get_import_local(candidates)
# the same test pipreqs.init() makes before asking PyPI (pipreqs 0.5.0)
difference = [x for x in candidates
              if x.lower() not in [y for x in local for y in x["exports"]]
              and x.lower() not in [x["name"] for x in local]]
print(json.dumps({"local": [x["name"] for x in local], "pypi": difference}))
"""


def run_pipreqs(case, workroot, base, offline):
    work = workroot / "pipreqs" / case.name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(case.folder, work, ignore=shutil.ignore_patterns(*BENCH_FILES))
    bindir = Path(sys.executable).parent
    subprocess.run(
        [str(bindir / "jupyter"), "nbconvert", "--to", "script", "notebook.ipynb"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    (work / "notebook.ipynb").unlink()
    # pipreqs --use-local, offline: what it writes when it may not query PyPI
    proc = subprocess.run(
        offline + [str(bindir / "pipreqs"), "--use-local", "--print", str(work)],
        capture_output=True,
        text=True,
        env=dict(os.environ, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9"),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pipreqs failed on {case.name}: {proc.stderr[-500:]}")
    lines = [l.strip() for l in proc.stdout.splitlines() if l.strip()]
    requirements = [re.split(r"[=<>~!]", l, maxsplit=1)[0] for l in lines]
    default = json.loads(
        subprocess.run(
            offline + [sys.executable, "-c", PIPREQS_DEFAULT_SNIPPET, str(work)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    local = {canon(n) for n in default["local"]}
    result = {
        "requirements": requirements,
        "lines": lines,
        "default_names": default["local"] + default["pypi"],
        "pypi_lookups": default["pypi"],
        "pypi_duplicates": [n for n in default["pypi"] if canon(n) in local],
        "runs": False,
        "why": "",
        "layers": [],
    }
    result.update(build_and_run_naive(work, lines, PREFIX + "pipreqs-" + case.tag[len(PREFIX) :], base))
    return result


def build_and_run_naive(work, lines, tag, base):
    """Build ``work`` with the plain Dockerfile and ``lines`` as requirements.txt; run it."""
    (work / "requirements.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    shutil.copy(CA_BUNDLE, work / "ca-bundle.crt")
    (work / "Dockerfile").write_text(NAIVE_DOCKERFILE.format(base=base, label=BENCH_LABEL))
    client = docker_client()
    started = time.monotonic()
    result = {"runs": False, "why": ""}
    error = None
    for chunk in client.api.build(path=str(work), tag=tag, rm=True, forcerm=True, decode=True, pull=False):
        if "error" in chunk:
            error = chunk["error"].strip()
    result["build_seconds"] = time.monotonic() - started
    if error:
        result["why"] = "build failed: " + last_line(error)
        return result
    container = client.containers.run(tag, detach=True, labels={BENCH_LABEL: "run"})
    try:
        try:
            code = container.wait(timeout=RUN_TIMEOUT).get("StatusCode", -1)
        except Exception:
            code = "timeout"
        logs = container.logs().decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    result["runs"] = code == 0
    if code != 0:
        result["why"] = last_line(logs) or f"exit code {code}"
    return result


def run_control(case, workroot, base):
    """The corpus' own check: the notebook with its control requirements (e.g. Pillow unpinned,
    so the newest release) must fail, or the case does not test what it claims to."""
    work = workroot / "control" / case.name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(case.folder, work, ignore=shutil.ignore_patterns(*BENCH_FILES))
    subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "script", "notebook.ipynb"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    (work / "notebook.ipynb").unlink()
    result = build_and_run_naive(work, case.control, PREFIX + "control-" + case.tag[len(PREFIX) :], base)
    result["requirements"] = case.control
    return result


# --- the 300-cell notebook -----------------------------------------------------------------

DOCKERIZE_300 = "img = %dockerize -t dmbench-300-cells"


def make_big_notebook(folder, n=300):
    """A notebook of ``n`` code cells of the kinds the corpus has, then a ``%dockerize`` cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {
        "name": "python",
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
    }
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import csv, json, os, re\nfrom pathlib import Path\nimport yaml\nfrom bs4 import BeautifulSoup\n"
            "from PIL import Image\nfrom toolz import groupby\nimport tabulate\nfrom dateutil import parser\n"
            "import attr\nimport requests\nimport more_itertools\nimport six"
        )
    )
    templates = [
        "values_{i} = [n * {i} for n in range(20)]\ntotal_{i} = sum(values_{i})\ntotal_{i}",
        "def describe_{i}(v):\n    return yaml.safe_dump({{'cell': {i}, 'value': v}})\nprint(describe_{i}({i}))",
        "rows_{i} = [[k, k ** 2] for k in range({i} % 7 + 2)]\nprint(tabulate.tabulate(rows_{i}))",
        "%time ordered_{i} = sorted(range({i}), key=lambda x: -x)",
        "stamp_{i} = parser.parse('2024-01-{d:02d}')\n"
        "groups_{i} = groupby(lambda x: x % 3, range({i}))\nlen(groups_{i})",
        "@attr.s(auto_attribs=True)\nclass Row{i}:\n    a: int = {i}\n    b: str = 'x'\nRow{i}()",
        "soup_{i} = BeautifulSoup('<p>cell {i}</p>', 'html.parser')\nsoup_{i}.p.get_text()",
        "chunks_{i} = list(more_itertools.chunked(range({i}), 4))\nif chunks_{i}:\n    print(len(chunks_{i}))",
    ]
    for i in range(1, n):  # 300 cells with the imports cell above
        if i % 50 == 0:
            text = "%pip install toolz==1.0.0"
        elif i % 30 == 0:
            text = f"%%time\nimport more_itertools\nz_{i} = list(more_itertools.windowed(range(10), 3))"
        elif i % 40 == 0:
            text = "try:\n    import ujson as fastjson\nexcept ImportError:\n    fastjson = json"
        elif i % 45 == 0:
            text = f"with open('data_{i}.csv', 'w') as f:\n    csv.writer(f).writerow([{i}])"
        else:
            text = templates[i % len(templates)].format(i=i, d=i % 28 + 1)
        nb.cells.append(nbformat.v4.new_code_cell(text))
    nb.cells.append(nbformat.v4.new_code_cell(DOCKERIZE_300))
    path = Path(folder) / "notebook.ipynb"
    nbformat.write(nb, str(path))
    return path


def time_300_cells(out_file):
    """Runs in a process without network: time dockermagic's inference on 300 cells."""
    import socket

    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(str(address))
            raise OSError("dmbench: network access attempted during inference")
        return real_connect(self, address, *args)

    def refuse_ex(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(str(address))
            raise OSError("dmbench: network access attempted during inference")
        return real_connect_ex(self, address, *args)

    socket.socket.connect, socket.socket.connect_ex = refuse, refuse_ex
    folder = Path(tempfile.mkdtemp(prefix="dmbench-300-"))
    os.environ["IPYTHONDIR"] = str(folder / "ipython")
    try:
        path = make_big_notebook(folder)
        import nbformat

        sources = [c.source for c in nbformat.read(str(path), as_version=4).cells]
        import_started = time.perf_counter()
        from IPython.core.interactiveshell import InteractiveShell

        from dockermagic import capture, export, planning, requirements
        from dockermagic.request import BuildRequest, KernelContext

        import_seconds = time.perf_counter() - import_started
        # A shell whose history is the notebook run top to bottom, as in the kernel that ran
        # it (the cells are not executed here): plan() takes the kernel path, with the
        # hidden-state check against the history and the kernel's loaded modules.
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        shell = InteractiveShell.instance(config=config)
        shell.history_manager.input_hist_raw[:] = [""] + sources
        shell.history_manager.input_hist_parsed[:] = [""] + sources

        kernel = KernelContext(shell=shell, current_cell=DOCKERIZE_300)
        request = BuildRequest(notebook=str(path), tag="dmbench-300-cells", dry_run=True)

        def plan():
            built = planning.plan(capture.capture(kernel, request.notebook), request)
            return built.image, built.context

        # cold: a fresh cache, so the one-time measurement of the kernel's baseline modules runs
        os.environ["XDG_CACHE_HOME"] = str(folder / "cold-cache")
        started = time.perf_counter()
        image, _ = plan()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(5):
            started = time.perf_counter()
            image, _ = plan()
            warm.append(time.perf_counter() - started)
        cap = capture.capture(kernel, str(path))
        program = export.export_script(cap.cells, source=cap.source)
        infer_times = []
        for _ in range(5):
            started = time.perf_counter()
            requirements.infer(
                program.cells,
                cap.workdir,
                program.pip_lines,
                cap.loaded_modules,
                cap.python_version,
                program.uses_ipython,
            )
            infer_times.append(time.perf_counter() - started)
        result = {
            "cells": len(cap.cells),
            "cold": cold,
            "warm": statistics.median(warm),
            "infer": statistics.median(infer_times),
            "import": import_seconds,
            "requirements": [str(r) for r in image.requirements],
            "notes": image.notes,
            "connect_attempts": attempts,
        }
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex
    # pipreqs on the same notebook, for comparison: nbconvert to a script, then pipreqs --use-local
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "jupyter"), "nbconvert", "--to", "script", str(path)], check=True, capture_output=True)
    path.unlink()
    started = time.perf_counter()
    subprocess.run([str(bindir / "pipreqs"), "--use-local", "--print", str(folder)], check=True, capture_output=True)
    result["pipreqs"] = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    Path(out_file).write_text(json.dumps(result))


def run_timing(workroot, offline):
    out = workroot / "timing.json"
    proc = subprocess.run(
        offline + [sys.executable, __file__, "--time-300", str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9"),
    )
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr.strip()[-800:]}
    result = json.loads(out.read_text())
    result["isolated"] = bool(offline)
    return result


# --- the report --------------------------------------------------------------------------


def report(cases, results, timing, wall):
    w = max(len(c.name) for c in cases) + 1
    head = (
        f"{'notebook':<{w}} {'truth':>5} | {'dockermagic':^21} | {'pipreqs --use-local':^21} | {'pipreqs default*':^13}"
    )
    sub = f"{'':<{w}} {'':>5} | {'P':>5} {'R':>5} {'runs':>9} | {'P':>5} {'R':>5} {'runs':>9} | {'P':>5} {'R':>5}"
    lines = [
        "",
        "Requirements benchmark: dockermagic vs pipreqs alone, same notebooks, same kernel environment",
        "",
        head,
        sub,
        "-" * len(sub),
    ]
    totals = {k: [0, 0, 0] for k in ("dm", "pr", "pd")}
    ran = {"dm": 0, "pr": 0}
    details = []
    for case in cases:
        r = results[case.name]
        row = f"{case.name:<{w}} {len(case.truth):>5} |"
        for key, tool in (("dm", r["dockermagic"]), ("pr", r["pipreqs"])):
            tp, fp, fn, extras, missed = score(tool["requirements"], case.truth)
            tool["score"] = {"tp": tp, "fp": fp, "fn": fn, "extras": extras, "missed": missed}
            for i, v in enumerate((tp, fp, fn)):
                totals[key][i] += v
            ran[key] += bool(tool["runs"])
            row += f" {ratio(tp, tp + fp):>5.2f} {ratio(tp, tp + fn):>5.2f} {'yes' if tool['runs'] else 'NO':>9} |"
        tp, fp, fn, extras, missed = score(r["pipreqs"]["default_names"], case.truth)
        r["pipreqs"]["default_score"] = {"tp": tp, "fp": fp, "fn": fn, "extras": extras, "missed": missed}
        for i, v in enumerate((tp, fp, fn)):
            totals["pd"][i] += v
        row += f" {ratio(tp, tp + fp):>5.2f} {ratio(tp, tp + fn):>5.2f}"
        lines.append(row)
        dm, pr = r["dockermagic"], r["pipreqs"]
        details.append(f"{case.name}: truth = {', '.join(case.truth_names) or '(nothing)'}")
        direct = [f"{n}=={v} ({o})" for n, v, o in dm.get("detail", []) if not o.startswith("dependency of")]
        deps = [n for n, v, o in dm.get("detail", []) if o.startswith("dependency of")]
        details.append(
            f"  dockermagic: {'; '.join(direct) or '(none)'}"
            + (f"  + declared deps: {', '.join(deps)}" if deps else "")
        )
        if dm["score"]["missed"] or dm["score"]["extras"]:
            details.append(
                f"    missed: {', '.join(dm['score']['missed']) or '-'}; "
                f"extra: {', '.join(dm['score']['extras']) or '-'}"
            )
        if dm["why"]:
            details.append(f"    fails: {dm['why']}")
        details.append(f"  pipreqs --use-local: {', '.join(pr['lines']) or '(empty)'}")
        if pr["score"]["missed"] or pr["score"]["extras"]:
            details.append(
                f"    missed: {', '.join(pr['score']['missed']) or '-'}; "
                f"extra: {', '.join(pr['score']['extras']) or '-'}"
            )
        if pr["why"]:
            details.append(f"    fails: {pr['why']}")
        if pr["pypi_lookups"]:
            dup = pr.get("pypi_duplicates") or []
            details.append(
                f"  pipreqs default would ask PyPI for: {', '.join(pr['pypi_lookups'])} and pin the newest release"
                + (
                    f"; {', '.join(dup)} also found locally (pipreqs compares the lower-cased name "
                    "with the installed name as spelled), "
                    "so written twice with two pins"
                    if dup
                    else ""
                )
            )
        control = r.get("control")
        if control:
            verdict = (
                "fails, as the case intends" if not control["runs"] else "RUNS: the case no longer tests what it claims"
            )
            details.append(
                f"  control, plain Dockerfile with {', '.join(control['requirements'])} (newest release): "
                f"{verdict}" + (f" ({control['why']})" if control["why"] else "")
            )
    lines.append("-" * len(sub))
    tot = f"{'total (micro)':<{w}} {sum(len(c.truth) for c in cases):>5} |"
    for key in ("dm", "pr"):
        tp, fp, fn = totals[key]
        tot += f" {ratio(tp, tp + fp):>5.2f} {ratio(tp, tp + fn):>5.2f} {f'{ran[key]}/{len(cases)}':>9} |"
    tp, fp, fn = totals["pd"]
    tot += f" {ratio(tp, tp + fp):>5.2f} {ratio(tp, tp + fn):>5.2f}"
    lines.append(tot)
    lines.append("")
    lines.append(
        "* pipreqs default = its names when it may ask PyPI for what it cannot find locally (computed offline,"
    )
    lines.append(
        "  every look-up assumed to resolve to the project of that name); not built, it would need the network."
    )
    lines.append(
        "P/R count the directly needed distributions (benchmarks/requirements_bench.py docstring has the rule)."
    )
    lines.append("")
    lines += details
    lines.append("")
    if "error" in timing:
        lines.append(f"300-cell notebook: timing failed: {timing['error']}")
    else:
        verdict = "PASS" if timing["warm"] < 1.0 and not timing["connect_attempts"] else "FAIL"
        lines.append(
            f"300-cell notebook ({timing['cells']} cells), dockermagic inference with no network "
            f"({'unshare -n' if timing['isolated'] else 'socket.connect blocked only'}; "
            f"connection attempts: {len(timing['connect_attempts'])}):"
        )
        lines.append(
            f"  capture+plan {timing['warm']:.3f} s  [{verdict}: target < 1 s]   "
            f"requirements.infer() alone {timing['infer']:.3f} s"
        )
        lines.append(
            f"  first plan() in a new environment {timing['cold']:.3f} s (includes the one-time, cached "
            f"measurement of the kernel's baseline modules); importing dockermagic {timing['import']:.3f} s"
        )
        lines.append(
            f"  pipreqs --use-local on the same notebook (nbconvert script): {timing['pipreqs']:.3f} s; "
            f"dockermagic found {len(timing['requirements'])} pinned requirements"
        )
    vanished = [
        f"{name} ({tool})"
        for name, r in results.items()
        for tool, t in r.items()
        if isinstance(t, dict) and ENGINE_TROUBLE.search(t.get("why") or "")
    ]
    retried = [
        f"{name} ({tool})"
        for name, r in results.items()
        for tool, t in r.items()
        if isinstance(t, dict) and t.get("retried")
    ]
    if retried:
        lines.append(
            f"built again after engine trouble (a layer or the base image removed by another user of "
            f"the engine): {', '.join(retried)}"
        )
    if vanished:
        lines.append(
            f"WARNING: the engine lost an image these builds needed (another user of the engine?); "
            f"these results are not valid: {', '.join(vanished)}"
        )
    lines.append(f"benchmark wall time: {wall:.0f} s")
    print("\n".join(lines), flush=True)


# --- main --------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these corpus notebooks")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks processed at once (default 2)")
    parser.add_argument("--keep-images", action="store_true", help="leave the dmbench-* images on the engine")
    parser.add_argument("--execute-dockermagic", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--time-300", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.execute_dockermagic:
        case_dir, work, tag, out = args.execute_dockermagic
        Path(out).write_text(json.dumps(execute_dockermagic(case_dir, work, tag)))
        return 0
    if args.time_300:
        time_300_cells(args.time_300)
        return 0

    started = time.monotonic()
    if not in_venv():
        ensure_venv()
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve())] + sys.argv[1:])
    t0 = float(os.environ.get("DMBENCH_STARTED", "0")) or started

    cases = load_corpus(args.only or ())
    say(f"{len(cases)} notebooks; making sure the engine and base image are ready")
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-engine.sh"), "%d.%d" % sys.version_info[:2]], check=True)
    base = "python:%d.%d-slim" % sys.version_info[:2]
    client = docker_client()
    remove_bench_images(client)  # left over from an interrupted run
    offline = no_network_prefix()
    if not offline:
        say("unshare -n is not available: pipreqs and the timing run with a dead proxy and blocked sockets only")
    workroot = CACHE / "work"
    shutil.rmtree(workroot, ignore_errors=True)
    workroot.mkdir(parents=True)

    results = {c.name: {} for c in cases}
    layers = []
    try:
        jobs = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for case in cases:
                jobs.append((case, "dockermagic", pool.submit(run_dockermagic, case, workroot)))
                jobs.append((case, "pipreqs", pool.submit(run_pipreqs, case, workroot, base, offline)))
                if case.control:
                    jobs.append((case, "control", pool.submit(run_control, case, workroot, base)))
            for case, tool, future in jobs:
                results[case.name][tool] = result = future.result()
                layers += result.get("layers", [])
                say(
                    f"{case.name:<18} {tool:<12} {'runs' if result['runs'] else 'FAILS'}"
                    + (f" ({result['why']})" if result["why"] else "")
                )
        # A shared engine: someone else's image removal can prune a cached layer a build of
        # ours is standing on ("unknown parent image ID"). Such a build is redone once, alone.
        tasks = {
            "dockermagic": lambda c: run_dockermagic(c, workroot),
            "pipreqs": lambda c: run_pipreqs(c, workroot, base, offline),
            "control": lambda c: run_control(c, workroot, base),
        }
        for case, tool, _ in jobs:
            first = results[case.name][tool]
            if ENGINE_TROUBLE.search(first.get("why") or ""):
                say(f"{case.name:<18} {tool:<12} engine trouble, not the tool's: building again ({first['why'][:100]})")
                results[case.name][tool] = result = tasks[tool](case)
                result["retried"] = first["why"]
                layers += result.get("layers", [])
                say(
                    f"{case.name:<18} {tool:<12} {'runs' if result['runs'] else 'FAILS'}"
                    + (f" ({result['why']})" if result["why"] else "")
                )
        say("timing inference on a 300-cell notebook")
        timing = run_timing(workroot, offline)
    finally:
        if not args.keep_images:
            removed = remove_bench_images(client, layers)
            say(f"removed {removed} benchmark images")
    (CACHE / "results.json").write_text(json.dumps({"results": results, "timing": timing}, indent=1, default=str))
    report(cases, results, timing, time.monotonic() - t0)
    shutil.rmtree(workroot, ignore_errors=True)
    shutil.rmtree(CACHE / "xdg" / "dockermagic" / "contexts", ignore_errors=True)
    return 0


if __name__ == "__main__":
    if "DMBENCH_STARTED" not in os.environ:
        os.environ["DMBENCH_STARTED"] = str(time.monotonic())
    sys.exit(main())
