"""Sweeps against one run at a time: the example notebook run 12 times, measured in one run.

    python benchmarks/sweep_bench.py [--points 12] [--no-swarm]

1. The example (examples/heart_roc.ipynb: parameters SEED and TEST_SIZE) is built once, with
   the default options (no bytecode compiled at build time).
2. Baseline: 12 ``dockermagic.run(image, params=...)`` one after the other.
3. The same 12 points as ``dockermagic.sweep(..., parallel=K)`` for K = 1, 2 and 4.
4. The same sweep on a 3-node Docker Swarm (tests/cluster.py: engines in network namespaces,
   a registry and an S3 store), unless ``--no-swarm``.

Printed: wall times; per-point overhead (container start until the program's first line, and
its end until the outputs are on the host); parallel efficiency T(1) / (K x T(K)); and the
program's own time in a fresh container with cold bytecode (each run pays the compilation of
pandas, scikit-learn, matplotlib...) against a sweep's warm starts (the points share one
bytecode cache, filled by the first), next to the naive image's (bytecode written at build
time, as a pip-installed image has it). Targets: overhead under 1 s; efficiency at least 0.8
up to the machine's cores; a sweep's warm start no slower than the naive image's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TAG = "dmbench-sweep"


def log(message: str) -> None:
    print(f"[sweep_bench] {message}", file=sys.stderr, flush=True)


def grid(points: int) -> dict:
    seeds = list(range(1, points // 2 + 1))
    return {"SEED": seeds, "TEST_SIZE": [0.2, 0.3]}


def build(folder: Path, tag: str, **options):
    import dockermagic
    from dockermagic.request import KernelContext

    return dockermagic.dockerize(str(folder / "heart_roc.ipynb"), tag, kernel=KernelContext(), **options)


def import_seconds(image: str, volume: str = "") -> float:
    """The program's own start in a fresh container: importing the example's stack; with
    ``volume``, the bytecode cache a sweep's points share (as sweeping mounts it)."""
    import docker

    from dockermagic.layout import CACHE_DIR

    client = docker.from_env(version="auto")
    code = (
        "import time; t = time.perf_counter(); import pandas, sklearn.linear_model, imblearn, "
        "matplotlib.pyplot; print(time.perf_counter() - t)"
    )
    options = {}
    if volume:
        options = {
            "volumes": {volume: {"bind": CACHE_DIR, "mode": "rw"}},
            "environment": {"PYTHONPYCACHEPREFIX": f"{CACHE_DIR}/pycache", "PYTHONDONTWRITEBYTECODE": ""},
        }
    out = client.containers.run(
        image, ["python", "-c", code], remove=True, labels={"org.dockermagic.version": "bench"}, **options
    )
    return float(out.decode().strip().splitlines()[-1])


def warm_import_seconds(image: str) -> float:
    """A start after another container of the same sweep filled the shared bytecode cache."""
    import docker

    client = docker.from_env(version="auto")
    volume = client.volumes.create(name=f"{TAG}-pycache", labels={"org.dockermagic.version": "bench"}).name
    try:
        import_seconds(image, volume)  # the first point compiles
        return statistics.median(import_seconds(image, volume) for _ in range(3))
    finally:
        client.volumes.get(volume).remove(force=True)


def sequential(image: str, points: list, outputs: Path) -> dict:
    import dockermagic

    started = time.monotonic()
    runs = [dockermagic.run(image, params=p, outputs=str(outputs / f"seq-{i}")) for i, p in enumerate(points)]
    wall = time.monotonic() - started
    program = [r.timings["program"] for r in runs]
    return {"wall": wall, "program": statistics.median(program)}


def overhead(image: str, outputs: Path, repeat: int = 5) -> float:
    """dockermagic's own part of a point: creating and starting the container until the
    program's first line, and from its end until the outputs are on the host. Measured with a
    program whose first line is its first statement (the example's first line comes only after
    its imports, which are the program's time, cold or warm)."""
    import dockermagic

    runs = [
        dockermagic.run(image, ["python", "-c", "print('first line')"], outputs=str(outputs / f"trivial-{i}"))
        for i in range(repeat)
    ]
    return statistics.median(r.timings["start"] + (r.timings["first_output"] or 0) + r.timings["collect"] for r in runs)


def swept(image: str, points: list, parallel: int, outputs: Path, **options) -> dict:
    import dockermagic

    started = time.monotonic()
    result = dockermagic.sweep(
        image,
        parallel=parallel,
        outputs=str(outputs),
        name=f"k{parallel}-{int(started)}",
        **options,
        **_points(points),
    )
    wall = time.monotonic() - started
    durations = [p.duration for p in result.points if p.duration]
    nodes = sorted({p.node for p in result.points if p.node})
    return {"wall": wall, "point": statistics.median(durations), "nodes": nodes, "done": len(result.points)}


def _points(points: list) -> dict:
    """The points as a grid the API takes (the benchmark's points are a product)."""
    names = list(points[0])
    return {"grid": {n: sorted({p[n] for p in points}) for n in names}}


def swarm_sweep(points: list, outputs: Path) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from cluster import Cluster

    with Cluster(engines=3) as cluster:
        env = {"DOCKER_HOST": cluster.manager_host, **cluster.aws_env}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            image = f"{cluster.registry}/{TAG}:swarm"
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "examples"
                shutil.copytree(REPO / "examples", folder, ignore=shutil.ignore_patterns("dockermagic-outputs"))
                build(folder, image, push=image)
            return swept(image, points, len(cluster.nodes), outputs, store=f"s3://{cluster.s3_bucket}/bench")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=12)
    parser.add_argument("--no-swarm", action="store_true")
    args = parser.parse_args(argv)
    subprocess.run(["bash", str(REPO / "scripts" / "ensure-engine.sh")], check=True)
    cores = os.cpu_count() or 1
    g = grid(args.points)
    points = [{"SEED": s, "TEST_SIZE": t} for s in g["SEED"] for t in g["TEST_SIZE"]]
    import docker

    before = {i["Id"] for i in docker.from_env(version="auto").api.images(all=True)}
    work = Path(tempfile.mkdtemp(prefix="dmbench-sweep-"))
    folder = work / "examples"
    shutil.copytree(REPO / "examples", folder, ignore=shutil.ignore_patterns("dockermagic-outputs"))
    figures = {}
    try:
        log("building the example (default options)")
        image = build(folder, TAG).tag
        compiled = build(folder, f"{TAG}-compiled", precompile=True).tag
        log("cold and warm starts")
        figures["import_cold"] = statistics.median(import_seconds(image) for _ in range(3))
        figures["import_compiled"] = statistics.median(import_seconds(compiled) for _ in range(3))
        figures["import_warm"] = warm_import_seconds(image)
        log(f"{len(points)} runs one after the other")
        figures["sequential"] = sequential(image, points, work / "out")
        figures["overhead"] = overhead(image, work / "out")
        for k in (1, 2, 4):
            log(f"a sweep of {len(points)} points, {k} at a time")
            figures[f"k{k}"] = swept(image, points, k, work / "out")
        if not args.no_swarm:
            log("the same sweep on a 3-node Swarm")
            figures["swarm"] = swarm_sweep(points, work / "out")
    finally:
        client = docker.from_env(version="auto")
        for ref in (f"{TAG}:latest", f"{TAG}-compiled:latest"):
            try:
                client.images.remove(ref, force=True)
            except docker.errors.APIError:
                pass
        # the builder stage of the example's builds (the build cache), when this run made it
        for image in client.api.images(filters={"dangling": True, "label": "org.dockermagic.stage=builder"}):
            if image["Id"] not in before:
                try:
                    client.api.remove_image(image["Id"])
                except docker.errors.APIError:
                    pass
        shutil.rmtree(work, ignore_errors=True)
    return report(figures, len(points), cores)


def report(f: dict, n: int, cores: int) -> int:
    seq, k1 = f["sequential"], f["k1"]
    lines = [f"sweep_bench: {n} points of examples/heart_roc.ipynb, this machine has {cores} cores"]
    lines.append(
        f"  {n} runs one after the other   {seq['wall']:7.1f} s   (program {seq['program']:.1f} s each, cold bytecode)"
    )
    verdicts = []
    overhead_ok = f["overhead"] < 1.0
    verdicts.append(overhead_ok)
    lines.append(
        f"  per-point overhead            {f['overhead']:7.2f} s   (container start to the program's first line + "
        f"end to outputs on the host, median of 5) [{'PASS' if overhead_ok else 'FAIL'}: target < 1 s]"
    )
    for k in (1, 2, 4):
        r = f[f"k{k}"]
        efficiency = k1["wall"] / (k * r["wall"])
        target = k <= cores
        ok = efficiency >= 0.8 if target else True
        if target:
            verdicts.append(ok)
        lines.append(
            f"  sweep, {k} at a time           {r['wall']:7.1f} s   point {r['point']:.1f} s, efficiency "
            f"{efficiency:.2f}"
            + (f" [{'PASS' if ok else 'FAIL'}: target >= 0.8]" if target else " (more points at once than cores)")
        )
    cold, compiled, warm = f["import_cold"], f["import_compiled"], f["import_warm"]
    start_ok = warm <= compiled * 1.15 + 0.1
    verdicts.append(start_ok)
    lines.append(
        f"  importing the example's stack in a fresh container: cold {cold:.2f} s (the default image, every "
        f"run); bytecode written at build time (--precompile, as the naive image) {compiled:.2f} s; a sweep's "
        f"point after the first (shared bytecode cache) {warm:.2f} s "
        f"[{'PASS' if start_ok else 'FAIL'}: as fast as bytecode written at build time, without it]"
    )
    if "swarm" in f:
        s = f["swarm"]
        lines.append(
            f"  3-node Swarm, 3 at a time     {s['wall']:7.1f} s   point {s['point']:.1f} s, on nodes "
            f"{', '.join(s['nodes'])}"
        )
    print("\n".join(lines))
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
