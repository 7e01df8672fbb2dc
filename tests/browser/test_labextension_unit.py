"""Runs the front end's unit tests (jest: the reducer and the panel's view, the contract with
the Python side's fixtures, tag explanations, paths, options) and its linters (eslint,
prettier, stylelint), so that the project's single pytest command covers them too."""

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "labextension"

pytestmark = [pytest.mark.node]


@pytest.fixture(scope="module")
def jlpm():
    path = shutil.which("jlpm")
    assert path, "jlpm (from jupyterlab) is needed: pip install jupyterlab"
    if (
        not (LABEXT / "node_modules" / "jest" / "package.json").exists()
        or not (LABEXT / "node_modules" / "eslint" / "package.json").exists()
    ):
        install = subprocess.run([path, "install"], cwd=LABEXT, capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stdout[-4000:] + install.stderr[-4000:]
    return path


def test_labextension_unit_tests(jlpm):
    proc = subprocess.run([jlpm, "test", "--ci"], cwd=LABEXT, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, output[-6000:]
    match = re.search(r"Tests:\s+(?:\d+ \w+, )*(\d+) passed, (\d+) total", output)
    assert match and match.group(1) == match.group(2) and int(match.group(1)) > 100, output[-2000:]
    # the contract suite read the Python side's fixtures
    assert "contract.spec.ts" in output, output[-2000:]


def test_labextension_lint(jlpm):
    """eslint, prettier and stylelint, configured as in the JupyterLab extension template."""
    proc = subprocess.run([jlpm, "lint:check"], cwd=LABEXT, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, output[-6000:]


def test_installed_package_lists_the_lab_extension():
    """`pip install .` (or -e .) installs both halves: JupyterLab lists dockermagic enabled and OK."""
    try:
        importlib.metadata.distribution("dockermagic")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("dockermagic is not pip-installed in this environment (run: pip install -e .)")
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    lines = [line for line in listing.splitlines() if line.strip().startswith("dockermagic ")]
    assert lines, listing
    assert "enabled" in lines[0] and "OK" in lines[0], listing
