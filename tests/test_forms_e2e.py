"""IPython syntax in both program forms, dockerized and run from a real kernel."""

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]

CELLS = [
    "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "%%writefile notes.txt\nwritten by writefile",
    "%run other.py\n%run other.ipynb",
    "%time total = sum(range(VALUE))",
    "!echo shell-says-hi",
    "%%capture captured\nprint('quiet')",
    "plt.plot([1, 2, 3])\nplt.title('line')\nplt.show()",
    "print('total', total, captured.stdout.strip(), 'nb', NB_VALUE)",
    "%load_ext dockermagic",
]


def test_magics_in_script_and_notebook_forms(docker_client, notebook_dir, tag):
    (notebook_dir / "other.py").write_text("VALUE = 7\nprint('other ran')\n")
    make_notebook(notebook_dir, ["NB_VALUE = 5"], name="other.ipynb")
    cells = CELLS + [
        f"img = %dockerize -t {tag} -q",
        f"run = %docker_run {tag}",
        "print(sorted(p.relative_to(run.outputs).as_posix() for p in run.files))",
        f"img2 = %dockerize -t {tag}-nb --form notebook -q",
        f"run2 = %docker_run {tag}-nb",
        "print(sorted(p.relative_to(run2.outputs).as_posix() for p in run2.files))",
    ]
    path = make_notebook(notebook_dir, cells)
    result = execute(path)
    n = len(CELLS)
    for i in range(n + 6):
        assert not result.errors(i) and "UsageError" not in result.text(i), (i, result.text(i))
    script_logs = result.text(n + 1)
    for expected in ("other ran", "shell-says-hi", "total 21 quiet nb 5", "Wall time"):
        assert expected in script_logs, (expected, script_logs)
    files = result.text(n + 2)
    assert "'figures/figure-001.png'" in files and "'notes.txt'" in files
    assert "other.py" not in files  # copied in, not produced

    notebook_logs = result.text(n + 4)
    for expected in ("other ran", "shell-says-hi", "total 21 quiet nb 5"):
        assert expected in notebook_logs, (expected, notebook_logs)
    files = result.text(n + 5)
    for expected in ("'figures/figure-001.png'", "'notebook.executed.ipynb'", "'notebook.html'", "'notes.txt'"):
        assert expected in files, (expected, files)
