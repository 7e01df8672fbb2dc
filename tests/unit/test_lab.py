"""The kernel side of the JupyterLab button (dockermagic/lab.py): payloads, throttling, the
notebook it packages; the API is faked."""

import json
from pathlib import Path

from dockermagic import capture, lab, ownlines
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
        assert set(bundle) == {lab.MIME, "text/plain"}
        json.dumps(bundle[lab.MIME])  # must be JSON-able
        sent.append((bundle[lab.MIME], display_id, update))

    return sent, send


def test_publisher_updates_one_display_and_throttles_log_only_updates():
    sent, send = recorder()
    clock = FakeClock()
    pub = lab.Publisher(send=send, clock=clock)
    state = BuildProgress.for_dockerfile("t:latest", "FROM python:3.11-slim\nRUN pip install x\nCOPY . /app\n")
    pub.publish(lab.progress_payload(state))  # first: display
    state.feed({"stream": "Step 1/3 : FROM python:3.11-slim\n"})
    pub.publish(lab.progress_payload(state))  # a step changes state: sent at once
    for i in range(50):  # log lines within 0.1 s: held back
        state.feed({"stream": f"line {i}\n"})
        clock.now += 0.002
        pub.publish(lab.progress_payload(state))
    assert len(sent) == 2
    clock.now += 0.3
    pub.publish(lab.progress_payload(state))  # enough time passed: sent
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
    payload = lab.progress_payload(run)
    assert payload["kind"] == "run" and len(payload["logs"]) <= lab.MAX_LOG_LINES
    assert (
        lab.progress_payload({"kind": "build", "phase": "build", "steps": [{"n": 1, "log": list(range(100))}]})[
            "steps"
        ][0]["log"][-1]
        == 99
    )


def test_error_payload_for_a_failed_step():
    exc = BuildError(
        "boom",
        step="RUN pip install -r requirements.txt",
        exit_code=1,
        log_tail=["Collecting nosuchpkg", "ERROR: No matching distribution found for nosuchpkg"],
    )
    payload = lab.error_payload("dockerize", exc)
    error = payload["error"]
    assert payload["kind"] == "error" and error["kind"] == "build-failed" and error["type"] == "BuildError"
    assert error["step"] == "RUN pip install -r requirements.txt" and error["exit_code"] == 1
    assert error["details"][-1].startswith("ERROR: No matching")
    assert "\n" not in error["message"]


def test_error_payload_for_an_unreachable_engine_and_a_bug():
    payload = lab.error_payload("dockerize", EngineUnavailable("no Docker engine answers at unix:///x.sock"))
    assert payload["error"]["kind"] == "no-engine" and payload["error"]["details"] == []
    try:
        raise TypeError("oops\nsecond line")
    except TypeError as exc:
        bug = lab.error_payload("run", exc)
    assert bug["error"]["kind"] == "internal" and bug["error"]["message"] == "oops"
    assert any("Traceback" in line for line in bug["error"]["details"])
    assert lab.error_payload("run", KeyboardInterrupt())["error"]["kind"] == "interrupted"


def test_error_payload_for_a_failed_run_keeps_its_logs():
    class FakeRun:
        logs = "starting\nTraceback\nValueError: bad"

    payload = lab.error_payload("run", RunError("x: the program exited with code 1", run=FakeRun()))
    assert payload["error"]["kind"] == "run-failed" and payload["error"]["details"][-1] == "ValueError: bad"


def test_notebook_from_the_front_ends_path(tmp_path):
    nb = tmp_path / "work" / "a b.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    find = capture.find_notebook
    assert find({}, {}, cwd=nb.parent, hint="work/a b.ipynb") == nb
    assert find({}, {}, cwd=tmp_path, hint="work/a b.ipynb") == nb
    assert find({}, {"JPY_SESSION_NAME": str(nb)}, cwd=tmp_path / "elsewhere", hint="x/work/a b.ipynb") is None
    assert find({}, {"JPY_SESSION_NAME": str(nb)}, cwd=tmp_path / "elsewhere", hint="work/a b.ipynb") == nb


def test_the_cell_a_notebook_packages_itself_with():
    cells = capture.read_notebook_cells(ROOT / "examples" / "heart_roc.ipynb")
    assert ownlines.packaging_cell(c.source for c in cells).strip().startswith("img = %dockerize")
    sources = ["x = '%dockerize'\n", "%%dockerize -t app\nserve()"]
    assert ownlines.packaging_cell(sources) == "%%dockerize -t app\nserve()"
    assert ownlines.packaging_cell(["print(1)"]) is None


def test_dockerize_from_lab_reports_a_result(monkeypatch):
    from dockermagic import api

    calls = {}

    class FakeImage:
        tag = "t:latest"

        def to_dict(self):
            return {"tag": "t:latest", "image_id": "sha256:abc", "size": 1, "context": Path("/ctx")}

    def fake_dockerize(notebook=None, tag=None, *, on_progress=None, kernel=None, cell=None, **kw):
        calls.update(notebook=notebook, tag=tag, current_cell=kernel.current_cell, cell=cell, kw=kw)
        on_progress(BuildProgress.for_dockerfile(tag, "FROM x\n"))
        return FakeImage()

    monkeypatch.setattr(api, "dockerize", fake_dockerize)
    sent, send = recorder()
    nb = ROOT / "examples" / "heart_roc.ipynb"
    monkeypatch.chdir(nb.parent)
    lab.dockerize_from_lab(
        json.dumps({"notebook": "examples/heart_roc.ipynb", "tag": "t", "form": "script"}),
        publisher=lab.Publisher(send=send),
    )
    assert calls["notebook"] == nb.resolve() and calls["tag"] == "t"
    assert calls["current_cell"].startswith("img = %dockerize") and calls["cell"] is None
    assert [p["kind"] for p, _, _ in sent] == ["build", "result"]
    assert sent[-1][0]["summary"]["context"] == "/ctx"


def test_dockerize_from_lab_reports_a_bad_form():
    sent, send = recorder()
    lab.dockerize_from_lab({"tag": "t", "form": "poster"}, publisher=lab.Publisher(send=send))
    assert sent[-1][0]["kind"] == "error" and "program form 'poster'" in sent[-1][0]["error"]["message"]
    assert sent[-1][0]["error"]["kind"] == "usage"


def test_run_from_lab_inlines_figures(monkeypatch, tmp_path):
    from dockermagic import api
    from dockermagic.results import Run

    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    png = out / "figures" / "figure-001.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (out / "metrics.csv").write_text("a,b\n")
    seen = {}

    def fake_run(image=None, *, on_progress=None, **kw):
        seen.update(image=image, kw=kw)
        on_progress(RunProgress(name="dm-t"))
        return Run(image=image, name="dm-t", exit_code=0, logs="ok", outputs=out, files=[png, out / "metrics.csv"])

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
