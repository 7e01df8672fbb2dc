"""A remote engine: DOCKER_HOST pointing at a second engine (TCP on 127.0.0.1, its own data
root). Build, run and outputs work unchanged, and nothing is bind-mounted."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import docker
import pytest

from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]
DATA_ROOT = Path("/var/lib/dockermagic-remote-test")


@pytest.fixture(scope="module")
def remote_engine(docker_client, tmp_path_factory):
    assert os.geteuid() == 0 and shutil.which("dockerd"), "a second engine needs root and dockerd"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path_factory.mktemp("remote-engine")
    address = f"tcp://127.0.0.1:{port}"
    log = open(run_dir / "dockerd.log", "w")
    proc = subprocess.Popen(["dockerd", "-H", address, "--data-root", str(DATA_ROOT), "--exec-root", str(run_dir / "exec"),
                             "--pidfile", str(run_dir / "dockerd.pid"), "--bridge", "none", "--iptables=false",
                             "--ip-masq=false"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = None
    for _ in range(60):
        try:
            client = docker.DockerClient(base_url=address, version="auto")
            client.ping()
            break
        except Exception:
            client = None
            time.sleep(0.5)
    if client is None:
        proc.kill()
        pytest.fail("the second engine did not start: " + (run_dir / "dockerd.log").read_text()[-800:])
    base = "python:3.11-slim"
    if not client.images.list(name=base):
        # the remote engine gets the base image as a remote engine would: through the API
        client.images.load(b"".join(docker_client.images.get(base).save(named=True)))
    yield address, client
    client.close()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_dockerize_run_and_outputs_on_a_remote_engine(docker_client, remote_engine, notebook_dir, tag):
    address, remote = remote_engine
    path = make_notebook(notebook_dir, ["import json\nresult = {'rows': 3}",
                                        "with open('result.json', 'w') as f:\n    json.dump(result, f)\nprint('wrote result')",
                                        "%load_ext dockermagic", f"img = %dockerize -t {tag} -q", f"run = %docker_run {tag}",
                                        "print(sorted(p.name for p in run.files))"])
    run = execute(path, extra_env={"DOCKER_HOST": address})
    for i in range(3, 6):
        assert "UsageError" not in run.text(i) and not run.errors(i), run.text(i)
    assert "wrote result" in run.text(4)
    assert run.text(5).strip() == "['result.json']"
    assert remote.images.list(name=tag) and not docker_client.images.list(name=tag)
    events = remote.containers.list(all=True, filters={"label": "org.dockermagic.version"})
    assert events == []  # the run's container was removed
    outputs = list((notebook_dir / "dockermagic-outputs").iterdir())[0]
    assert (outputs / "result.json").read_text() == '{"rows": 3}'
    remote.images.remove(f"{tag}:latest", force=True)
