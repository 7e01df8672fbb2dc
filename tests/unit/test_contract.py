"""The Python/TypeScript contract: real payloads of the kernel side, written once under
``labextension/test/fixtures/`` and read by the front end's jest tests.

A rename on the Python side changes a payload's shape and fails here; a rename on the
TypeScript side fails jest, which reads the same files. After an intended change of the
protocol, regenerate them: ``DOCKERMAGIC_UPDATE_FIXTURES=1 pytest tests/unit/test_contract.py``
(and update ``labextension/src/protocol.ts``).
"""

import json
import os
from pathlib import Path

import pytest

from dockermagic import lab
from dockermagic.errors import BuildError, EngineUnavailable, Interrupted, InvalidTag, RequirementsError, RunError
from dockermagic.progress import BuildProgress, RunProgress
from dockermagic.requirements import Requirement
from dockermagic.results import Image, Run

FIXTURES = Path(__file__).resolve().parents[2] / "labextension" / "test" / "fixtures"
DOCKERFILE = (
    "FROM python:3.11-slim AS builder\nCOPY requirements.txt /tmp/r.txt\nRUN pip install -r /tmp/r.txt\n"
    'FROM python:3.11-slim\nCOPY app/ /app/\nCMD ["python", "program.py"]\n'
)


def _fixed(state, elapsed):
    state.started, state.finished = 0.0, elapsed
    for step in getattr(state, "steps", []):
        if step.seconds is not None:
            step.seconds = 0.5
    for n, phase in enumerate(getattr(state, "phases", [])):
        phase["at"] = float(n)
        if phase["seconds"] is not None:
            phase["seconds"] = 1.0
    return state


def _build(upto):
    state = BuildProgress.for_dockerfile("heart-roc:latest", DOCKERFILE)
    chunks = [
        {"stream": "Step 1/6 : FROM python:3.11-slim AS builder\n ---> 0123456789ab\n"},
        {"stream": "Step 2/6 : COPY requirements.txt /tmp/r.txt\n ---> Using cache\n ---> 1123456789ab\n"},
        {"stream": "Step 3/6 : RUN pip install -r /tmp/r.txt\n ---> Running in 2223456789ab\n"},
        {"stream": "Collecting numpy==2.0.1\n"},
    ]
    for chunk in chunks:
        state.feed(chunk)
    if upto == "failed":
        state.feed({"stream": "ERROR: No matching distribution found for nosuchpkg\n"})
        state.feed(
            {
                "errorDetail": {"message": "The command '/bin/sh -c pip install' returned a non-zero code: 1"},
                "error": "failed",
            }
        )
    elif upto == "interrupted":
        state.interrupt()
    elif upto == "done":
        state.feed(
            {
                "stream": " ---> 3323456789ab\nStep 4/6 : FROM python:3.11-slim\n ---> 0123456789ab\n"
                'Step 5/6 : COPY app/ /app/\n ---> 4423456789ab\nStep 6/6 : CMD ["python"]\n'
                " ---> 5523456789ab\nSuccessfully built 5523456789ab\n"
            }
        )
        state.feed({"aux": {"ID": "sha256:5523456789ab"}})
        state.done("sha256:5523456789ab", 123456789)
    elif upto == "pull":
        state = BuildProgress(tag="heart-roc:latest")
        state.enter("capture")
        state.enter("pull")
        state.feed_pull({"status": "Downloading", "id": "abc123", "progressDetail": {"current": 10, "total": 100}})
    return lab.progress_payload(_fixed(state, 12.5))


def _run(state):
    progress = RunProgress(name="dm-heart-roc-1a2b3c", image="heart-roc:latest")
    progress.feed("training\nauc 0.91\n")
    if state == "exited":
        progress.exited(
            0,
            "/work/dockermagic-outputs/heart-roc-20261130-120000",
            ["/work/dockermagic-outputs/heart-roc-20261130-120000/figures/figure-001.png"],
        )
    return lab.progress_payload(_fixed(progress, 3.25))


def _image():
    reqs = [
        Requirement("scikit-learn", "1.5.2", "import sklearn in cell 3"),
        Requirement("numpy", "2.0.1", "dependency of scikit-learn"),
    ]
    image = Image(
        tag="heart-roc:latest",
        image_id="sha256:5523456789ab",
        size=123456789,
        context=Path("/root/.cache/dockermagic/contexts/heart-roc-latest"),
        requirements=reqs,
        dockerfile=DOCKERFILE,
        source="saved notebook heart_roc.ipynb",
        base="python:3.11-slim",
        notes=["build context: 12 files, 400.0 kB"],
        cached_steps=[1, 2],
        build_seconds=12.5,
        files=["program.py", "data/heart.csv"],
        system_packages=[("libgomp1", "libgomp.so.1 needed by lightgbm/lib/lib_lightgbm.so")],
        notebook=Path("/work/examples/heart_roc.ipynb"),
    )
    return {"kind": "result", "op": "dockerize", "summary": lab._jsonable(image.to_dict())}


def _run_result(tmp_path):
    out = tmp_path / "heart-roc-20261130-120000"
    (out / "figures").mkdir(parents=True)
    png = out / "figures" / "figure-001.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    run = Run(
        image="heart-roc:latest",
        name="dm-heart-roc-1a2b3c",
        exit_code=0,
        logs="training\nauc 0.91",
        outputs=out,
        files=[png],
        ports={},
        duration=3.25,
        node="engine-1",
    )
    payload = lab.run_payload(run)
    # paths under pytest's tmp folder change every run: make them stable
    return json.loads(json.dumps(payload).replace(str(tmp_path), "/work/dockermagic-outputs"))


def _errors():
    class FailedRun:
        logs = "training\nTraceback (most recent call last):\nValueError: bad data"

    try:
        raise TypeError("unexpected")
    except TypeError as exc:
        bug = exc
    errors = {
        "no-engine": EngineUnavailable("no Docker engine answers at unix:///var/run/docker.sock: start Docker"),
        "usage": InvalidTag("invalid image tag 'Heart': use lowercase letters"),
        "requirements": RequirementsError("mylib 0.1 is installed from the local folder /src", ["mylib 0.1 ..."]),
        "build-failed": BuildError(
            "failed",
            step="RUN pip install -r /tmp/r.txt",
            exit_code=1,
            log_tail=["ERROR: No matching distribution found for nosuchpkg"],
            hint="nosuchpkg is not on the package index the build uses",
        ),
        "run-failed": RunError(
            "heart-roc:latest: the program exited with code 1: ValueError: bad data", run=FailedRun()
        ),
        "interrupted": Interrupted("interrupted: the build of heart-roc:latest stopped at step 3 of 6"),
        "internal": bug,
    }
    payloads = {}
    for kind, exc in errors.items():
        payload = lab.error_payload("run" if kind == "run-failed" else "dockerize", exc)
        if kind == "internal":
            payload["error"]["details"] = ["Traceback (most recent call last):", "TypeError: unexpected"]
        payloads[f"error-{kind}"] = payload
    return payloads


def payloads(tmp_path):
    found = {f"build-{stage}": _build(stage) for stage in ("pull", "running", "done", "failed", "interrupted")}
    found.update({f"run-{state}": _run(state) for state in ("running", "exited")})
    found["result-dockerize"] = _image()
    found["result-run"] = _run_result(tmp_path)
    found.update(_errors())
    return found


def _shape(value):
    """Keys and value types, recursively: what the other side relies on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_every_payload_matches_its_fixture(tmp_path):
    current = payloads(tmp_path)
    if os.environ.get("DOCKERMAGIC_UPDATE_FIXTURES"):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for old in FIXTURES.glob("*.json"):
            old.unlink()
        for name, payload in current.items():
            (FIXTURES / f"{name}.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    stored = {p.stem: json.loads(p.read_text()) for p in FIXTURES.glob("*.json")}
    assert sorted(stored) == sorted(current), "fixtures missing or extra: regenerate them (see this module)"
    for name, payload in current.items():
        assert _shape(payload) == _shape(stored[name]), f"{name}: the payload's shape changed"


@pytest.mark.parametrize(
    "kind", ["no-engine", "usage", "requirements", "build-failed", "run-failed", "interrupted", "internal"]
)
def test_each_error_kind_is_stable(tmp_path, kind):
    payload = json.loads((FIXTURES / f"error-{kind}.json").read_text())
    assert payload["kind"] == "error" and payload["error"]["kind"] == kind
