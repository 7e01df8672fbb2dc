"""Serving a model trained in the notebook, from its container (examples/serve_model.ipynb)."""

import json
import socket
import time
import urllib.request

import pytest
from conftest import execute

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_model_served_as_json_endpoint_and_with_flask(docker_client, example_dir, tag):
    nb = example_dir / "serve_model.ipynb"
    port = _free_port()
    text = (
        nb.read_text()
        .replace("heart-api", f"{tag}-api")
        .replace("heart-flask", f"{tag}-flask")
        .replace("8080", str(port))
    )
    nb.write_text(text)
    run = execute(nb)
    for i in range(len(run.code_cells)):
        assert not run.errors(i) and "UsageError" not in run.text(i), (i, run.text(i))
    answer = next(run.text(i) for i, c in enumerate(run.code_cells) if "urllib.request.Request" in c.source)
    probability = eval(answer.strip().splitlines()[-1])["probability"]
    assert len(probability) == 1 and 0.0 < probability[0] < 1.0

    api = docker_client.images.get(f"{tag}-api:latest")
    assert api.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert "8000/tcp" in api.attrs["Config"]["ExposedPorts"]
    # the model was carried, not retrained: the training statement is not in the program
    import os
    from pathlib import Path

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    context = cache / "dockermagic" / "contexts" / f"{tag}-api-latest"
    program = (context / "app" / "program.py").read_text()
    assert "def predict" in program and ".fit(" not in program
    assert (context / "app" / "_dockermagic_objects" / "model.pkl").is_file()

    # the Flask image: start it, wait for its health check, ask it
    flask_port = _free_port()
    container = docker_client.containers.run(
        f"{tag}-flask:latest",
        detach=True,
        ports={"5000/tcp": ("127.0.0.1", flask_port)},
        labels={"org.dockermagic.version": "test", "org.dockermagic.image": f"{tag}-flask"},
    )
    try:
        row = {"age": 60, "resting_bp": 150, "cholesterol": 280, "max_heart_rate": 110, "oldpeak": 2.5}
        request = urllib.request.Request(
            f"http://127.0.0.1:{flask_port}/predict",
            data=json.dumps([row]).encode(),
            headers={"Content-Type": "application/json"},
        )
        for _ in range(100):
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    assert json.load(response)["probability"] == probability
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the Flask service did not answer: " + container.logs().decode()[-500:])
        for _ in range(60):
            container.reload()
            if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
                break
            time.sleep(1)
        assert container.attrs["State"]["Health"]["Status"] == "healthy"
        assert "loaded model" in container.logs().decode()
    finally:
        container.remove(force=True)
    assert docker_client.containers.list(all=True, filters={"label": f"org.dockermagic.image={tag}-api:latest"}) == []
