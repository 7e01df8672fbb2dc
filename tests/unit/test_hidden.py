"""Hidden state: does the saved notebook reproduce the kernel?"""

from dockermagic import capture, hidden


def test_order_problems_name_cell_and_name():
    cells = [
        capture.Cell("cell 1", "y = x + 1"),
        capture.Cell("cell 2", "x = 41"),
        capture.Cell("cell 3", "import os\nprint(os.sep, y)"),
    ]
    assert hidden.order_problems(cells) == [("cell 1", "x", "cell 2")]
    reasons, _ = hidden.compare(cells, [capture.Cell("In [1]", "x = 41"), capture.Cell("In [2]", "y = x + 1")])
    assert "cell 1 uses 'x' before cell 2 defines it" in reasons
