"""A remote engine: DOCKER_HOST pointing at a second engine (TCP on 127.0.0.1, its own data
root). Build, run and outputs work unchanged, and nothing is bind-mounted."""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import docker
import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]
DATA_ROOT = Path("/var/lib/dockermagic-remote-test")


def _forward(listener, unix_path, stop):
    """Accept TCP connections on ``listener`` and pipe each to the engine's unix socket."""

    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    listener.settimeout(0.5)
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        upstream = socket.socket(socket.AF_UNIX)
        try:
            upstream.connect(unix_path)  # fails until the engine is up: the client retries
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


@pytest.fixture(scope="module")
def remote_engine(docker_client, tmp_path_factory):
    """A second engine with its own data root, reached at tcp://127.0.0.1:PORT.

    It runs in a network namespace of its own (so it cannot touch the first engine's
    docker0 bridge or iptables rules) and listens on a unix socket; a small forwarder makes
    that socket a TCP port on 127.0.0.1.
    """
    assert os.geteuid() == 0 and shutil.which("dockerd") and shutil.which("unshare"), "needs root, dockerd, unshare"
    run_dir = tmp_path_factory.mktemp("remote-engine")
    unix_path = str(run_dir / "docker.sock")
    daemon = (
        f"ip link set lo up && exec dockerd -H unix://{unix_path} --data-root {DATA_ROOT} "
        f"--exec-root {run_dir / 'exec'} --pidfile {run_dir / 'dockerd.pid'} --bridge none "
        "--iptables=false --ip-masq=false"
    )
    with open(run_dir / "dockerd.log", "w") as log:
        proc = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", daemon], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop = threading.Event()
    forwarder = threading.Thread(target=_forward, args=(listener, unix_path, stop), daemon=True)
    forwarder.start()
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
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the second engine did not start: " + (run_dir / "dockerd.log").read_text()[-800:])
    base = "python:3.11-slim"
    if not client.images.list(name=base):
        # the remote engine gets the base image the way a remote engine would: through the API
        client.images.load(b"".join(docker_client.images.get(base).save(named=True)))
    yield address, client
    client.close()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    stop.set()
    listener.close()


def test_dockerize_run_and_outputs_on_a_remote_engine(docker_client, remote_engine, notebook_dir, tag):
    address, remote = remote_engine
    path = make_notebook(
        notebook_dir,
        [
            "import json\nresult = {'rows': 3}",
            "with open('result.json', 'w') as f:\n    json.dump(result, f)\nprint('wrote result')",
            "%load_ext dockermagic",
            f"img = %dockerize -t {tag} -q",
            f"run = %docker_run {tag}",
            "print(sorted(p.name for p in run.files))",
        ],
    )
    run = execute(path, extra_env={"DOCKER_HOST": address})
    for i in range(3, 6):
        assert "UsageError" not in run.text(i) and not run.errors(i), run.text(i)
    assert "wrote result" in run.text(4)
    assert run.text(5).strip() == "['result.json']"
    assert remote.images.list(name=tag) and not docker_client.images.list(name=tag)
    # the first engine is untouched: its default bridge is still there
    assert docker_client.networks.get("bridge").attrs["Options"].get("com.docker.network.bridge.name", "docker0")
    assert subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0
    events = remote.containers.list(all=True, filters={"label": "org.dockermagic.version"})
    assert events == []  # the run's container was removed
    outputs = list((notebook_dir / "dockermagic-outputs").iterdir())[0]
    assert (outputs / "result.json").read_text() == '{"rows": 3}'
    remote.images.remove(f"{tag}:latest", force=True)
