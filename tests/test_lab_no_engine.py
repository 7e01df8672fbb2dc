"""The kernel side of the JupyterLab button with the real API and no engine: an error payload,
never an exception (a subprocess with a socket nobody answers; no engine needed)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_engine_is_reported_not_raised(tmp_path):
    """The real API with an engine address nobody answers: an error payload, no exception."""
    code = f"""
import json, os
os.environ["DOCKER_HOST"] = "unix://{tmp_path}/nobody.sock"
from dockermagic import lab
sent = []
pub = lab.Publisher(send=lambda bundle, did, update: sent.append(bundle[lab.MIME]))
lab.dockerize_from_lab({{"notebook": "heart_roc.ipynb", "tag": "dmtest-lab-noengine"}}, publisher=pub)
print(json.dumps(sent[-1]))
"""
    env = {"PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    import os

    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "examples",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert payload["kind"] == "error", payload
    assert payload["error"]["kind"] == "no-engine" and payload["error"]["type"] == "EngineUnavailable", payload
    assert "\n" not in payload["error"]["message"]
