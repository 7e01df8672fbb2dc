"""Push and pull through a real registry server on 127.0.0.1 (Debian's docker-registry)."""

import json
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: scripts/test.sh installs it (apt-get install docker-registry)"
    folder = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = folder / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    address = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the registry did not start: " + proc.stderr.read().decode()[-500:])
    yield address
    proc.terminate()
    proc.wait(timeout=10)


def _tags(address, repo):
    with urllib.request.urlopen(f"http://{address}/v2/{repo}/tags/list", timeout=5) as response:
        return sorted(json.load(response)["tags"])


def test_push_two_versions_and_pull_on_a_clean_engine(docker_client, notebook_dir, registry, tag):
    remote = f"{registry}/{tag}"
    first = make_notebook(
        notebook_dir,
        [
            "VERSION = 'v1'\nprint('version', VERSION)",
            "%load_ext dockermagic",
            f"img = %dockerize -t {tag} --push {remote}:v1",
            "print(img.pushed)",
        ],
    )
    run = execute(first)
    assert not run.errors(2) and "UsageError" not in run.text(2), run.text(2)
    assert run.text(3).strip() == f"{remote}:v1"
    assert _tags(registry, tag) == ["v1"]

    second = make_notebook(
        notebook_dir,
        [
            "VERSION = 'v2'\nprint('version', VERSION)",
            "%load_ext dockermagic",
            f"img = %dockerize -t {tag} -q",
            f"%docker_push {remote}:v2",
        ],
    )
    run = execute(second)
    assert "UsageError" not in run.text(3), run.text(3)
    assert f"pushed {tag}:latest as {remote}:v2" in run.text(3)
    assert _tags(registry, tag) == ["v1", "v2"]

    # a clean engine state: none of these images is local any more
    for ref in (f"{tag}:latest", f"{remote}:v1", f"{remote}:v2"):
        docker_client.images.remove(ref, force=True)
    third = make_notebook(
        notebook_dir,
        ["%load_ext dockermagic", f"run = %docker_run {remote}:v1", "print(run.exit_code)"],
        name="pull.ipynb",
    )
    run = execute(third)
    assert "UsageError" not in run.text(1), run.text(1)
    assert "version v1" in run.text(1)
    assert "pull" in run.text(1).lower()
    assert run.text(2).strip() == "0"
    assert docker_client.images.get(f"{remote}:v1")
