"""Browser test of the JupyterLab "Dockerize" button and panel, against a real JupyterLab,
kernel and Docker engine.

Starts JupyterLab (allow_root, a token, a free port, root dir = a temporary copy of
``examples/`` plus two notebooks written here), and drives Debian's Chromium with
playwright-core (``labextension/ui-tests/lab-button.mjs``): the dialog (tag explained, Build
disabled while invalid, options remembered across a reload), a build and run of
``heart_roc.ipynb`` (phases with times, figures, links that open the outputs, the CSV and
the image viewers), a notebook whose program fails, and a build cancelled during its install
step, after which this test checks with the docker CLI that nothing of it is left. Saves
``docs/lab-running.png``, ``lab-succeeded.png``, ``lab-failed.png``, ``lab-cancelled.png``
and ``lab-button.png``. Images and containers are tagged ``dmtest-lab-<random>[-fail|-cancel]``
and removed.

Why playwright-core and not Galata: see labextension/ui-tests/README.md.

Nothing is skipped: ``tests/browser/setup.sh`` installs what is missing (Chromium, node
packages, the built extension, the engine) and fails loudly when it cannot.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "tests" / "browser" / "setup.sh"
SCRIPT = ROOT / "labextension" / "ui-tests" / "lab-button.mjs"
BUILT_EXTENSION = ROOT / "dockermagic" / "labextension"
DOCS = ROOT / "docs"
SCREENSHOTS = ("lab-button.png", "lab-running.png", "lab-succeeded.png", "lab-failed.png", "lab-cancelled.png")
NOTEBOOK = "heart_roc.ipynb"
FAIL_NOTEBOOK = "failing_run.ipynb"
CANCEL_NOTEBOOK = "cancel_build.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.timeout(1500)]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _docker(*args, check=False):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)


def _dangling_dockermagic_images():
    out = _docker("images", "-q", "--no-trunc", "--filter", "dangling=true", "--filter", "label=org.dockermagic.stage")
    return set(out.stdout.split())


def _remove_test_artifacts(prefix, dangling_before=frozenset()):
    """Remove every container and image of this run: tagged ``prefix`` or ``prefix-*`` (its
    unique tags), and the untagged builder-stage images its builds left behind (new since
    ``dangling_before``)."""
    ids = set()
    for suffix in ("", "-fail", "-cancel"):
        name = prefix + suffix
        for flt in (
            f"ancestor={name}:latest",
            f"label=org.dockermagic.image={name}:latest",
            f"label=org.dockermagic.image={name}",
            f"name=dm-{name}",
        ):
            ids.update(_docker("ps", "-aq", "--filter", flt).stdout.split())
    if ids:
        _docker("rm", "-f", *sorted(ids))
    refs = [
        line
        for line in _docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        if line.split(":")[0].startswith(prefix)
    ]
    if refs:
        _docker("rmi", "-f", *refs)
    leftovers = _dangling_dockermagic_images() - set(dangling_before)
    if leftovers:
        _docker("rmi", *sorted(leftovers))


def _notebook(*cells):
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(cells)
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def _engine_state():
    """What a cancelled build could leave: dangling images and containers, by id."""
    images = set(_docker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split())
    containers = set(_docker("ps", "-aq", "--no-trunc").stdout.split())
    return images, containers


def _describe_images(ids):
    fmt = "{{.Id}} created={{.Created}} labels={{json .Config.Labels}} cmd={{json .ContainerConfig.Cmd}}"
    return _docker("image", "inspect", "--format", fmt, *sorted(ids)).stdout.strip() if ids else ""


def _describe_containers(ids):
    fmt = (
        "{{.Id}} name={{.Name}} image={{.Image}} created={{.Created}} state={{.State.Status}} cmd={{json .Config.Cmd}}"
    )
    return _docker("inspect", "--format", fmt, *sorted(ids)).stdout.strip() if ids else ""


def _check_cancelled(tag, before, settle=30):
    """After the panel said "cancelled": no tag, no new container, no new dangling image of
    that build. The engine may still be committing: look again until it is quiet."""
    deadline = time.monotonic() + settle
    while True:
        images, containers = _engine_state()
        new_images, new_containers = images - before[0], containers - before[1]
        tagged = _docker("images", "-q", f"{tag}:latest").stdout.strip()
        if not (new_images or new_containers or tagged) or time.monotonic() > deadline:
            break
        time.sleep(2)
    problems = []
    if tagged:
        problems.append(f"the image {tag}:latest exists ({tagged})")
    if new_containers:
        problems.append("new containers: " + _describe_containers(new_containers))
    if new_images:
        problems.append("new dangling images: " + _describe_images(new_images))
    return problems


@pytest.fixture(scope="module")
def browser_setup():
    """Chromium, node packages, the built extension and the engine (installs what is missing)."""
    proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=1200)
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"tests/browser/setup.sh failed:\n{proc.stdout}\n{proc.stderr}"
    assert Path("/usr/bin/chromium").exists(), "setup.sh did not install /usr/bin/chromium"
    assert shutil.which("node"), "node is needed to drive the browser"


@pytest.fixture
def jupyterlab(tmp_path, browser_setup):
    """A JupyterLab server on a free port serving a copy of examples/; yields (url, token, root)."""
    root = tmp_path / "root"
    shutil.copytree(
        ROOT / "examples",
        root,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "dockermagic-outputs", "__pycache__"),
    )
    assert (root / NOTEBOOK).exists(), f"examples/{NOTEBOOK} is missing"
    # A program that fails when the image runs (the panel's failed state).
    (root / FAIL_NOTEBOOK).write_text(
        _notebook(
            'rows = [1, 2, 3]\nprint("loaded", len(rows), "rows")',
            "raise ValueError(\"bad data: the column 'age' is missing\")",
        )
    )
    # A build slow enough to cancel: a new index setting (a trusted host nobody contacts) makes
    # the context's pip/uv settings new, so the install step cannot come from the layer cache.
    marker = f"dmtest-{uuid.uuid4().hex[:8]}.invalid"
    (root / CANCEL_NOTEBOOK).write_text(
        _notebook(
            f'import os\nos.environ["PIP_TRUSTED_HOST"] = "{marker}"',
            "import matplotlib.pyplot as plt\nimport numpy as np\nimport pandas as pd\n"
            "from sklearn.linear_model import LogisticRegression\nprint(np.__version__, pd.__version__)",
        )
    )
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    token = uuid.uuid4().hex
    port = _free_port()

    env = dict(os.environ)
    # The kernel imports this working tree's dockermagic, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    env.pop("JUPYTER_TOKEN", None)

    # Serve this working tree's build (tests/browser/setup.sh rebuilds it when src/ changed):
    # extra_labextensions_path comes first, so it wins over an installed copy, which may be
    # an older snapshot (an editable install copies the built extension once).
    assert (BUILT_EXTENSION / "package.json").exists(), "the extension is not built (setup.sh builds it)"
    linkdir = tmp_path / "labextensions"
    linkdir.mkdir()
    (linkdir / "dockermagic").symlink_to(BUILT_EXTENSION, target_is_directory=True)
    extra_paths = [str(linkdir)]

    # No "news" toast over the screenshot.
    settings_dir = tmp_path / "user-settings"
    notification = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (config_dir / "jupyter_server_config.py").write_text(f"""
c.ServerApp.allow_root = True  # test configuration only (CI runs as root)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = {port}
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = {str(root)!r}
c.IdentityProvider.token = {token!r}
c.LabApp.workspaces_dir = {str(tmp_path / "workspaces")!r}
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabServerApp.extra_labextensions_path = {extra_paths!r}
c.LabApp.user_settings_dir = {str(settings_dir)!r}
c.LabApp.expose_app_in_browser = True  # the test opens files and runs commands through window.jupyterapp
""")
    log_path = tmp_path / "jupyterlab.log"
    log = open(log_path, "w")  # noqa: SIM115 - the server writes to it until the fixture ends
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not answer within 120 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url, token, root, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def test_dockerize_button_builds_runs_fails_and_cancels(jupyterlab, tmp_path):
    url, token, root, log_path = jupyterlab
    tag = f"dmtest-lab-{uuid.uuid4().hex[:8]}"
    DOCS.mkdir(parents=True, exist_ok=True)
    shots = tmp_path / "shots"
    shots.mkdir()
    failure_shot = tmp_path / "failure.png"
    env = dict(
        os.environ,
        DM_LAB_URL=url,
        DM_LAB_TOKEN=token,
        DM_NOTEBOOK=NOTEBOOK,
        DM_TAG=tag,
        DM_FAIL_NOTEBOOK=FAIL_NOTEBOOK,
        DM_CANCEL_NOTEBOOK=CANCEL_NOTEBOOK,
        DM_DOCS=str(shots),
        DM_TIMEOUT_S="900",
        DM_FAILURE_SCREENSHOT=str(failure_shot),
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1",
        CHROMIUM="/usr/bin/chromium",
    )
    dangling_before = _dangling_dockermagic_images()
    started = time.monotonic()
    cancel_problems = None
    try:
        proc = subprocess.Popen(
            ["node", str(SCRIPT)],
            cwd=ROOT / "labextension",
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        watchdog = threading.Timer(1400, proc.kill)
        watchdog.start()
        lines, image_seen, before = [], None, None
        try:
            for line in proc.stdout:
                print(line, end="")
                lines.append(line.rstrip("\n"))
                if line.startswith("PASS summary names the tag") and image_seen is None:
                    # Check the engine right away (another suite's clean-up may sweep dmtest-* later).
                    image_seen = _docker("image", "inspect", "--format", "{{.Id}}", f"{tag}:latest")
                if line.startswith("DM_CHECKPOINT "):
                    point = json.loads(line[len("DM_CHECKPOINT ") :])
                    reply = {"ok": True}
                    if point["name"] == "cancel-start":
                        before = _engine_state()
                    elif point["name"] == "cancelled":
                        cancel_problems = _check_cancelled(point["tag"], before)
                        reply = {"ok": not cancel_problems, "detail": "; ".join(cancel_problems) or None}
                    proc.stdin.write(json.dumps(reply) + "\n")
                    proc.stdin.flush()
            proc.wait()
        finally:
            watchdog.cancel()
        print(f"browser test took {time.monotonic() - started:.0f} s")
        result_lines = [line for line in lines if line.startswith("DM_RESULT ")]
        assert result_lines, "the browser script printed no result (exit %s):\n%s" % (
            proc.returncode,
            "\n".join(lines[-60:]),
        )
        result = json.loads(result_lines[-1][len("DM_RESULT ") :])
        if not result["ok"]:
            print("--- JupyterLab log (tail) ---\n" + log_path.read_text()[-6000:])
        if cancel_problems:
            pytest.fail(f"the cancelled build left something on the engine: {cancel_problems}")
        failed = [c for c in result["checks"] if not c["ok"]]
        assert proc.returncode == 0 and result["ok"], (
            f"browser test failed: {result.get('error')}\nfailed checks: {failed}\n"
            f"failure screenshot: {failure_shot if failure_shot.exists() else 'none'}"
        )
        assert cancel_problems == [], "the engine was not checked after the cancelled build"
        names = {c["name"] for c in result["checks"]}
        for expected in (
            "button enabled with a kernel",
            "tag pre-filled from the notebook name",
            "Build is disabled while the tag is invalid",
            "a wrong character in the tag is named",
            'the panel shows a phase at once (no empty "Starting")',
            "build and run succeeded",
            "each phase is shown with its time",
            "summary names the tag",
            "run shows its figures",
            "requirements show where they came from",
            "a figure enlarges on click",
            "metrics.csv opens in the CSV viewer",
            "a figure opens in the image viewer",
            "the outputs folder opens in the file browser",
            "the dialog remembers the last options after a reload",
            "a failing program ends in the failed state",
            "the running time moves between messages",
            "updates keep the user's <details> and selection",
            "the build ends cancelled",
            "the running step shows as interrupted",
            "nothing of the cancelled build is left on the engine",
            "missing dockermagic explained with %pip install",
            "button disabled without a kernel, with a tooltip",
        ):
            assert expected in names, f"check {expected!r} did not run"
        assert result["summary"]["tag"].startswith(tag)
        # The image really exists on the engine, with the id the panel showed.
        assert image_seen is not None and image_seen.returncode == 0, image_seen and image_seen.stderr
        assert image_seen.stdout.strip().replace("sha256:", "").startswith(result["summary"]["imageId"])
        # Every screenshot was taken; only a fully passing run replaces the ones in docs/.
        for name in SCREENSHOTS:
            shot = shots / name
            assert shot.exists() and shot.stat().st_size > 10_000, f"{name} was not saved"
        for name in SCREENSHOTS:
            shutil.copyfile(shots / name, DOCS / name)
    finally:
        _remove_test_artifacts(tag, dangling_before)
    for suffix in ("", "-fail", "-cancel"):
        assert _docker("images", "-q", f"{tag}{suffix}:latest").stdout.strip() == "", "test image was not removed"
