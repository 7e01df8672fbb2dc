"""The running stage against a fake run backend: outputs back, the task always removed,
interrupts and failures said in one line."""

import pytest

from dockermagic import session
from dockermagic.backends import Exit
from dockermagic.errors import DockermagicError, Interrupted, PortInUse, RunError
from dockermagic.request import RunRequest
from dockermagic.running import run


class FakeBackend:
    name = "fake"

    def __init__(self, exit=None, interrupt=False, start_error=None, images=("heart:latest",)):
        self.exit = exit or Exit(0, False, "hello\n", "")
        self.interrupt = interrupt
        self.start_error = start_error
        self.images = set(images)
        self.events = []
        self.image_labels = {}

    def has_image(self, ref):
        return ref in self.images

    def labels(self, ref):
        return self.image_labels

    def pull(self, ref, on_chunk):
        self.events.append(("pull", ref))
        on_chunk({"status": "Pulling fs layer", "id": "l1"})
        self.images.add(ref)

    def start(self, spec):
        if self.start_error:
            raise self.start_error
        self.events.append(("start", spec.name, spec.image, spec.labels["org.dockermagic.image"]))
        return spec.name

    def follow(self, task, on_text, timeout=None):
        on_text("line 1\n")
        if self.interrupt:
            raise KeyboardInterrupt
        return self.exit

    def stop(self, task):
        self.events.append(("stop", task))

    def collect(self, task, dest):
        (dest / "figures").mkdir()
        (dest / "figures" / "figure-001.png").write_bytes(b"png")
        self.events.append(("collect", task))
        return [dest / "figures" / "figure-001.png"]

    def remove(self, task):
        self.events.append(("remove", task))

    def node(self, task):
        return "node-1"


def test_a_run_brings_outputs_back_and_removes_its_container(tmp_path):
    backend = FakeBackend()
    states = []
    result = run(
        RunRequest.from_options(image="heart", outputs=tmp_path, name="dm-x"),
        backend=backend,
        on_progress=lambda s: states.append(s.state),
    )
    assert result.exit_code == 0 and result.node == "node-1" and result.outputs.parent == tmp_path
    assert [f.name for f in result.figures] == ["figure-001.png"]
    assert [e[0] for e in backend.events] == ["start", "collect", "remove"]
    assert states[-1] == "exited"


def test_an_image_not_on_the_backend_is_pulled_with_progress(tmp_path):
    backend = FakeBackend(images=())
    pulls = []
    run(
        RunRequest.from_options(image="localhost:5000/heart", outputs=tmp_path),
        backend=backend,
        on_pull_progress=pulls.append,
    )
    assert backend.events[0] == ("pull", "localhost:5000/heart:latest")
    assert pulls[-1].done


def test_a_failing_program_raises_with_its_last_error_line(tmp_path):
    backend = FakeBackend(exit=Exit(1, False, "about to fail\nbad data\n", "bad data\n"))
    with pytest.raises(RunError, match=r"heart:latest: the program exited with code 1: bad data") as info:
        run(RunRequest.from_options(image="heart", outputs=tmp_path), backend=backend)
    assert info.value.run.exit_code == 1 and ("remove", info.value.run.name) in backend.events


def test_an_interrupted_run_is_stopped_keeps_its_outputs_and_is_removed(tmp_path):
    backend = FakeBackend(interrupt=True)
    with pytest.raises(Interrupted, match="was stopped and removed; what it wrote so far is in") as info:
        run(RunRequest.from_options(image="heart", outputs=tmp_path, name="dm-i"), backend=backend)
    assert [e[0] for e in backend.events] == ["start", "stop", "collect", "remove"]
    assert info.value.run.files and "line 1" in info.value.run.logs


def test_start_errors_come_before_the_run_is_announced(tmp_path):
    backend = FakeBackend(start_error=PortInUse("port 8080 is taken"))
    states = []
    with pytest.raises(PortInUse):
        run(RunRequest.from_options(image="heart", outputs=tmp_path), backend=backend, on_progress=states.append)
    assert states == []


def test_no_image_and_nothing_built_yet(monkeypatch):
    monkeypatch.setattr(session, "_last_image", None)
    with pytest.raises(DockermagicError, match="no image to run"):
        run(RunRequest.from_options(), backend=FakeBackend())


def test_a_failure_is_said_in_the_notebooks_terms(tmp_path, monkeypatch):
    logs = "Traceback (most recent call last):\n  File \"/app/program.py\", line 6, in <module>\nKeyError: 'TOKEN'\n"
    backend = FakeBackend(exit=Exit(1, False, logs, "KeyError: 'TOKEN'\n"))
    backend.image_labels = {
        "org.dockermagic.cells": '[[3, "cell 1"], [5, "cell 3"]]',
        "org.dockermagic.env": "TOKEN,OTHER",
    }
    monkeypatch.setenv("TOKEN", "secret-value")
    monkeypatch.delenv("OTHER", raising=False)
    with pytest.raises(RunError) as info:
        run(RunRequest.from_options(image="heart", outputs=tmp_path), backend=backend)
    message = str(info.value)
    assert "KeyError: 'TOKEN'" in message and "pass it with dockermagic.run(env=['TOKEN'])" in message
    assert "secret-value" not in message and "OTHER" not in message
    assert "  cell 3, line 2, in <module>" in info.value.run.logs.splitlines()


def test_figures_are_the_ones_the_program_showed_not_pngs_it_wrote(tmp_path):
    from dockermagic.results import Run

    out = tmp_path / "out"
    files = [
        out / "figures" / "figure-002-cell3.png",
        out / "figures" / "figure-001.png",
        out / "figures" / "pipeline.png",  # the program's own figures/ folder
        out / "project-files" / "reports" / "figures" / "figure-001.png",
        out / "table-001.csv",
    ]
    run = Run(image="x", name="x", exit_code=0, logs="", outputs=out, files=files)
    assert run.figures == [out / "figures" / "figure-001.png", out / "figures" / "figure-002-cell3.png"]
