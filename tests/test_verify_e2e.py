"""--verify: the image's printed output compared cell by cell with the saved notebook's."""

import nbformat
import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


def test_verify_reports_the_cell_whose_output_differs(docker_client, notebook_dir, tag):
    cells = [
        "values = [3, 1, 2]\nprint('sorted', sorted(values))",
        "import os\nprint('pid', os.getpid())",  # differs between kernel and image
        "sum(values)",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag} -q --verify",
        "print(len(img.differences), [d.cell for d in img.differences])",
    ]
    path = make_notebook(notebook_dir, cells)
    first = execute(path)
    # save the notebook with its outputs, as JupyterLab does, then run it again
    nbformat.write(first.nb, str(path))
    second = execute(path)
    assert "UsageError" not in second.text(4), second.text(4)
    assert second.text(5).strip() == "1 ['cell 2']"
    assert "--verify: cell 2: the kernel showed 'pid" in second.text(4)
