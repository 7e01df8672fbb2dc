#!/usr/bin/env python3
"""Build benchmark (issue 5): dockermagic against the naive Dockerfile, in one run.

    python benchmarks/build_bench.py [--repeat N] [--wait-for-idle SECONDS] [--unrelated-gib G] [--keep]

Exit status 0 when every target of the issue is met, 1 otherwise. About 4 minutes on an idle
2-core machine with --repeat 1; timings are only meaningful on an idle machine (the table shows
the load average around each cold build).

The same notebook (a temporary copy of ``examples/``) and the same ``requirements.txt`` (the one
dockermagic generates) are built two ways:

* **naive**, the first seed article's Dockerfile::

      FROM python:3.11-slim
      WORKDIR /app
      ENV PIP_CERT=/app/ca.pem        # the CA of this machine's TLS proxy, copied beside the code
      COPY . .
      RUN pip install -r requirements.txt
      CMD ["python", "heart_roc.py"]  # from jupyter nbconvert --to script

* **dockermagic**, through its Python API outside a kernel
  (``dockermagic.dockerize(notebook=..., kernel=KernelContext())``), with ``installer="uv"`` (the default),
  ``installer="uv", precompile=True`` (the bytecode of the program's imports compiled at build
  time: faster starts, slower first build) and ``installer="pip"``, so defaults are chosen on
  numbers.

Measured, all in the same run:

* cold build: ``APIClient.build(..., nocache=True)``, wall clock (context upload included);
* code-only rebuild: one line of the notebook's code changes; naive = ``nbconvert`` + cached
  ``docker build``; dockermagic = the real ``dockerize()`` call (its engine part is reported too);
* image size (``images.get(tag).attrs['Size']``);
* build-context bytes (the exact tar the Docker SDK would send) with and without unrelated files
  (default 1 GiB, sparse) beside the notebook;
* time to import the example's stack in a fresh container of each image (no ``.pyc`` means
  compiling on every start: the images run as a non-root user and cannot cache bytecode;
  dockermagic's final stage writes the bytecode of what the program imports, the naive image
  has what pip compiled at install time).

Targets (issue 5): code-only rebuild <= 5 % of naive, cold build <= 60 % of naive, image no
larger than naive, context size independent of unrelated files.

Everything it creates is removed at the end (images tagged ``dmbuildbench-*`` and the layers and
builder-stage images of its own builds, the unrelated files, the temporary folder), unless
``--keep``. It never writes into the repository. Other processes on the same engine remove
``dmbench-*`` images and dangling builder-stage images, so this one tags every stage image it
makes (``dmbuildbench-keep:*``) the moment it exists and builds again once if a stage vanishes.

The base image is the engine's ``python:3.11-slim`` (here possibly this project's local stand-in,
which, like the official image, has ``pip`` on ``PATH``). dockermagic's builder copies uv from
uv's own image (``ghcr.io/astral-sh/uv:<version>``, as uv's documentation does) when the engine
has it; like the base image, it is pulled once per engine, before timing starts
(``scripts/ensure-engine.sh`` makes a stand-in from the uv wheel where no registry is reachable).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EXAMPLE = REPO / "examples"
NOTEBOOK = "heart_roc.ipynb"
SCRIPT = "heart_roc.py"
BASE = "python:3.11-slim"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PREFIX = "dmbuildbench-"  # not dmbench-*: benchmarks/requirements_bench.py removes every dmbench-* image
BUILDER_LABEL = "org.dockermagic.stage=builder"
STANDIN_LABEL = "org.dockermagic.standin"
CODE_EDIT = ("SEED = 42", "SEED = 7")  # the one-line code change
IMPORT_CHECK = "import pandas, sklearn.linear_model, imblearn.over_sampling, matplotlib.pyplot"

NAIVE_DOCKERFILE = """\
ARG BASE=python:3.11-slim
FROM ${BASE}
WORKDIR /app
ENV PIP_CERT=/app/ca.pem
COPY . .
RUN pip install -r requirements.txt
CMD ["python", "heart_roc.py"]
"""

TARGETS = {"cold": 0.60, "rebuild": 0.05, "size": 1.00}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- measuring helpers


class _Counter:
    """A write-only file object that only counts bytes (for the context tar)."""

    def __init__(self):
        self.n = 0

    def write(self, data):
        self.n += len(data)
        return len(data)

    def tell(self):
        return self.n

    def seek(self, *args):
        return self.n

    def flush(self):
        pass


def context_bytes(folder):
    """Bytes of the tar the Docker SDK sends for ``APIClient.build(path=folder)``."""
    from docker.api.build import process_dockerfile
    from docker.utils import tar

    folder = str(folder)
    exclude = None
    ignore = os.path.join(folder, ".dockerignore")
    if os.path.exists(ignore):  # the same parsing as docker.api.build.BuildApiMixin.build
        with open(ignore) as f:
            exclude = [
                line.strip() for line in f.read().splitlines() if line.strip() and not line.strip().startswith("#")
            ]
    counter = _Counter()
    tar(folder, exclude=exclude, dockerfile=process_dockerfile(None, folder), fileobj=counter)
    return counter.n


def tree_digest(folder):
    """sha256 over every file's relative path and content under ``folder``."""
    from dockermagic.context import folder_digest

    return folder_digest(folder)


class Builds:
    """Builds through the SDK's low-level API, remembering every image id they made."""

    def __init__(self, client):
        self.client = client
        self.api = client.api
        self.made = []  # image ids (stage results and final), in order
        self.tags = set()  # the keep tags
        self.retried = []

    def keep(self, image_id):
        """Tag a stage's image the moment it exists: other processes on this engine remove
        *dangling* builder-stage images (tests/conftest.py's session clean-up), which would
        break this build's ``COPY --from`` and drop the cache the next build needs."""
        if image_id in self.made:
            return
        self.made.append(image_id)
        repo, tag = PREFIX + "keep", image_id.split(":")[-1][:12]
        try:
            self.api.tag(image_id, repo, tag)
            self.tags.add(f"{repo}:{tag}")
        except Exception:  # already gone: the build will say so
            pass

    def progress(self, state):
        """``progress`` callback for ``dockermagic.dockerize``: keep and remember what it made."""
        if state.image_id:
            self.keep(state.image_id)
        for layer in state.new_layers:
            if layer not in self.made:
                self.made.append(layer)

    def build(self, path, tag, nocache, buildargs=None, retry=True):
        """Build and time it. Returns ``(seconds, image id, cached steps, step times)``."""
        from dockermagic import engine

        args = dict(engine.build_args())
        args.update(buildargs or {})
        started = time.monotonic()
        lines, error, ids, steps = [], None, [], []
        for chunk in self.api.build(
            path=str(path),
            tag=tag,
            nocache=nocache,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            buildargs=args or None,
        ):
            if "stream" in chunk:
                lines.append(chunk["stream"])
                if chunk["stream"].startswith("Step "):
                    steps.append([chunk["stream"].split(":", 1)[1].strip()[:60], time.monotonic()])
            if "aux" in chunk and "ID" in chunk["aux"]:
                ids.append(chunk["aux"]["ID"])
                self.keep(chunk["aux"]["ID"])
            if "error" in chunk:
                error = chunk["error"]
        ended = time.monotonic()
        seconds = ended - started
        if error and retry and "No such image" in error and "from" in error:
            # another process removed this build's (dangling) builder-stage image mid-build
            log(f"  {tag}: builder-stage image removed by another process mid-build; building again")
            self.retried.append(tag)
            return self.build(path, tag, nocache, buildargs, retry=False)
        if error or not ids:
            tail = "".join(lines)[-3000:]
            raise SystemExit(f"build of {tag} failed: {error}\n--- log tail ---\n{tail}")
        cached = "".join(lines).count("Using cache")
        timed = [(text, (steps[i + 1][1] if i + 1 < len(steps) else ended) - t0) for i, (text, t0) in enumerate(steps)]
        return seconds, ids[-1], cached, timed


# ---------------------------------------------------------------- the benchmark


def dockerize_retrying(builds, **kwargs):
    """``dockermagic.dockerize`` (a real build), again once if another process removed the
    dangling builder-stage image mid-build (the tests' session clean-up does that)."""
    import dockermagic
    from dockermagic.errors import BuildError

    try:
        return dockermagic.dockerize(**kwargs)
    except BuildError as exc:
        if "No such image" not in str(exc):
            raise
        log(f"  dockerize(): builder-stage image removed by another process mid-build; again ({exc})")
        builds.retried.append(kwargs.get("tag"))
        return dockermagic.dockerize(**kwargs)


def nbconvert(project):
    """``jupyter nbconvert --to script``; returns its wall time."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "script", "--log-level", "ERROR", str(project / NOTEBOOK)],
        check=True,
    )
    # the example's metadata has no language_info.file_extension, so nbconvert writes .txt
    txt = (project / SCRIPT).with_suffix(".txt")
    if txt.exists():
        txt.replace(project / SCRIPT)
    return time.monotonic() - started


def edit_notebook(path, old, new):
    nb = json.loads(path.read_text())
    done = False
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if old in src and not done:
            cell["source"] = src.replace(old, new, 1)
            done = True
    if not done:
        raise SystemExit(f"cannot find {old!r} in {path}")
    path.write_text(json.dumps(nb, indent=1))


def import_seconds(client, tag):
    """Wall time of importing the example's stack in a fresh container of ``tag``."""
    started = time.monotonic()
    container = client.containers.run(
        tag, ["python", "-c", IMPORT_CHECK], detach=True, labels={"org.dockermagic.bench": "1"}
    )
    try:
        code = container.wait().get("StatusCode")
        if code != 0:
            raise SystemExit(f"import check failed in {tag}: {container.logs().decode()[-800:]}")
    finally:
        container.remove(force=True)
    return time.monotonic() - started


def make_unrelated(folder, gib):
    """``gib`` GiB of sparse files that the program never names (raw dumps, old exports)."""
    folder.mkdir(parents=True)
    total = int(gib * 2**30)
    parts = 4
    for i in range(parts):
        with open(folder / f"raw_dump_{i}.bin", "wb") as f:
            f.truncate(total // parts)
    (folder / "notes.txt").write_text("scratch files unrelated to the notebook\n")
    return sum(p.stat().st_size for p in folder.iterdir())


def fmt_s(x):
    return f"{x:.1f} s" if x >= 10 else f"{x:.2f} s"


def fmt_mb(x):
    return f"{x / 1e6:.0f} MB"


def fmt_bytes(x):
    if x >= 1e8:
        return f"{x / 2**30:.2f} GiB"
    if x >= 1e5:
        return f"{x / 1e6:.2f} MB"
    return f"{x / 1e3:.1f} kB"


def median(values):
    return statistics.median(values)


def run(args):
    import dockermagic
    from dockermagic import engine
    from dockermagic.request import KernelContext

    t_start = time.monotonic()
    client = engine.connect()
    if engine.local_image(client, BASE) is None:
        raise SystemExit(f"{BASE} is not on the engine: run scripts/ensure-engine.sh first")
    before = set(client.api.images(all=True, quiet=True))  # low-level: no per-image inspect races
    tmp = Path(tempfile.mkdtemp(prefix="dmbuildbench-"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg-cache")  # dockermagic's cache, contexts included
    builds = Builds(client)
    created_tags = set()
    results = {}
    notes = []
    try:
        # ------------------------------------------------------------ setup (not timed)
        project = tmp / "project"
        shutil.copytree(
            EXAMPLE,
            project,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "dockermagic-outputs", "metrics.csv"),
        )
        nb_path = project / NOTEBOOK
        labels = client.images.get(BASE).attrs["Config"].get("Labels") or {}
        if labels.get(STANDIN_LABEL):
            if not labels.get(STANDIN_LABEL + ".layout"):
                raise SystemExit(f"{BASE} is an old local stand-in without pip: run scripts/ensure-engine.sh")
            notes.append(
                f"{BASE} is this machine's local stand-in (no registry reachable): Debian bookworm "
                "with the kernel's CPython and pip, no .pyc files, as in the official image"
            )
        from dockermagic.dockerfile import UV_IMAGE

        uv_image = engine.local_image(client, UV_IMAGE)
        if uv_image is None:
            notes.append(f"{UV_IMAGE} is not on the engine: dockermagic's builder installs uv with pip")
        elif (uv_image.attrs["Config"].get("Labels") or {}).get(STANDIN_LABEL):
            notes.append(
                f"{UV_IMAGE} is this machine's local stand-in (the uv wheel's binaries), present "
                "before timing starts like the base image"
            )
        naive_args = {}
        log("warming dockermagic's per-environment kernel baseline (cached once per environment)")
        dockermagic.dockerize(notebook=str(nb_path), dry_run=True, kernel=KernelContext())

        # ------------------------------------------------------------ export both ways
        contexts = {}
        prepare = {}
        for variant in ("uv", "uv-precompile", "pip"):
            started = time.monotonic()
            img = dockermagic.dockerize(
                notebook=str(nb_path),
                tag=f"{PREFIX}dm-{variant}",
                installer=variant.split("-")[0],
                precompile=variant.endswith("precompile"),
                kernel=KernelContext(),
                context=str(tmp / f"ctx-{variant}"),
            )
            prepare[variant] = time.monotonic() - started
            contexts[variant] = Path(img.context)
        requirements = (contexts["uv"] / "requirements.txt").read_text()
        n_reqs = len([line for line in requirements.splitlines() if line.strip()])
        shutil.copy(contexts["uv"] / "requirements.txt", project / "requirements.txt")
        shutil.copy(HOST_CA, project / "ca.pem")
        (project / "Dockerfile").write_text(NAIVE_DOCKERFILE)
        prepare["naive"] = nbconvert(project)
        log(
            f"requirements: {n_reqs} pinned lines; dockermagic prepare {prepare['uv']:.2f} s, "
            f"naive nbconvert {prepare['naive']:.2f} s"
        )

        # ------------------------------------------------------------ cold builds
        deadline = time.monotonic() + args.wait_for_idle
        while os.getloadavg()[0] >= 1.5 and time.monotonic() < deadline:
            time.sleep(5)
        if args.wait_for_idle:
            log(f"load average {os.getloadavg()[0]:.1f} at the start of the timed builds")
        order = ["naive", "uv", "uv-precompile", "pip"]
        # dockermagic's default (uv) goes last in every round: nocache builds make parallel copies
        # of the builder's first steps (LABEL, ENV); seen here: the classic builder's cache lookup
        # then follows the newest copy, so the default's chain must be the newest for the rebuild
        # below to find its requirements layer.
        others = ["naive", "uv-precompile", "pip"]
        cold = {k: [] for k in order}
        step_times, loads, cold_ids, sizes = {}, [], {}, {}
        for rep in range(args.repeat):
            seq = (others if rep % 2 == 0 else list(reversed(others))) + ["uv"]
            for variant in seq:
                tag = f"{PREFIX}{'naive' if variant == 'naive' else 'dm-' + variant}:cold"
                path = project if variant == "naive" else contexts[variant]
                log(f"cold build {rep + 1}/{args.repeat}: {variant}")
                load0 = os.getloadavg()[0]
                seconds, image_id, _, timed = builds.build(
                    path, tag, nocache=True, buildargs=naive_args if variant == "naive" else None
                )
                created_tags.add(tag)
                cold[variant].append(seconds)
                cold_ids[variant] = image_id
                sizes[variant] = client.images.get(image_id).attrs["Size"]
                step_times.setdefault(variant, timed)
                loads.append((load0, os.getloadavg()[0]))
                log(f"  {variant}: {seconds:.1f} s (load average {load0:.1f} -> {os.getloadavg()[0]:.1f})")

        # import time in a fresh container (bytecode or not)
        imports = {}
        for variant in order:
            imports[variant] = import_seconds(client, cold_ids[variant])
        log("import times: " + ", ".join(f"{k} {v:.2f} s" for k, v in imports.items()))

        # ------------------------------------------------------------ code-only rebuild
        # As a user has it: the last %dockerize of this notebook (same code) built the image.
        # Not timed. Then the edit, and dockermagic's rebuild at once (other processes on this
        # engine remove images; the naive rebuild reinstalls everything anyway).
        log("dockermagic: first dockerize() of the notebook (fills its own cache path; not timed)")
        first = dockerize_retrying(
            builds,
            notebook=str(nb_path),
            tag=PREFIX + "dm-uv:latest",
            kernel=KernelContext(),
            on_progress=builds.progress,
        )
        created_tags.add(PREFIX + "dm-uv:latest")
        if first.cached_steps is not None:
            log(f"  {first.build_seconds:.2f} s, cached steps {first.cached_steps}")
        edit_notebook(nb_path, *CODE_EDIT)
        log(f"notebook edited: {CODE_EDIT[0]!r} -> {CODE_EDIT[1]!r}")
        # dockermagic: the real API call
        started = time.monotonic()
        img = dockerize_retrying(
            builds,
            notebook=str(nb_path),
            tag=PREFIX + "dm-uv:latest",
            kernel=KernelContext(),
            on_progress=builds.progress,
        )
        dm_total = time.monotonic() - started
        dm_build = img.engine_seconds if img.engine_seconds is not None else img.build_seconds
        if (Path(img.context) / "requirements.txt").read_text() != requirements:
            notes.append("WARNING: the rebuild's requirements.txt differs from the cold build's")
        program = (Path(img.context) / "app" / "program.py").read_text()
        assert CODE_EDIT[1] in program, "the rebuilt program lacks the edit"
        log(
            f"dockermagic rebuild: dockerize() {dm_total:.2f} s, engine part {dm_build:.2f} s, "
            f"cached steps {img.cached_steps}"
        )
        from dockermagic.progress import dockerfile_steps

        install_step = next(
            i + 1
            for i, text in enumerate(dockerfile_steps(img.dockerfile))
            if "install" in text and text.startswith("RUN")
        )
        if install_step not in (img.cached_steps or []):
            notes.append(
                f"INVALID rebuild measurement: dockermagic's install step ({install_step}) was not "
                "taken from the cache (its layers were removed by another process?)"
            )
        # naive: re-export the script, docker build with the cache
        naive_export = nbconvert(project)
        assert CODE_EDIT[1] in (project / SCRIPT).read_text()
        naive_build, _, naive_cached, _ = builds.build(
            project, PREFIX + "naive:latest", nocache=False, buildargs=naive_args
        )
        created_tags.add(PREFIX + "naive:latest")
        log(f"naive rebuild: export {naive_export:.2f} s + build {naive_build:.1f} s (cached steps {naive_cached})")
        results["rebuild"] = dict(
            naive_build=naive_build, naive_total=naive_export + naive_build, dm_build=dm_build, dm_total=dm_total
        )

        # ------------------------------------------------------------ build context bytes
        ctx = {"naive": [context_bytes(project)]}
        log(f"writing {args.unrelated_gib} GiB of unrelated files beside the notebook")
        unrelated = make_unrelated(project / "scratch", args.unrelated_gib)
        started = time.monotonic()
        ctx["naive"].append(context_bytes(project))
        naive_tar_seconds = time.monotonic() - started
        img = dockermagic.dockerize(notebook=str(nb_path), kernel=KernelContext(), context=str(tmp / "ctx-unrelated"))
        shutil.rmtree(project / "scratch")  # the 1 GiB goes as soon as it is measured
        # the same (edited) notebook without the unrelated files
        img0 = dockermagic.dockerize(notebook=str(nb_path), kernel=KernelContext(), context=str(tmp / "ctx-plain"))
        ctx["dm"] = [context_bytes(img0.context), context_bytes(img.context)]
        dm_digest = [tree_digest(Path(c) / "app") for c in (img0.context, img.context)]
        log(
            f"context bytes naive {ctx['naive']}, dockermagic {ctx['dm']} "
            f"(naive tar of the folder took {naive_tar_seconds:.1f} s)"
        )

        # ------------------------------------------------------------ the table
        cm = {k: median(v) for k, v in cold.items()}
        rb = results["rebuild"]

        def ratio_row(name, naive, values, target, fmt, lower_is=True):
            cells = [f"{name:<34}", f"{fmt(naive):>10}"]
            verdicts = []
            for v in values:
                if v is None:
                    cells.append(f"{'':>22}")
                    continue
                r = v / naive if naive else float("inf")
                ok = r <= target if target is not None else None
                mark = "" if ok is None else (" PASS" if ok else " FAIL")
                cells.append(f"{fmt(v):>10} {r:5.2f}{mark:<5}")
                verdicts.append(ok)
            cells.append(f"  {'<= ' + format(target, '.2f') if target is not None else '':>7}")
            print(" ".join(cells))
            return verdicts

        cols = ["uv (default)", "uv --precompile", "pip"]
        print()
        print(
            f"dockermagic vs naive Dockerfile, {NOTEBOOK} ({n_reqs} pinned requirements), "
            f"cold builds: median of {args.repeat}; ratio = dockermagic / naive"
        )
        print(f"{'':<34} {'naive':>10} " + " ".join(f"{c:>22}" for c in cols) + f"  {'target':>7}")
        print(f"{'':<34} {'':>10} " + " ".join(f"{'value  ratio':>22}" for _ in cols))
        v = {}
        v["cold"] = ratio_row(
            "cold build (no cache)", cm["naive"], [cm["uv"], cm["uv-precompile"], cm["pip"]], TARGETS["cold"], fmt_s
        )
        ratio_row(
            "cold, incl. export",
            cm["naive"] + prepare["naive"],
            [cm[k] + prepare[k] for k in ("uv", "uv-precompile", "pip")],
            TARGETS["cold"],
            fmt_s,
        )
        v["rebuild"] = ratio_row(
            "code-only rebuild (engine build)",
            rb["naive_build"],
            [rb["dm_build"], None, None],
            TARGETS["rebuild"],
            fmt_s,
        )
        v["rebuild_total"] = ratio_row(
            "code-only rebuild (whole call)", rb["naive_total"], [rb["dm_total"], None, None], TARGETS["rebuild"], fmt_s
        )
        v["size"] = ratio_row(
            "image size", sizes["naive"], [sizes["uv"], sizes["uv-precompile"], sizes["pip"]], TARGETS["size"], fmt_mb
        )
        ratio_row(
            "import stack in fresh container",
            imports["naive"],
            [imports["uv"], imports["uv-precompile"], imports["pip"]],
            None,
            fmt_s,
        )
        ratio_row("context bytes, notebook folder", ctx["naive"][0], [ctx["dm"][0], None, None], None, fmt_bytes)
        ratio_row(
            f"context bytes, +{fmt_bytes(unrelated)} unrelated",
            ctx["naive"][1],
            [ctx["dm"][1], None, None],
            None,
            fmt_bytes,
        )
        independent = ctx["dm"][0] == ctx["dm"][1] and dm_digest[0] == dm_digest[1]
        print(
            f"{'context independent of unrelated':<34} naive +{ctx['naive'][1] - ctx['naive'][0]} B; "
            f"dockermagic +{ctx['dm'][1] - ctx['dm'][0]} B, app/ digest "
            f"{'same' if dm_digest[0] == dm_digest[1] else 'DIFFERENT'}  "
            f"{'PASS' if independent else 'FAIL'}"
        )
        print()
        if args.repeat > 1:
            print(
                "cold builds, every run: " + "; ".join(f"{k} " + ", ".join(f"{s:.1f}" for s in cold[k]) for k in order)
            )
        print(
            "prepare (capture + requirements + context / nbconvert): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in prepare.items())
        )
        faster = cm["pip"] / cm["uv"] if cm["uv"] else 0
        print(
            f"uv vs pip, dockermagic cold build: uv {cm['uv']:.1f} s, pip {cm['pip']:.1f} s (uv {faster:.2f}x faster)"
        )
        for variant in order:
            top = sorted(step_times[variant], key=lambda st: -st[1])[:2]
            print(f"slowest steps, cold {variant}: " + "; ".join(f"{t:.1f} s {text}" for text, t in top))
        print("load average (1 min) before/after each cold build: " + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in loads))
        if builds.retried:
            notes.append(
                "built again after another process removed a builder-stage image mid-build: "
                + ", ".join(map(str, builds.retried))
            )
        for note in notes:
            print("note: " + note)
        verdict_targets = {
            "cold build <= 60% of naive (uv default)": v["cold"][0],
            "code-only rebuild <= 5% of naive (engine build)": v["rebuild"][0],
            "image no larger than naive (uv default)": v["size"][0],
            "context size independent of unrelated files": independent,
        }
        print("targets: " + "; ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in verdict_targets.items()))
        print(f"total benchmark time: {time.monotonic() - t_start:.0f} s")
        return 0 if all(verdict_targets.values()) else 1
    finally:
        if args.keep:
            log(f"--keep: left {tmp} and images {sorted(created_tags)}")
        else:
            cleanup(client, before, builds.made, created_tags | builds.tags, tmp)


def cleanup(client, before, made, tags, tmp):
    """Remove what this run created: the tags it made (``dmbuildbench-*``), the images its own builds made
    (builder stages included; dockermagic's calls report theirs through ``progress``), and the
    temporary folder (unrelated files included). Nothing that existed before the run is touched."""
    from docker.errors import APIError, NotFound

    # containers of the import check are removed as they finish; any left by an interrupt:
    for c in client.containers.list(all=True, filters={"label": "org.dockermagic.bench=1"}):
        c.remove(force=True)
    doomed = []
    for image in client.api.images():
        mine = [t for t in image.get("RepoTags") or () if t in tags]
        if mine and image["Id"] not in before:
            doomed.append(image["Id"])
        elif mine:  # an image that was there before (uv's image as a stage): only the tag goes
            for ref in mine:
                client.api.remove_image(ref, noprune=True)
    for ref in reversed(made):  # final and builder-stage images of this run's own builds
        try:
            full = client.api.inspect_image(ref)["Id"]
        except (APIError, NotFound):
            continue
        if full not in before:
            doomed.append(full)
    removed = 0
    for image_id in dict.fromkeys(doomed):
        try:
            client.api.remove_image(image_id, force=True, noprune=False)
            removed += 1
        except NotFound:
            pass
        except APIError as exc:
            log(f"could not remove {image_id[:19]}: {exc.explanation}")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"cleaned up: {removed} images, {tmp}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="cold builds per variant (median shown)")
    parser.add_argument(
        "--unrelated-gib", type=float, default=1.0, help="size of the unrelated files beside the notebook (GiB)"
    )
    parser.add_argument(
        "--wait-for-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before the timed builds, wait up to this long for the 1-minute load "
        "average to drop below 1.5 (other builds on the engine skew timings)",
    )
    parser.add_argument("--keep", action="store_true", help="keep images and the temporary folder")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
