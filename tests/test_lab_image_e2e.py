"""--form lab: an image serving JupyterLab with the notebook in exactly its environment."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


def test_lab_image_requires_its_token(docker_client, notebook_dir, tag):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = make_notebook(
        notebook_dir,
        [
            "import json\nprint(json.dumps({'ok': True}))",
            "%load_ext dockermagic",
            f"img = %dockerize -t {tag} --form lab -q",
            f"server = %docker_run {tag} -p {port}:8888 -e JUPYTER_TOKEN=dmtest-token -d",
            "print(server.name, server.ports)",
        ],
    )
    run = execute(path)
    for i in range(2, 5):
        assert "UsageError" not in run.text(i) and not run.errors(i), run.text(i)
    name = run.text(4).split()[0]
    container = docker_client.containers.get(name)
    try:
        assert container.attrs["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostIp"] == "127.0.0.1"
        assert container.attrs["HostConfig"]["Binds"] in (None, [])  # nothing mounted unless asked
        url = f"http://127.0.0.1:{port}/api/contents"
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"{url}?token=dmtest-token", timeout=3) as response:
                    listing = json.load(response)
                    break
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        else:
            pytest.fail("JupyterLab did not answer: " + container.logs().decode()[-800:])
        assert "notebook.ipynb" in [item["name"] for item in listing["content"]]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(f"{url}?token=wrong", timeout=5)
        assert wrong.value.code == 403
    finally:
        container.remove(force=True)
