"""The command line against a real engine: build a notebook file, run it, exit codes."""

import subprocess
import sys

import pytest
from conftest import make_notebook

pytestmark = [pytest.mark.engine]


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "dockermagic", *args], cwd=cwd, capture_output=True, text=True, timeout=900
    )


def test_cli_builds_and_runs_a_notebook_file(docker_client, notebook_dir, tag):
    path = make_notebook(
        notebook_dir,
        [
            "import json\nrows = [{'a': 1}]",
            "with open('result.json', 'w') as f:\n    json.dump(rows, f)\nprint('wrote', len(rows))",
        ],
    )
    built = _cli("build", str(path), "-t", tag, cwd=notebook_dir)
    assert built.returncode == 0, built.stderr + built.stdout
    assert "Step " in built.stdout and f"Image {tag}:latest" in built.stdout
    ran = _cli("run", tag, cwd=notebook_dir)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert "wrote 1" in ran.stdout and "exit code 0" in ran.stdout
    outputs = list((notebook_dir / "dockermagic-outputs").iterdir())
    assert (outputs[0] / "result.json").read_text() == '[{"a": 1}]'

    failed = _cli("run", tag, "--", "python", "-c", "import sys; sys.exit(3)", cwd=notebook_dir)
    assert failed.returncode == 1 and "exited with code 3" in failed.stderr
    bad = _cli("build", str(path), "-t", "Bad Tag", cwd=notebook_dir)
    assert bad.returncode == 2 and bad.stderr.startswith("dockermagic: invalid image tag")
