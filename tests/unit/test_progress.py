"""Build progress state fed with the engine's stream chunks."""

import json

from dockermagic import progress


def test_build_progress_follows_steps_cache_and_failure():
    state = progress.BuildProgress.for_dockerfile("t", "FROM a\nRUN x\nRUN y\n")
    for chunk in [
        {"stream": "Step 1/3 : FROM a\n"},
        {"stream": " ---> 1234567890ab\n"},
        {"stream": "Step 2/3 : RUN x\n ---> Using cache\n ---> 2234567890ab\n"},
        {"stream": "Step 3/3 : RUN y\n"},
        {"stream": " ---> Running in ffff\n"},
        {"stream": "partial "},
        {"stream": "line\nboom\n"},
    ]:
        state.feed(chunk)
    assert [s.state for s in state.steps] == ["done", "cached", "running"]
    assert state.steps[2].log == ["partial line", "boom"]
    state.feed(
        {
            "errorDetail": {"code": 2, "message": "The command '/bin/sh -c y' returned a non-zero code: 2"},
            "error": "...",
        }
    )
    assert state.phase == "failed" and state.failed_step.n == 3 and state.error["exit_code"] == 2
    assert state.cached_steps == [2]
    assert state.new_layers == []  # the base image and cached layers are never removed
    assert json.loads(json.dumps(state.to_dict()))["steps"][2]["state"] == "failed"
