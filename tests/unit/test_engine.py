"""The engine module and the clean-up the building stage decides, against a fake client."""

import threading
import time

import pytest
from fakes import ArchiveContainer, FakeClient, FakeContainer, FakeImage

from dockermagic import building, engine
from dockermagic.errors import BuildError, Interrupted
from dockermagic.layout import LABEL_VERSION
from dockermagic.progress import BuildProgress

BASE, L2, L3 = "aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"
DOCKERFILE = "FROM base\nLABEL a=b\nRUN install\nCOPY app/ /app/\n"


@pytest.fixture(autouse=True)
def quick_engine(monkeypatch):
    """This fake engine answers at once: look at it often, and wait briefly."""
    monkeypatch.setattr(engine.builds, "SWEEP_SETTLE", 0.2)
    monkeypatch.setattr(engine.builds, "SWEEP_POLL", 0.05)
    monkeypatch.setattr(engine.builds, "STOP_STEP_WAIT", 0.2)
    monkeypatch.setattr(engine.builds, "STOP_STEP_GRACE", 0.3)  # it never ends a step itself


def _full(short):
    return "sha256:" + short * 5 + "abcd"


def _client():
    client = FakeClient()
    client.images.add(FakeImage(_full(BASE), tags=["base:latest"]))
    return client


def _steps_up_to_install(client):
    """Stream chunks of a build that made L2 and is running the install step (parent L2)."""

    def committed_l2():
        client.images.add(FakeImage(_full(L2)), parent=_full(BASE), created=time.time())

    return [
        {"stream": "Step 1/4 : FROM base\n"},
        {"stream": f" ---> {BASE}\n"},
        {"stream": "Step 2/4 : LABEL a=b\n"},
        {"stream": " ---> Running in c1\n"},
        committed_l2,
        {"stream": f" ---> {L2}\n"},
        {"stream": "Step 3/4 : RUN install\n"},
        {"stream": " ---> Running in c2\n"},
        {"stream": "Collecting numpy\n"},
    ]


def test_a_failed_step_removes_the_layers_it_made_and_tags_nothing():
    client = _client()
    client.api.chunks = _steps_up_to_install(client) + [
        {"stream": "ERROR: No matching distribution found for nosuchpkg\n"},
        {"errorDetail": {"message": "The command '/bin/sh -c install' returned a non-zero code: 1"}, "error": "x"},
    ]
    state = BuildProgress.for_dockerfile("t:latest", DOCKERFILE)
    with pytest.raises(BuildError) as info:
        building._run_build(client, "/ctx", "t:latest", state, lambda: None, no_cache=False)
    assert info.value.step == "RUN install" and info.value.exit_code == 1
    assert "nosuchpkg is not on the package index" in str(info.value)
    assert client.images.removed == [_full(L2)]  # the layer it made, not the base image
    assert [i.id for i in client.images.list()] == [_full(BASE)]
    assert state.phase == "failed" and state.steps[2].state == "failed"


def test_a_dockerfile_the_engine_refuses_is_a_build_error():
    client = _client()
    client.api.refuse_build = "dockerfile parse error line 3: unknown instruction: RUNN"
    state = BuildProgress.for_dockerfile("t:latest", DOCKERFILE)
    with pytest.raises(BuildError, match="unknown instruction"):
        building._run_build(client, "/ctx", "t:latest", state, lambda: None, no_cache=False)
    assert state.phase == "failed"


def test_an_interrupted_build_stops_its_step_and_removes_what_it_committed():
    client = _client()
    client.containers.items["c2"] = FakeContainer("c2", ancestor=L2)
    others = FakeImage("sha256:" + "d" * 64)  # another build's untagged image: not ours
    client.images.add(others, parent="sha256:" + "e" * 64, created=time.time())
    kept = FakeImage("sha256:" + "f" * 64, tags=["someone:else"])
    client.images.add(kept, parent=_full(L2), created=time.time())
    # another build at the same time, on a cached layer both share (the base): not ours
    neighbour = FakeImage("sha256:" + "9" * 64)
    client.images.add(neighbour, parent=_full(BASE), created=time.time())

    def interrupt():
        # the engine commits the running step after the interrupt, as it does, and the classic
        # builder leaves the container of a COPY step it had created
        client.images.add(FakeImage(_full(L3)), parent=_full(L2), created=time.time())
        client.containers.items["copy"] = FakeContainer("copy", status="created", ancestor=L3)
        raise KeyboardInterrupt

    client.api.chunks = _steps_up_to_install(client) + [interrupt]
    state = BuildProgress.for_dockerfile("t:latest", DOCKERFILE)
    seen = []
    with pytest.raises(Interrupted, match="stopped at step 3 of 4; nothing it made is left"):
        building._run_build(client, "/ctx", "t:latest", state, lambda: seen.append(state.phase), no_cache=False)
    assert ("remove_container", "c2") in client.api.calls  # the running step's container
    assert ("remove_container", "copy") in client.api.calls
    remaining = {i.id for i in client.images.list()}
    assert _full(L3) not in remaining and _full(L2) not in remaining
    assert {_full(BASE), others.id, kept.id, neighbour.id} <= remaining
    assert state.steps[2].state == "interrupted" and "interrupted" in seen
    assert client.api.closed
    # the interrupt landed inside the SDK's stream, whose frames the traceback keeps: the build's
    # own connection is closed explicitly, or the engine would build on to the end
    assert [r.closed for r in client.api.responses] == [True] and client.api.hooks["response"] == []


def test_an_interrupted_step_the_engine_commits_meanwhile_is_waited_for_and_removed(monkeypatch):
    monkeypatch.setattr(engine.builds, "STOP_STEP_GRACE", 10.0)  # here the engine ends the step
    client = _client()

    def interrupt():
        # the install had just finished: the engine commits its large layer for a second or
        # two, then removes the step's container itself
        client.containers.items["c2"] = FakeContainer("c2", status="exited", ancestor=L2)

        def committed():
            client.images.add(FakeImage(_full(L3)), parent=_full(L2), created=time.time())
            client.containers.items.pop("c2")

        threading.Timer(0.5, committed).start()
        raise KeyboardInterrupt

    client.api.chunks = _steps_up_to_install(client) + [interrupt]
    state = BuildProgress.for_dockerfile("t:latest", DOCKERFILE)
    with pytest.raises(Interrupted, match="stopped at step 3 of 4; nothing it made is left"):
        building._run_build(client, "/ctx", "t:latest", state, lambda: None, no_cache=False)
    assert ("remove_container", "c2") not in client.api.calls  # the engine ended it
    assert {i.id for i in client.images.list()} == {_full(BASE)}  # its commit is gone too


def test_an_interrupt_after_the_engine_finished_keeps_the_whole_image_and_says_so():
    client = _client()
    old = client.images.add(FakeImage("sha256:" + "0" * 64, labels={LABEL_VERSION: "0.1"}))
    old.tags = ["t:latest"]
    final = _full(L3)

    def finished():
        # a cached rebuild: the engine is done and has tagged the image when the interrupt lands
        old.tags = []
        client.images.add(FakeImage(final, tags=["t:latest"]), parent=_full(L2), created=time.time())

    client.api.chunks = _steps_up_to_install(client) + [
        finished,
        {"aux": {"ID": final}},
        {"stream": f"Successfully built {L3}\n"},
        KeyboardInterrupt(),
    ]
    state = BuildProgress.for_dockerfile("t:latest", DOCKERFILE)
    with pytest.raises(Interrupted, match="t:latest is built, what came after it stopped"):
        building._run_build(client, "/ctx", "t:latest", state, lambda: None, no_cache=False)
    assert final in {i.id for i in client.images.list()} and state.phase == "done"
    assert client.images.removed == [old.id]  # the image the rebuild took the tag from
    assert [r.closed for r in client.api.responses] == [True]


def test_the_sweep_follows_cached_steps_the_engine_ran_through_after_the_interrupt():
    client = _client()
    since = time.time()
    tip, cached1, cached2 = ("sha256:" + c * 64 for c in "678")  # layers earlier builds made
    client.images.add(FakeImage(tip), parent=_full(BASE), created=since - 600)
    client.images.add(FakeImage(cached1), parent=tip, created=since - 600)
    client.images.add(FakeImage(cached2), parent=cached1, created=since - 600)
    late = client.images.add(FakeImage("sha256:" + "4" * 64), parent=cached2, created=since + 1)
    unrelated = client.images.add(FakeImage("sha256:" + "5" * 64), parent=_full(BASE), created=since + 1)
    engine.sweep_build(client, made=[], tip=tip, since=since)
    remaining = set(client.images.items)
    assert late.id not in remaining  # committed on top of cached steps after our tip: ours
    assert {tip, cached1, cached2, unrelated.id} <= remaining


def test_an_interrupt_between_cached_steps_sweeps_what_the_engine_commits_after_them():
    client = _client()
    cached2, cached3 = "2" * 12, "3" * 12  # layers an earlier build made, shared by this one
    client.images.add(FakeImage(_full(cached2)), parent=_full(BASE), created=time.time() - 600)
    client.images.add(FakeImage(_full(cached3)), parent=_full(cached2), created=time.time() - 600)
    late = FakeImage(_full(L3))

    def interrupt():
        # the kernel lags behind a fast cached build: the engine commits the next step meanwhile
        client.images.add(late, parent=_full(cached3), created=time.time())
        raise KeyboardInterrupt

    client.api.chunks = [
        {"stream": "Step 1/4 : FROM base\n"},
        {"stream": f" ---> {BASE}\n"},
        {"stream": "Step 2/4 : LABEL a=b\n"},
        {"stream": " ---> Using cache\n"},
        {"stream": f" ---> {cached2}\n"},
        {"stream": "Step 3/4 : RUN install\n"},
        {"stream": " ---> Using cache\n"},
        interrupt,  # no step is running, and the cached one's layer is not named yet
    ]
    state = BuildProgress.for_dockerfile("t:latest", DOCKERFILE)
    with pytest.raises(Interrupted, match="stopped at step 4 of 4; nothing it made is left"):
        building._run_build(client, "/ctx", "t:latest", state, lambda: None, no_cache=False)
    remaining = set(client.images.items)
    assert late.id not in remaining
    assert {_full(BASE), _full(cached2), _full(cached3)} <= remaining


def test_a_rebuild_retires_the_image_it_took_the_tag_from():
    client = _client()
    old = client.images.add(FakeImage("sha256:" + "1" * 64, labels={LABEL_VERSION: "0"}))
    engine.retire_replaced(client, old.id)
    assert old.id not in client.images.items
    other = client.images.add(FakeImage("sha256:" + "2" * 64, tags=["x:v1"], labels={LABEL_VERSION: "0"}))
    foreign = client.images.add(FakeImage("sha256:" + "3" * 64))
    engine.retire_replaced(client, other.id)
    engine.retire_replaced(client, foreign.id)
    assert other.id in client.images.items and foreign.id in client.images.items


def test_pulls_hand_the_whole_reference_to_the_sdk():
    client = _client()
    digest_ref = "localhost:5000/team/app@sha256:" + "ab" * 32
    engine.pull(client, digest_ref)
    engine.pull(client, "localhost:5000/team/other")
    assert [c[1:] for c in client.api.calls if c[0] == "pull"] == [
        (digest_ref, None),
        ("localhost:5000/team/other:latest", None),
    ]


def test_download_writes_only_wanted_regular_files_inside_the_destination(tmp_path, monkeypatch):
    container = ArchiveContainer(
        [
            ("app/out.csv", b"a,b\n"),
            ("app/../evil", b"x"),
            ("/abs", b"x"),
            ("app/sub/../../up", b"x"),
            ("app/link", None),
            ("app/figures/f.png", b"png"),
        ]
    )
    wanted = ["out.csv", "../evil", "/abs", "../up", "link", "figures/f.png", "figures"]
    dest = tmp_path / "out"
    written = engine.download(container, "/app", wanted, dest)
    assert written == [dest / "figures" / "f.png", dest / "out.csv"]
    # many files: the whole folder comes in one archive, with the same guard
    monkeypatch.setattr(engine.files, "FILES_ONE_BY_ONE", 1)
    again = engine.download(container, "/app", wanted, tmp_path / "again")
    assert [p.relative_to(tmp_path / "again").as_posix() for p in again] == ["figures/f.png", "out.csv"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()) == [
        "out/figures/f.png",
        "out/out.csv",
    ]


def test_the_tip_is_the_last_layer_of_the_running_step_s_stage_never_a_base_image():
    from types import SimpleNamespace as Step

    steps = [
        Step(instruction="FROM python:3.11-slim", layer="base"),
        Step(instruction="ENV A=1", layer="env"),
        Step(instruction="RUN useradd app", layer=None),  # finished, its layer not named yet
    ]
    assert building._last_layer(steps) == "env"
    assert building._last_layer(steps[:1]) is None
