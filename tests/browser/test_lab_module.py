"""Unit tests of dockermagic/lab.py, the kernel side of the JupyterLab button (no browser, no engine)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockermagic import lab
from dockermagic.errors import BuildError, EngineUnavailable, RunError
from dockermagic.progress import BuildProgress, RunProgress

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def recorder():
    sent = []

    def send(bundle, display_id, update):
        assert set(bundle) == {lab.MIME_TYPE, "text/plain"}
        json.dumps(bundle[lab.MIME_TYPE])  # must be JSON-able
        sent.append((bundle[lab.MIME_TYPE], display_id, update))

    return sent, send


def test_publisher_updates_one_display_and_throttles_log_only_updates():
    sent, send = recorder()
    clock = FakeClock()
    pub = lab.Publisher(send=send, clock=clock)
    state = BuildProgress.for_dockerfile("t:latest", "FROM python:3.11-slim\nRUN pip install x\nCOPY . /app\n")
    pub.progress(state)                                      # first: display
    state.feed({"stream": "Step 1/3 : FROM python:3.11-slim\n"})
    pub.progress(state)                                      # a step changes state: sent at once
    for i in range(50):                                      # log lines within 0.1 s: held back
        state.feed({"stream": f"line {i}\n"})
        clock.now += 0.002
        pub.progress(state)
    assert len(sent) == 2
    clock.now += 0.3
    pub.progress(state)                                      # enough time passed: sent
    assert len(sent) == 3
    assert sent[0][2] is False and all(update for _, _, update in sent[1:])
    assert len({display_id for _, display_id, _ in sent}) == 1
    assert sent[-1][0]["steps"][0]["state"] == "running"
    pub.finish({"kind": "result", "op": "dockerize", "summary": {}})
    assert sent[-1][0]["kind"] == "result"


def test_publisher_flush_sends_held_back_update():
    sent, send = recorder()
    clock = FakeClock()
    pub = lab.Publisher(send=send, clock=clock)
    pub.publish({"kind": "run", "state": "running", "logs": ["a"]})
    pub.publish({"kind": "run", "state": "running", "logs": ["a", "b"]})
    assert len(sent) == 1
    pub.flush()
    assert sent[-1][0]["logs"] == ["a", "b"]


def test_progress_payload_trims_logs():
    run = RunProgress(name="dm-x")
    run.feed("".join(f"{i}\n" for i in range(1000)))
    payload = lab._progress_payload(run)
    assert payload["kind"] == "run" and len(payload["logs"]) <= lab.MAX_LOG_LINES
    assert lab._progress_payload({"kind": "build", "phase": "build", "steps": [{"n": 1, "log": list(range(100))}]})["steps"][0]["log"][-1] == 99


def test_error_payload_for_a_failed_step():
    exc = BuildError("boom", step="RUN pip install -r requirements.txt", exit_code=1,
                     log_tail=["Collecting nosuchpkg", "ERROR: No matching distribution found for nosuchpkg"])
    payload = lab._error_payload("dockerize", exc)
    assert payload["type"] == "BuildError"
    assert "DockermagicError" in payload["mro"]
    assert payload["step"] == "RUN pip install -r requirements.txt" and payload["exit_code"] == 1
    assert payload["log_tail"][-1].startswith("ERROR: No matching")
    assert "\n" not in payload["message"]


def test_error_payload_for_an_unreachable_engine_and_a_bug():
    payload = lab._error_payload("dockerize", EngineUnavailable("no Docker engine answers at unix:///x.sock"))
    assert payload["type"] == "EngineUnavailable" and payload["log_tail"] == []
    try:
        raise TypeError("oops\nsecond line")
    except TypeError as exc:
        bug = lab._error_payload("run", exc)
    assert bug["message"] == "oops" and any("Traceback" in line for line in bug["log_tail"])


def test_error_payload_for_a_failed_run_keeps_its_logs():
    class FakeRun:
        logs = "starting\nTraceback\nValueError: bad"
    payload = lab._error_payload("run", RunError("x: the program exited with code 1", run=FakeRun()))
    assert payload["log_tail"][-1] == "ValueError: bad"


def test_resolve_notebook(tmp_path):
    nb = tmp_path / "work" / "a b.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    assert lab.resolve_notebook("work/a b.ipynb", cwd=nb.parent, session_name="") == str(nb)
    assert lab.resolve_notebook("work/a b.ipynb", cwd=tmp_path, session_name="") == str(nb)
    assert lab.resolve_notebook("x/work/a b.ipynb", cwd=tmp_path / "elsewhere", session_name=str(nb)) is None
    assert lab.resolve_notebook("work/a b.ipynb", cwd=tmp_path / "elsewhere", session_name=str(nb)) == str(nb)
    assert lab.resolve_notebook("", cwd=tmp_path) is None


def test_packaging_stop_finds_the_notebooks_own_dockerize_cell(tmp_path):
    assert lab.packaging_stop(str(ROOT / "examples" / "heart_roc.ipynb")).strip().startswith("img = %dockerize")
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["x = '%dockerize'\n"]},
        {"cell_type": "markdown", "source": "%dockerize"},
        {"cell_type": "code", "source": "%%dockerize -t app\nserve()"},
    ]}))
    assert lab.packaging_stop(str(nb)) == "%%dockerize -t app\nserve()"
    assert lab.packaging_stop(str(tmp_path / "missing.ipynb")) is None
    assert lab.packaging_stop(None) is None


def test_dockerize_from_lab_reports_a_result(monkeypatch):
    from dockermagic import api

    calls = {}

    class FakeImage:
        tag = "t:latest"

        def to_dict(self):
            return {"tag": "t:latest", "image_id": "sha256:abc", "size": 1, "context": Path("/ctx")}

    def fake_dockerize(notebook=None, tag=None, *, progress=None, current_cell=None, cell=None, **kw):
        calls.update(notebook=notebook, tag=tag, current_cell=current_cell, cell=cell, kw=kw)
        progress(BuildProgress.for_dockerfile(tag, "FROM x\n"))
        return FakeImage()

    monkeypatch.setattr(api, "dockerize", fake_dockerize)
    sent, send = recorder()
    nb = ROOT / "examples" / "heart_roc.ipynb"
    monkeypatch.chdir(nb.parent)
    lab.dockerize_from_lab(json.dumps({"notebook": "examples/heart_roc.ipynb", "tag": "t", "form": "script"}),
                           publisher=lab.Publisher(send=send))
    assert calls["notebook"] == str(nb.resolve()) and calls["tag"] == "t"
    assert calls["current_cell"].startswith("img = %dockerize") and calls["cell"] is None
    assert [p["kind"] for p, _, _ in sent] == ["build", "result"]
    assert sent[-1][0]["summary"]["context"] == "/ctx"
    assert lab.last_tag == "t:latest"


def test_dockerize_from_lab_passes_the_form_and_reports_a_bad_one(monkeypatch):
    from dockermagic import api

    seen = {}

    def fake_dockerize(notebook=None, tag=None, *, progress=None, form="script", **kw):
        from dockermagic.errors import DockermagicError

        seen["form"] = form
        raise DockermagicError(f"unknown program form {form!r}: use one of script, notebook, lab")

    monkeypatch.setattr(api, "dockerize", fake_dockerize)
    sent, send = recorder()
    lab.dockerize_from_lab({"tag": "t", "form": "poster"}, publisher=lab.Publisher(send=send))
    assert seen["form"] == "poster"
    assert sent[-1][0]["kind"] == "error" and "program form" in sent[-1][0]["message"]


def test_run_from_lab_inlines_figures(monkeypatch, tmp_path):
    from dockermagic import api
    from dockermagic.results import Run

    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    png = out / "figures" / "figure-001.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (out / "metrics.csv").write_text("a,b\n")
    seen = {}

    def fake_run(image=None, *, progress=None, **kw):
        seen.update(image=image, kw=kw)
        progress(RunProgress(name="dm-t"))
        return Run(image=image, name="dm-t", exit_code=0, logs="ok", outputs=out,
                   files=[png, out / "metrics.csv"])

    monkeypatch.setattr(api, "run", fake_run)
    sent, send = recorder()
    lab.run_from_lab('{"image": "t:latest", "port": null}', publisher=lab.Publisher(send=send))
    result = sent[-1][0]
    assert result["kind"] == "result" and result["op"] == "run"
    assert result["figures"][0]["name"] == "figure-001.png" and result["figures"][0]["png"]
    assert result["files"] == ["figures/figure-001.png", "metrics.csv"]
    assert seen["kw"] == {}

    lab.run_from_lab({"image": "t:latest", "port": 5000}, publisher=lab.Publisher(send=send))
    assert seen["kw"] == {"ports": ["5000"], "detach": True}


def test_no_engine_is_reported_not_raised(tmp_path):
    """The real API with an engine address nobody answers: an error payload, no exception."""
    code = f"""
import json, os
os.environ["DOCKER_HOST"] = "unix://{tmp_path}/nobody.sock"
from dockermagic import lab
sent = []
pub = lab.Publisher(send=lambda bundle, did, update: sent.append(bundle[lab.MIME_TYPE]))
lab.dockerize_from_lab({{"notebook": "heart_roc.ipynb", "tag": "dmtest-lab-noengine"}}, publisher=pub)
print(json.dumps(sent[-1]))
"""
    env = {"PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    import os
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "examples", capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert payload["kind"] == "error", payload
    assert payload["type"] == "EngineUnavailable", payload
    assert "\n" not in payload["message"]
