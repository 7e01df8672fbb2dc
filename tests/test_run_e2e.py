"""The build view and the run controls, in a real kernel (driven message by message)
against a real engine: live updates, interrupt, timeout, ports, detach, GPUs."""

import queue
import socket
import time
import urllib.request

import pytest
from jupyter_client.manager import start_new_kernel

pytestmark = [pytest.mark.engine, pytest.mark.kernel]
MIME = "application/vnd.dockermagic.progress+json"


class Kernel:
    """A real python3 kernel in a folder; ``run()`` executes code and returns its messages."""

    def __init__(self, cwd, env=None):
        import os

        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env={**os.environ, **(env or {})})

    def run(self, code, timeout=600, on_message=None):
        msg_id = self.kc.execute(code, store_history=True)
        messages = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append((time.monotonic(), msg))
            if on_message:
                on_message(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return messages
        raise TimeoutError(code)

    @staticmethod
    def text(messages):
        out = []
        for _, msg in messages:
            c = msg["content"]
            if msg["msg_type"] == "stream":
                out.append(c["text"])
            elif msg["msg_type"] in ("execute_result", "display_data"):
                out.append(c["data"].get("text/plain", "") + "\n")
            elif msg["msg_type"] == "error":
                out.append(f"{c['ename']}: {c['evalue']}\n")
        return "".join(out)

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture
def kernel(notebook_dir):
    k = Kernel(notebook_dir)
    yield k
    k.close()


def _ours(docker_client, tag):
    return docker_client.containers.list(all=True, filters={"label": f"org.dockermagic.image={tag}:latest"})


def test_build_view_updates_live_as_steps_finish(docker_client, notebook_dir, kernel, tag):
    kernel.run("import six\nprint(six.__version__)\n%load_ext dockermagic")
    messages = kernel.run(f"img = %dockerize -t {tag} --no-cache")
    views = [
        (t, m["content"]["data"][MIME])
        for t, m in messages
        if m["msg_type"] in ("display_data", "update_display_data") and MIME in m["content"].get("data", {})
    ]
    assert len(views) >= 5, Kernel.text(messages)
    finished = [sum(s["state"] in ("done", "cached") for s in v["steps"]) for _, v in views]
    assert finished == sorted(finished) and finished[0] < finished[-1]
    assert views[-1][1]["phase"] == "done"
    # updates are spread over the build, not all sent at the end: they arrive over at least half
    # the time the build took, and the install step's "done" comes before the build is over
    elapsed = views[-1][1]["elapsed"]
    assert views[-1][0] - views[0][0] >= 0.5 * elapsed, (views[-1][0] - views[0][0], elapsed)
    install_done = next(
        t
        for t, v in views
        if any(s["instruction"].startswith("RUN python -m venv") and s["state"] == "done" for s in v["steps"])
    )
    assert install_done < views[-1][0]
    running = [v for _, v in views if any(s["state"] == "running" for s in v["steps"])]
    assert running, "no update showed a step while it was running"


def _dangling(docker_client):
    return {i.id for i in docker_client.images.list(filters={"dangling": True})}


def _interrupted_cleanly(text):
    """One line, no traceback: the interrupt is reported as a UsageError naming what stopped."""
    lines = [line for line in text.splitlines() if line.startswith("UsageError: ")]
    assert len(lines) == 1 and lines[0].startswith("UsageError: interrupted"), text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    return lines[0]


@pytest.mark.parametrize(
    "when",
    [
        ("while the context is sent", lambda d: d["phase"] == "send"),
        (
            "during the install step",
            lambda d: any(s["state"] == "running" and "venv" in s["instruction"] for s in d["steps"]),
        ),
        (
            "in the final stage",
            lambda d: any(s["state"] == "running" and "useradd" in s["instruction"] for s in d["steps"]),
        ),
    ],
    ids=lambda w: w[0],
)
def test_an_interrupted_build_stops_on_the_engine_and_leaves_nothing(docker_client, notebook_dir, kernel, tag, when):
    _, moment = when
    # a working folder of its own (in a project) makes every step of the final stage this
    # test's: on a warm cache the engine would finish that stage before the interrupt arrives
    (notebook_dir / ".git").mkdir()
    (notebook_dir / f"work-{tag}").mkdir()
    kernel.run(f"%cd work-{tag}\nimport six\n%load_ext dockermagic")
    dangling_before = _dangling(docker_client)
    started = {}

    def interrupt_then(msg):
        data = msg["content"].get("data", {})
        if MIME in data and not started and moment(data[MIME]):
            started["at"] = time.monotonic()
            kernel.km.interrupt_kernel()

    messages = kernel.run(f"%dockerize -t {tag} --no-cache", on_message=interrupt_then)
    assert started, Kernel.text(messages)
    assert messages[-1][0] - started["at"] < 40
    line = _interrupted_cleanly(Kernel.text(messages))
    assert "nothing it made is left on the engine" in line or "nothing was built" in line, line
    final = [
        v
        for _, v in (
            (t, m["content"]["data"][MIME])
            for t, m in messages
            if m["msg_type"] in ("display_data", "update_display_data") and MIME in m["content"].get("data", {})
        )
    ][-1]
    assert final["phase"] == "interrupted" and not any(s["state"] == "failed" for s in final["steps"])
    assert not docker_client.images.list(name=tag)
    # the engine has stopped building: no step container, and nothing new appears afterwards
    time.sleep(3)
    building = [
        c
        for c in docker_client.containers.list(all=True)
        if "/opt/venv" in " ".join(c.attrs["Config"].get("Cmd") or [])
    ]
    assert building == []
    assert _dangling(docker_client) - dangling_before == set()


def test_an_interrupted_run_is_removed_and_keeps_what_it_wrote(docker_client, notebook_dir, kernel, tag):
    kernel.run("%load_ext dockermagic")
    body = "import time\nopen('partial.txt', 'w').write('so far')\nprint('tick', flush=True)\ntime.sleep(120)"
    out = Kernel.text(kernel.run(f"%%dockerize -t {tag} -q\n{body}"))
    assert "UsageError" not in out, out
    seen = {}

    def interrupt_on_tick(msg):
        if msg["msg_type"] == "stream" and "tick" in msg["content"]["text"] and not seen:
            seen["at"] = time.monotonic()
            kernel.km.interrupt_kernel()

    messages = kernel.run(f"run = %docker_run {tag}", on_message=interrupt_on_tick)
    assert seen, Kernel.text(messages)
    assert messages[-1][0] - seen["at"] < 15
    line = _interrupted_cleanly(Kernel.text(messages))
    assert "was stopped and removed; what it wrote so far is in" in line and "(run was not assigned" in line
    assert _ours(docker_client, tag) == []
    kept = Kernel.text(kernel.run("print(sorted(p.name for p in _docker_run.files), _docker_run.outputs)"))
    assert "['partial.txt']" in kept, kept


def test_timeout_gpus_ports_detach(docker_client, notebook_dir, kernel, tag):
    kernel.run("%load_ext dockermagic")
    serve = (
        "import http.server, socketserver\n"
        "print('serving', flush=True)\n"
        "socketserver.TCPServer(('0.0.0.0', 8000), http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    out = Kernel.text(kernel.run(f"%%dockerize -t {tag} -q\n{serve}"))
    assert "UsageError" not in out, out

    out = Kernel.text(kernel.run(f"r = %docker_run {tag} --timeout 3"))
    assert "UsageError:" in out and "stopped by --timeout" in out, out
    assert _ours(docker_client, tag) == []

    out = Kernel.text(kernel.run(f"%docker_run {tag} --gpus all"))
    assert "UsageError:" in out and "no GPU runtime" in out, out
    assert _ours(docker_client, tag) == []

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = Kernel.text(kernel.run(f"%docker_run {tag} -p {port}:8000 -d"))
        assert "UsageError:" in out and "already" in out, out
    assert _ours(docker_client, tag) == []

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    out = Kernel.text(kernel.run(f"r = %docker_run {tag} -p {port}:8000 -d\nprint(r.name, r.ports)"))
    assert "UsageError" not in out, out
    container = _ours(docker_client, tag)[0]
    binding = container.attrs["HostConfig"]["PortBindings"]["8000/tcp"][0]
    assert binding["HostIp"] == "127.0.0.1"
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/program.py", timeout=2) as response:
                assert response.status == 200 and b"serve_forever" in response.read()
                break
        except OSError:
            time.sleep(0.2)
    else:
        pytest.fail("the published port did not answer")
    assert container.name in Kernel.text(kernel.run("%docker_ps"))
    assert "serving" in Kernel.text(kernel.run(f"%docker_logs {container.name}"))
    assert "stopped and removed" in Kernel.text(kernel.run(f"%docker_stop {container.name}"))
    assert _ours(docker_client, tag) == []
