"""Statement-level replay of failed cells: failing lines from tracebacks, exceptions and statically,
and cells cut before them."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockermagic import capture, context, export, replay

# Error outputs as saved notebooks hold them (IPython 8.12 in a kernel, with colour codes; IPython 9.x)
_SAVED = json.loads((Path(__file__).parent / "replay_tracebacks.json").read_text())
KERNEL_RAISE = _SAVED["kernel_raise"]
KERNEL_SYNTAX = _SAVED["kernel_syntax"]
KERNEL_TIMED_CELL = _SAVED["kernel_timed_cell"]
KERNEL_CALLED = _SAVED["kernel_called"]
IPYTHON9_TIMED_CELL = _SAVED["ipython9_timed_cell"]
# IPython 8.0-8.4 and 7.x
IPYTHON80 = """---------------------------------------------------------------------------
KeyError                                  Traceback (most recent call last)
Input In [4], in <cell line: 5>()
      3 import pandas as pd
      4 df = pd.DataFrame()
----> 5 df['missing']
"""
IPYTHON7 = """---------------------------------------------------------------------------
NameError                                 Traceback (most recent call last)
<ipython-input-4-1b2c3d4e5f60> in <module>
      1 import numpy as np
----> 2 np.foo(undefined)

NameError: name 'undefined' is not defined"""
IPYTHON7_SYNTAX = """  File "<ipython-input-3-0a1b2c3d4e5f>", line 2
    b = (
        ^
SyntaxError: unexpected EOF while parsing"""


def test_error_line_reads_every_traceback_format():
    assert replay.error_line(KERNEL_RAISE) == 3
    assert replay.error_line("\n".join(KERNEL_RAISE)) == 3
    assert replay.error_line(KERNEL_CALLED) == 2  # the failing cell's line, not the called function's
    assert replay.error_line(IPYTHON80) == 5
    assert replay.error_line(IPYTHON7) == 2
    assert replay.error_line(IPYTHON9_TIMED_CELL) == 3  # %%time's body line 2 is the cell's line 3
    assert replay.error_line([]) is None and replay.error_line("") is None


def test_error_line_of_a_cell_that_did_not_compile_is_its_first():
    assert replay.error_line(KERNEL_SYNTAX) == 1
    assert replay.error_line(IPYTHON7_SYNTAX) == 1


def test_timed_failures_need_the_source_when_ipython_hides_the_cell_frame():
    assert replay.error_line(KERNEL_TIMED_CELL) is None  # IPython 8 names only <timed exec>
    assert replay.error_line(KERNEL_TIMED_CELL, "%%time\nq = 1\nundefined_name\nw = 2") == 3
    timed_eval = "NameError      Traceback (most recent call last)\nFile <timed eval>:1\n\nNameError: x"
    assert replay.error_line(timed_eval, "a = 1\n%time x\nb = 2") == 2


def test_line_from_a_live_exception():
    namespace = {}
    source = "x = 1\ny = 2\nraise ValueError('boom')\n"
    with pytest.raises(ValueError) as info:
        exec(compile(source, "/tmp/ipykernel_123/4567.py", "exec"), namespace)
    assert replay.line_from_exception(info.value) == 3
    assert namespace["y"] == 2
    with pytest.raises(ZeroDivisionError) as info:
        exec(compile("def f():\n    return 1 / 0\n", "<ipython-input-1-abc>", "exec"), namespace)
        exec(compile("a = 1\nf()\n", "<ipython-input-2-def>", "exec"), namespace)
    assert replay.line_from_exception(info.value) == 2
    assert replay.line_from_exception(info.value, filename="<ipython-input-1-abc>") is None  # not a module frame
    assert replay.is_cell_file("/tmp/ipykernel_98/123456.py") and not replay.is_cell_file("/usr/lib/x.py")
    try:
        raise KeyError("no cell")
    except KeyError as exc:
        assert replay.line_from_exception(exc) is None


def test_static_failure_finds_the_first_undefined_read():
    cells = [
        ("cell 1", "import numpy as np\nx = np.zeros(3)"),
        ("cell 2", "y = x + 1\nz = undefined_thing(y)\nimport pandas as pd"),  # failed at line 2
        ("cell 3", "pd.DataFrame()"),  # pandas was never imported: failed too
        ("cell 4", "%%time\nq = np.ones(2)\nbad(q)\nw = 1"),
        ("cell 5", "%time t = y * 2\nt"),  # fine: %time defines t
    ]
    assert replay.static_failure(cells) == {"cell 2": 2, "cell 3": 1, "cell 4": 3}


def test_static_failure_only_counts_reads_that_surely_happen():
    source = textwrap.dedent(
        """\
        [i for i in range(3)]
        (n := 3) + n
        for k in range(2):
            pass
        print(k)
        f = lambda: not_yet
        def g(a=1):
            return later
        class C(object):
            attribute = whatever
        if False:
            maybe()
        try:
            risky()
        except NameError:
            pass
        files = !ls
        files
        %%capture
        """
    )
    assert replay.static_failure([("cell 1", source)]) == {}
    assert replay.static_failure([("c", "_ + __ + _i3 + _exit_code")]) == {}
    assert replay.static_failure([("c", "x = y")], defined=["y"]) == {}
    # a star import (or %run) can define anything: the search stops there
    assert replay.static_failure([("c1", "from math import *"), ("c2", "sqrt(2)\nunknown")]) == {}
    assert replay.static_failure([("c1", "%run setup.py"), ("c2", "configured")]) == {}
    assert replay.static_failure([("c1", "x = ("), ("c2", "print(1)")]) == {}  # unreadable: skipped


def test_keep_before_cuts_at_the_failing_statement():
    kept, dropped = replay.keep_before("x = 1\ny = 2\nraise ValueError('boom')\nz = 3", 3)
    assert kept == "x = 1\ny = 2" and dropped == [(3, "raise ValueError('boom')"), (4, "z = 3")]
    assert replay.keep_before("import math\nmath.sqrt(\n    2)\nboom()", 4)[0].startswith(
        "import math\nmath.sqrt(\n    2)"
    )
    kept, _ = replay.keep_before("import math\nmath.pi\nboom()", 3)
    # the kernel never showed math.pi (the cell failed later): no value may be shown now
    assert kept.splitlines()[-1].startswith("pass  # (dockermagic) the kernel stopped this cell at: boom()")
    assert replay.keep_before("a = 1\nfail()", None) == ("a = 1\nfail()", [])
    assert replay.keep_before("first()\nsecond()", 1) == ("", [(1, "first()"), (2, "second()")])
    assert replay.keep_before("a = 1\nb = (\n", 1) == ("", [(1, "a = 1")])  # did not compile: nothing ran


def test_keep_before_works_on_ipython_syntax():
    source = "\n\n%matplotlib inline\nimport numpy as np\n!echo hi\nfoo()\nx = 1"
    # the kernel counted lines without the leading blank ones: line 4 is foo()
    kept, dropped = replay.keep_before(source, 4)
    assert kept.startswith("\n\n%matplotlib inline\nimport numpy as np\n!echo hi")
    assert dropped == [(6, "foo()"), (7, "x = 1")]
    kept, dropped = replay.keep_before("%%time\nq = 1\nundefined_name\nw = 2", 3)
    assert kept == "%%time\nq = 1" and dropped == [(3, "undefined_name"), (4, "w = 2")]
    assert replay.keep_before("%%bash\necho hi\nexit 1", 2) == ("", [(1, "%%bash")])
    decorated = "import functools\n@functools.lru_cache\ndef f():\n    return 1\nboom()"
    assert replay.keep_before(decorated, 5)[0] == "import functools\n@functools.lru_cache\ndef f():\n    return 1"
    assert replay.keep_before(decorated, 3) == ("import functools", [(2, "@functools.lru_cache"), (5, "boom()")])


def test_kept_cells_export_and_hold_what_the_kernel_held(tmp_path):
    cells = [
        ("cell 1", "import math\nvalue = math.sqrt(16)\nresult = value / undefined\nlater = 1"),
        ("cell 2", "%%time\nsquare = value ** 2\nsquare.bad_attribute\nnever = 1"),
        ("cell 3", "print(value, square, 'later' in dir(), 'never' in dir())"),
    ]
    failed = replay.static_failure(cells[:1])
    failed["cell 2"] = replay.error_line(IPYTHON9_TIMED_CELL)  # from the saved notebook
    kept = [capture.Cell(label, replay.keep_before(text, failed.get(label))[0]) for label, text in cells]
    program = export.export_script(kept)
    assert not program.uses_ipython
    (tmp_path / "program.py").write_text(program.files["program.py"])
    shutil.copytree(context.RUNTIME_SOURCE, tmp_path / "_dockermagic_runtime")
    out = subprocess.run([sys.executable, "program.py"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "4.0 16.0 False False"
