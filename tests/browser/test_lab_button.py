"""Browser test of the JupyterLab "Dockerize" button, against a real JupyterLab and Docker engine.

Starts JupyterLab (allow_root, a token, a free port, root dir = a temporary copy of
``examples/``), and drives Debian's Chromium with playwright-core
(``labextension/ui-tests/lab-button.mjs``): open ``heart_roc.ipynb``, click Dockerize, fill
in the dialog, wait for the real build and run, check the panel's summary and figures, save
``docs/lab-button.png``, then shut the kernel down and check the button is disabled with a
tooltip. The image and containers it makes are tagged ``dmtest-lab-<random>`` and removed.

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
SCREENSHOT = ROOT / "docs" / "lab-button.png"
NOTEBOOK = "heart_roc.ipynb"

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
    """Remove every container and image of this run: named ``prefix`` (its unique tag), and the
    untagged builder-stage images its build left behind (new since ``dangling_before``)."""
    ids = set()
    for flt in (f"ancestor={prefix}:latest", f"label=org.dockermagic.image={prefix}:latest",
                f"label=org.dockermagic.image={prefix}", f"name=dm-{prefix}"):
        ids.update(_docker("ps", "-aq", "--filter", flt).stdout.split())
    if ids:
        _docker("rm", "-f", *sorted(ids))
    refs = [line for line in _docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
            if line.split(":")[0] == prefix]
    if refs:
        _docker("rmi", "-f", *refs)
    leftovers = _dangling_dockermagic_images() - set(dangling_before)
    if leftovers:
        _docker("rmi", *sorted(leftovers))


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
    shutil.copytree(ROOT / "examples", root,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "dockermagic-outputs", "__pycache__"))
    assert (root / NOTEBOOK).exists(), f"examples/{NOTEBOOK} is missing"
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
c.LabApp.workspaces_dir = {str(tmp_path / 'workspaces')!r}
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabServerApp.extra_labextensions_path = {extra_paths!r}
c.LabApp.user_settings_dir = {str(settings_dir)!r}
""")
    log_path = tmp_path / "jupyterlab.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser"], cwd=root, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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


def test_dockerize_button_builds_and_runs(jupyterlab, tmp_path):
    url, token, root, log_path = jupyterlab
    tag = f"dmtest-lab-{uuid.uuid4().hex[:8]}"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    failure_shot = tmp_path / "failure.png"
    env = dict(os.environ, DM_LAB_URL=url, DM_LAB_TOKEN=token, DM_NOTEBOOK=NOTEBOOK, DM_TAG=tag,
               DM_SCREENSHOT=str(SCREENSHOT), DM_RUN_AFTER="1", DM_TIMEOUT_S="900",
               DM_FAILURE_SCREENSHOT=str(failure_shot), PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1",
               CHROMIUM="/usr/bin/chromium")
    dangling_before = _dangling_dockermagic_images()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(["node", str(SCRIPT)], cwd=ROOT / "labextension", env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watchdog = threading.Timer(1300, proc.kill)
        watchdog.start()
        lines, image_seen = [], None
        try:
            for line in proc.stdout:
                print(line, end="")
                lines.append(line.rstrip("\n"))
                if line.startswith("PASS summary names the tag") and image_seen is None:
                    # Check the engine right away (another suite's clean-up may sweep dmtest-* later).
                    image_seen = _docker("image", "inspect", "--format", "{{.Id}}", f"{tag}:latest")
            proc.wait()
        finally:
            watchdog.cancel()
        print(f"browser test took {time.monotonic() - started:.0f} s")
        result_lines = [line for line in lines if line.startswith("DM_RESULT ")]
        assert result_lines, "the browser script printed no result (exit %s):\n%s" % (proc.returncode, "\n".join(lines[-60:]))
        result = json.loads(result_lines[-1][len("DM_RESULT "):])
        if not result["ok"]:
            print("--- JupyterLab log (tail) ---\n" + log_path.read_text()[-6000:])
        failed = [c for c in result["checks"] if not c["ok"]]
        assert proc.returncode == 0 and result["ok"], (
            f"browser test failed: {result.get('error')}\nfailed checks: {failed}\n"
            f"failure screenshot: {failure_shot if failure_shot.exists() else 'none'}")
        names = {c["name"] for c in result["checks"]}
        for expected in ("button enabled with a kernel", "tag pre-filled from the notebook name",
                         "build succeeded", "run succeeded", "summary names the tag", "run shows its figures",
                         "missing dockermagic explained with %pip install",
                         "button disabled without a kernel, with a tooltip"):
            assert expected in names, f"check {expected!r} did not run"
        assert result["summary"]["tag"].startswith(tag)
        assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 10_000
        # The image really exists on the engine, with the id the panel showed.
        assert image_seen is not None and image_seen.returncode == 0, image_seen and image_seen.stderr
        assert image_seen.stdout.strip().replace("sha256:", "").startswith(result["summary"]["imageId"])
    finally:
        _remove_test_artifacts(tag, dangling_before)
    assert _docker("images", "-q", f"{tag}:latest").stdout.strip() == "", "test image was not removed"
