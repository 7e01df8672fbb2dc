"""Cell translation: magics translated, dropped, handed to requirements or left to IPython."""

import pytest

from dockermagic import capture, export, translate
from dockermagic.errors import NotebookError
from dockermagic.layout import PROGRAM_FILE


def test_magics_are_translated_dropped_or_handed_to_requirements():
    cells = [
        capture.Cell("cell 1", "%matplotlib inline\n%load_ext dockermagic\nimport math\n%pip install -q six==1.16.0"),
        capture.Cell("cell 2", "%%time\nx = math.sqrt(16)"),
        capture.Cell("cell 3", "img = %dockerize -t x\n!echo hi\nx"),
    ]
    program = export.export_script(cells, final_body="print('last')")
    text = program.files["program.py"]
    assert "run_line_magic('matplotlib'" not in text and "run_line_magic('load_ext'" not in text
    assert "run_line_magic('dockerize'" not in text
    assert "_dockermagic_runtime.Timed()" in text and "_dockermagic_runtime.system('echo hi')" in text
    assert not program.uses_ipython  # %%time and ! run without IPython
    assert [p.args for p in program.pip_lines] == [("-q", "six==1.16.0")]
    assert {d[1].split()[0] for d in program.dropped} == {"%matplotlib", "%load_ext", "%dockerize"}
    assert "_dockermagic_runtime.show((x), cell='cell 3')" in text
    assert text.rstrip().endswith("_dockermagic_runtime.cell_done('%%dockerize cell')")
    compile(text, "program.py", "exec")


def test_plain_python_needs_no_ipython_and_semicolon_hides_value():
    program = export.export_script([capture.Cell("cell 1", "a = 1\na;")])
    assert not program.uses_ipython
    assert "show(" not in program.files["program.py"]


def test_syntax_error_names_the_cell_and_suggests_bang():
    with pytest.raises(NotebookError, match=r"cell 2 has a syntax error.*!pip install pandas"):
        export.export_script([capture.Cell("cell 1", "x = 1"), capture.Cell("cell 2", "pip install pandas")])


# --- common magics without IPython -------------------------------------------------------------


COMMON_MAGICS = [
    "%%time\nx = sum(range(10))\nx * 2",
    "%time y = x + 1",
    "%time x - 1",
    "%time x;",
    "r = %timeit -o -q -n 3 -r 2 sum(range(5))\nr.loops",
    "%%timeit -n 2 -r 2 z = list(range(5))\nsorted(z)",
    "%%capture cap\nprint('hidden')\n42",
    "print(repr(cap.stdout), cap.outputs)",
    "%env DM_A=one two\n%env DM_A",
    "lines = !echo one; echo two 1>&2\nname = 'bob'\n!echo $name {name.upper()}\nlines.n",
    "%%writefile mod_w.py\ndef f():\n    return 7\n",
    "%%file -a mod_w.py\ndef g():\n    return 8\n",
    "from mod_w import f, g\nf() + g()",
    "%who int",
    "%%bash\necho from bash",
]


def test_common_magics_become_runtime_calls_without_ipython():
    cells = [capture.Cell(f"cell {i}", s) for i, s in enumerate(COMMON_MAGICS, 1)]
    program = export.export_script(cells)
    text = program.files["program.py"]
    assert not program.uses_ipython and program.ipython_magics == []
    assert "get_ipython" not in text
    assert "with _dockermagic_runtime.Timed() as _dockermagic_time:\n    x = sum(range(10))" in text
    assert "_dockermagic_runtime.show(_dockermagic_time.value, cell='cell 1')" in text
    assert "_dockermagic_runtime.show(_dockermagic_time.value, cell='cell 4')" not in text  # ``;`` hides it
    assert "def _dockermagic_timeit(_it, _timer):\n    z = list(range(5))\n    _t0 = _timer()" in text
    assert "with _dockermagic_runtime.capture(stdout=True, stderr=True, display=True) as cap:" in text
    assert "_dockermagic_runtime.getoutput('echo one; echo two 1>&2')" in text
    assert program.written_files == ["mod_w.py"]
    assert program.written_text["mod_w.py"].count("def ") == 2
    assert set(translate.TRANSLATED_MAGICS) >= {"%time", "%%time", "%timeit", "%%capture", "%%writefile", "!cmd"}
    compile(text, "program.py", "exec")


def test_magics_inside_blocks_and_multiline_strings_keep_their_meaning():
    cells = [
        capture.Cell(
            "cell 1",
            "for i in range(2):\n    !echo $i\n    %matplotlib inline\n%%time\n",
        ),
        capture.Cell("cell 2", '%%time\ns = """a\nb"""\nlen(s)'),
        capture.Cell("cell 3", "if True:\n    %time q = 1"),
    ]
    program = export.export_script(cells[1:])
    text = program.files["program.py"]
    assert '    s = """a\nb"""' in text  # the string's second line is not indented
    loop = translate.translate_cell("cell 1", "for i in range(2):\n    !echo $i\n    %matplotlib inline")[0].code
    assert loop == (
        "for i in range(2):\n    _dockermagic_runtime.system('echo $i')\n"
        "    pass  # %matplotlib inline  (kernel only: not run)\n"
    )
    nested = translate.translate_cell("cell 3", "if True:\n    %time q = 1")[0].code
    assert "if True:\n    with _dockermagic_runtime.Timed() as _dockermagic_time:\n        q = 1" in nested
    compile(text, "program.py", "exec")
    compile(loop, "cell", "exec")


def test_timeit_options_and_bad_lines_fall_back_to_ipython():
    code = translate.translate_cell("c", "%timeit -n 10 -r 3 -p 4 -t -v res sum([1])")[0].code
    assert "number=10, repeat=3, precision=4, quiet=False, timer='wall', result=False, save='res'" in code
    odd = translate.translate_cell("c", "%timeit --bogus x")[0]
    assert odd.uses_ipython and "run_line_magic('timeit'" in odd.code
    capture_options = translate.translate_cell("c", "%%capture --no-stderr --no-display out\nprint(1)")[0].code
    assert "capture(stdout=True, stderr=False, display=False) as out" in capture_options


def test_a_notebook_only_matplotlib_backend_is_not_set_in_the_image():
    cells = [
        capture.Cell(
            "cell 1",
            "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
            "import matplotlib.pyplot as plt\nplt.switch_backend('widget')\nmatplotlib.use('Agg')",
        )
    ]
    script = export.export_script(cells).files[PROGRAM_FILE]
    lines = [line.strip() for line in script.splitlines()]
    assert "# matplotlib.use('module://matplotlib_inline.backend_inline')" in " ".join(lines)
    assert not any(line.startswith(("matplotlib.use('module", "plt.switch_backend")) for line in lines), script
    assert "matplotlib.use('Agg')" in script  # a real backend is the program's choice
