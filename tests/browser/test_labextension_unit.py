"""Runs the front end's unit tests (jest: tag sanitising, progress reduction, error
classification) so that the project's single pytest command covers them too."""

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "labextension"


def test_labextension_unit_tests():
    jlpm = shutil.which("jlpm")
    assert jlpm, "jlpm (from jupyterlab) is needed: pip install jupyterlab"
    if not (LABEXT / "node_modules" / "jest" / "package.json").exists():
        install = subprocess.run([jlpm, "install"], cwd=LABEXT, capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stdout[-4000:] + install.stderr[-4000:]
    proc = subprocess.run([jlpm, "test", "--ci"], cwd=LABEXT, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, output[-6000:]
    match = re.search(r"Tests:\s+(?:\d+ \w+, )*(\d+) passed, (\d+) total", output)
    assert match and match.group(1) == match.group(2) and int(match.group(1)) > 50, output[-2000:]
