"""Parameters, grids and the sweep scheduler (against a fake backend): parallel points, retries,
resume, interrupts, and the result's table."""

import io
import json
import tarfile
import threading
import time

import pytest

from dockermagic import grid, parameters, sweeping
from dockermagic.backends import Exit
from dockermagic.capture import Cell
from dockermagic.errors import DockermagicError, Interrupted, SweepError
from dockermagic.request import RunRequest, SweepRequest
from dockermagic.results import Point, Sweep
from dockermagic.store import unpack


def test_the_parameters_cell_by_tag_or_first_line():
    cells = [
        Cell("cell 1", "import numpy as np"),
        Cell("cell 2", "C = 0.1\nseed: int = 3\nname = 'a'", tags=("parameters",)),
    ]
    found = parameters.find(cells)
    assert found.cell == "cell 2" and found.defaults == {"C": "0.1", "seed": "3", "name": "'a'"}
    assert parameters.find([Cell("cell 4", "# Parameters\nepochs = 5")]).defaults == {"epochs": "5"}
    assert parameters.find([Cell("cell 1", "x = 1")]) is None
    label = found.to_label()
    assert parameters.Parameters.from_label(label) == found


def test_parameter_values_and_names_are_checked():
    assert parameters.parse(["C=0.1", "name=run a", "layers=[1, 2]", "flag=True"]) == {
        "C": 0.1,
        "name": "run a",
        "layers": [1, 2],
        "flag": True,
    }
    with pytest.raises(DockermagicError, match="write NAME=VALUE"):
        parameters.parse(["C"])
    defaults = parameters.Parameters("cell 2", {"C": "0.1", "seed": "3"})
    with pytest.raises(DockermagicError, match=r"--param lr: the parameters cell \(cell 2\) assigns C, seed"):
        parameters.check({"lr": 1}, defaults, "img")
    with pytest.raises(DockermagicError, match="has no parameters cell"):
        parameters.check({"lr": 1}, None, "img")
    assert json.loads(parameters.encode({"C": 0.5, "name": "x"})) == {"C": "0.5", "name": "'x'"}
    assert RunRequest.from_options(params=["C=1"]).params == {"C": 1}


def test_grids_points_and_names():
    g = grid.parse_grid(["C=0.01,0.1", "seed=1,2"])
    assert grid.points(g) == [
        {"C": 0.01, "seed": 1},
        {"C": 0.01, "seed": 2},
        {"C": 0.1, "seed": 1},
        {"C": 0.1, "seed": 2},
    ]
    assert grid.point_name({"C": 0.1, "seed": 2}) == "C-0.1_seed-2"
    assert len({grid.point_name({"path": f"a/b/{i}"}) for i in range(3)}) == 3
    for bad in (["C"], ["C="], ["1x=2"]):
        with pytest.raises(DockermagicError):
            grid.parse_grid(bad)
    with pytest.raises(DockermagicError, match="the grid is empty"):
        SweepRequest.from_options(grid=[])


def test_a_grid_file(tmp_path):
    listed = tmp_path / "points.yaml"
    listed.write_text("- {C: 0.1, seed: 1}\n- {C: 1, seed: 2}\n")
    assert SweepRequest.from_options(grid_file=str(listed)).points == ({"C": 0.1, "seed": 1}, {"C": 1, "seed": 2})
    product = tmp_path / "grid.yaml"
    product.write_text("C: [0.1, 1]\nseed: 3\n")
    assert len(SweepRequest.from_options(grid_file=str(product)).points) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("C: [0.1\n")
    with pytest.raises(DockermagicError, match="is not valid YAML"):
        SweepRequest.from_options(grid_file=str(broken))


def test_the_table_and_the_plot_axes(tmp_path):
    points = [
        Point(
            values={"C": c, "seed": 1},
            folder=tmp_path / f"C-{c}",
            status="done",
            exit_code=0,
            attempts=1,
            node="n1",
            duration=1.0,
            records={"auc": 0.5 + c / 10},
        )
        for c in (0.1, 1.0, 10.0)
    ]
    result = Sweep(name="s", image="img:latest", folder=tmp_path, points=points)
    rows = result.rows()
    assert list(rows[0]) == ["C", "seed", "status", "exit_code", "duration", "attempts", "node", "outputs", "auc"]
    assert result.plot_axes() == ("C", "auc")
    assert list(result.table.columns)[-1] == "auc"
    assert "<img" in result._repr_html_()


def test_the_store_unpacks_only_regular_files_inside(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("records.json", b"{}"), ("../evil", b"x"), ("/abs", b"x"), ("figures/f.png", b"png")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    written = unpack(buffer.getvalue(), tmp_path / "out")
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["out/figures/f.png", "out/records.json"]


class FakeBackend:
    """Runs points by their values: ``fail`` times out... ``fails`` attempts fail first."""

    name = "local"
    supports_retries = False

    def __init__(self, fails=None, hang=False):
        self.fails = dict(fails or {})
        self.hang = hang
        self.started, self.removed, self.running, self.peak = [], [], 0, 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.caches, self.dropped = [], []

    def shared_cache(self, name, labels):
        self.caches.append(name)
        return name

    def drop_cache(self, name):
        self.dropped.append(name)

    def capacity(self):
        return 2

    def has_image(self, ref):
        return True

    def labels(self, ref):
        return {"org.dockermagic.parameters": json.dumps({"cell": "cell 1", "defaults": {"C": "1", "seed": "0"}})}

    def start(self, spec):
        values = json.loads(spec.env["DOCKERMAGIC_PARAMETERS"])
        with self.lock:
            self.started.append(spec.name)
            self.threads = spec.env.get("OMP_NUM_THREADS")
            self.running += 1
            self.peak = max(self.peak, self.running)
        return {"name": spec.name, "values": values}

    def follow(self, task, on_text, timeout=None):
        if self.hang:
            self.stop_event.wait(10)
        time.sleep(0.05)
        key = task["values"]["C"]
        with self.lock:
            self.running -= 1
            failing = self.fails.get(key, 0) > 0
            if failing:
                self.fails[key] -= 1
        return Exit(1, False, "boom\n", "ValueError: boom\n") if failing else Exit(0, False, "ok\n", "")

    def stop(self, task):
        self.stop_event.set()

    def collect(self, task, dest):
        (dest / "records.json").write_text(json.dumps({"auc": float(task["values"]["C"])}))
        return [dest / "records.json"]

    def remove(self, task):
        self.removed.append(task["name"])

    def node(self, task):
        return "node-1"


def _sweep(tmp_path, backend, monkeypatch, **options):
    monkeypatch.setattr(sweeping, "backend_for", lambda request, client: (backend, 1))
    monkeypatch.setattr(sweeping.engine, "local_image", lambda client, ref: None)
    request = SweepRequest.from_options(image="img", outputs=tmp_path, name="s", **options)
    return sweeping.sweep(request, client=object())


def test_points_run_in_parallel_and_retry(tmp_path, monkeypatch):
    backend = FakeBackend(fails={"0.1": 1})
    result = _sweep(tmp_path, backend, monkeypatch, grid=["C=0.1,1,10,100", "seed=1"], parallel=2, retries=1)
    assert backend.peak == 2 and len(backend.removed) == len(backend.started) == 5
    assert len(backend.caches) == 1 and backend.dropped == backend.caches  # one bytecode volume, removed
    assert backend.threads == "1"  # 2 cores, 2 points at once
    by_c = {p.values["C"]: p for p in result.points}
    assert by_c[0.1].attempts == 2 and by_c[0.1].status == "done" and by_c[1].attempts == 1
    assert [r["auc"] for r in result.rows()] == [0.1, 1.0, 10.0, 100.0]


def test_a_point_that_still_fails_is_named_and_the_rest_resume(tmp_path, monkeypatch):
    with pytest.raises(SweepError, match=r"1 of 2 points failed after their retries: C-0.1_seed-1") as info:
        _sweep(tmp_path, FakeBackend(fails={"0.1": 5}), monkeypatch, grid=["C=0.1,1", "seed=1"], retries=1)
    assert info.value.sweep.points[1].status == "done"
    again = FakeBackend()
    result = _sweep(tmp_path, again, monkeypatch, grid=["C=0.1,1", "seed=1"], resume=True)
    assert [p.status for p in result.points] == ["done", "skipped"] and len(again.started) == 1


def test_an_unknown_grid_name_is_refused_before_anything_starts(tmp_path, monkeypatch):
    backend = FakeBackend()
    with pytest.raises(DockermagicError, match="the parameters cell .cell 1. assigns C, seed"):
        _sweep(tmp_path, backend, monkeypatch, grid=["lr=0.1"])
    assert backend.started == []


def test_an_interrupt_stops_every_task_and_keeps_finished_points(tmp_path, monkeypatch):
    backend = FakeBackend(hang=True)
    monkeypatch.setattr(sweeping, "REFRESH_SECONDS", 0.1)
    original = sweeping.wait

    def interrupting_wait(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(sweeping, "wait", interrupting_wait)
    with pytest.raises(Interrupted, match="stopped every task it started"):
        _sweep(tmp_path, backend, monkeypatch, grid=["C=1,2", "seed=1"], parallel=2)
    assert backend.stop_event.is_set() and sorted(backend.removed) == sorted(backend.started)


def test_points_at_once_share_the_cores_between_their_thread_pools():
    from dockermagic.sweeping import thread_env

    assert thread_env(8, 4, None, {})["OMP_NUM_THREADS"] == "2"
    assert thread_env(2, 4, None, {})["OPENBLAS_NUM_THREADS"] == "1"
    assert thread_env(8, 2, 1.5, {})["MKL_NUM_THREADS"] == "2"  # --cpus decides
    assert "OMP_NUM_THREADS" not in thread_env(8, 2, None, {"OMP_NUM_THREADS": "8"})  # the user's value wins
