"""Program export: the exported script runs as the notebook ran; the notebook form, parameters, PEP 723."""

import json
import os
import re
import subprocess
import sys

import pytest
import tomllib
from test_translate import COMMON_MAGICS

from dockermagic import capture, context, export

# --- running the exported program ----------------------------------------------------------------


def _run(tmp_path, program, env=None):
    """Run an exported program with this machine's Python, beside a copy of the runtime."""
    import shutil

    (tmp_path / "program.py").write_text(program.files["program.py"])
    shutil.copytree(context.RUNTIME_SOURCE, tmp_path / "_dockermagic_runtime", dirs_exist_ok=True)
    (tmp_path / "matplotlibrc").write_text("savefig.dpi: 12\n")  # small PNGs: the test is about which, not how
    environ = {
        "MATPLOTLIBRC": str(tmp_path / "matplotlibrc"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.path.expanduser("~"),  # matplotlib's font cache lives there
        "PYTHONPATH": str(tmp_path),
        "MPLBACKEND": "module://_dockermagic_runtime.mpl_backend",
        "PYTHONIOENCODING": "utf-8",
        **(env or {}),
    }
    return subprocess.run([sys.executable, "program.py"], cwd=tmp_path, env=environ, capture_output=True, text=True)


def test_common_magics_print_what_the_kernel_prints(tmp_path):
    cells = [capture.Cell(f"cell {i}", s) for i, s in enumerate(COMMON_MAGICS, 1)]
    out = _run(tmp_path, export.export_script(cells))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    cpu = [i for i, line in enumerate(lines) if line.startswith("CPU times: user ")]
    assert len(cpu) == 4 and all(", sys: " in lines[i] and ", total: " in lines[i] for i in cpu)
    assert sum(line.startswith("Wall time: ") for line in lines) == 4
    # %%time shows the body's value after the timing lines; %time x - 1 too; ``%time x;`` nothing
    # (positions, not texts: two timing lines can read the same)
    assert lines[cpu[0] + 2] == "90"
    assert lines[cpu[2] + 2] == "44"
    assert "3" in lines  # r.loops: -q printed nothing, -o returned the result
    per_loop = [line for line in lines if " per loop (mean " in line]
    assert len(per_loop) == 1 and per_loop[0].endswith("(mean \u00b1 std. dev. of 2 runs, 2 loops each)")
    assert "hidden" not in lines and "'hidden\\n' [42]" in lines
    assert "env: DM_A=one two" in lines and "'one two'" in lines
    assert "bob BOB" in lines and "'one\\ntwo'" in lines
    assert lines.count("Writing mod_w.py") == 1 and "Appending to mod_w.py" in lines and "15" in lines
    assert "x\t y\t" in out.stdout  # %who int
    assert "from bash" in lines


def test_magics_that_need_ipython_keep_it_and_say_which():
    cells = [
        capture.Cell("cell 1", "%load_ext line_profiler\ndef f():\n    return 1"),
        capture.Cell("cell 2", "%lprun -f f f()\n%time f()"),
        capture.Cell("cell 3", "%%html\n<b>hi</b>"),
    ]
    program = export.export_script(cells)
    text = program.files["program.py"]
    assert program.uses_ipython
    assert program.ipython_magics == [("cell 2", "%lprun"), ("cell 3", "%%html")]
    assert program.extension_imports == [("cell 1", "line_profiler")]
    # the extension loads in the image (its package is an import the requirements stage sees)
    assert "import line_profiler" in text and "get_ipython().run_line_magic('load_ext', 'line_profiler')" in text
    assert "_dockermagic_runtime.Timed()" in text  # %time is still translated


def test_load_ext_without_ipython_magics_is_dropped_but_named():
    cells = [capture.Cell("cell 1", "%load_ext memory_profiler\n%load_ext autoreload\n%autoreload 2\nx = 1")]
    program = export.export_script(cells)
    text = program.files["program.py"]
    assert not program.uses_ipython
    assert program.extension_imports == [("cell 1", "memory_profiler")]  # IPython's own autoreload is not
    assert "import memory_profiler" not in text and "# %load_ext memory_profiler" in text
    # the notebook form runs the kernel: the extension is kept there
    nb_program = export.export_notebook(cells)
    assert "%load_ext memory_profiler" in nb_program.files["notebook.ipynb"]
    assert "# %load_ext memory_profiler" not in nb_program.files["notebook.ipynb"]
    assert any("import memory_profiler" in c.code for c in nb_program.cells)


def test_exported_script_runs_and_figures_follow_the_inline_backend(tmp_path):
    pytest.importorskip("matplotlib")
    cells = [
        capture.Cell("cell 1", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2], label='a')"),
        capture.Cell("cell 2", "ax.legend()\nfig"),  # shown again: the notebook showed it twice
        capture.Cell("cell 3", "fig2, ax2 = plt.subplots()\nax2.plot([3, 1])\nfig2"),  # value + open figure
        capture.Cell("cell 4", "plt.plot([1, 2])\nplt.show()"),  # once
        capture.Cell("cell 5", "fig3 = plt.figure(); plt.plot([1]); display(fig3)"),  # display + open figure
        capture.Cell("cell 6", "plt.figure()"),  # empty: no image, as the inline backend
        capture.Cell("cell 7", "fig;"),  # hidden value
        capture.Cell("cell 8", "%%capture cap\nplt.plot([1, 3])"),  # captured, not shown
        capture.Cell("cell 9", "cap.show()"),  # shown now
        capture.Cell("cell 10", "open('out.txt', 'w').write('ok')\n'done'"),
    ]
    out = _run(tmp_path, export.export_script(cells))
    assert out.returncode == 0, out.stderr
    assert "'done'" in out.stdout and (tmp_path / "out.txt").read_text() == "ok"
    saved = [line.split(": ")[1] for line in out.stdout.splitlines() if "figure saved" in line]
    assert len(saved) == 8, out.stdout
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [f"figure-{i:03d}.png" for i in range(1, 9)]
    assert out.stdout.count("<Figure size 640x480 with 0 Axes>") == 2


def test_ipython_display_import_and_png_objects_are_saved(tmp_path):
    cells = [
        capture.Cell(
            "cell 1",
            "class Pic:\n    def _repr_png_(self):\n        return b'\\x89PNG fake'\n    def __repr__(self):\n"
            "        return '<Pic>'\nPic()",
        ),
        capture.Cell("cell 2", "display(Pic(), 5)"),
    ]
    out = _run(tmp_path, export.export_script(cells))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("figure saved") == 2 and "<Pic>" in out.stdout and "5" in out.stdout.splitlines()
    assert (tmp_path / "figures" / "figure-001.png").read_bytes() == b"\x89PNG fake"


# --- PEP 723 -------------------------------------------------------------------------------------


def _script_block(text):
    match = re.search(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$", text)
    assert match and match.group("type") == "script"
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:] for line in match.group("content").splitlines(True)
    )
    return tomllib.loads(content)


def test_script_metadata_is_pep_723_and_valid_toml():
    program = export.export_script([capture.Cell("cell 1", "import math\nmath.pi")])
    described = export.add_script_metadata(
        program,
        ["pandas==2.2.2", "numpy==1.26.4", 'tzdata==2024.1 ; sys_platform == "win32"', "--hash=sha256:abc"],
        (3, 11, 7),
        "https://mirror.example/simple",
        ["https://download.pytorch.org/whl/cu121"],
    )
    text = described.files["program.py"]
    assert text.startswith("# /// script\n")
    data = _script_block(text)
    assert data["requires-python"] == "==3.11.*"
    assert data["dependencies"] == ["pandas==2.2.2", "numpy==1.26.4", 'tzdata==2024.1 ; sys_platform == "win32"']
    assert data["tool"]["uv"] == {
        "index-url": "https://mirror.example/simple",
        "extra-index-url": ["https://download.pytorch.org/whl/cu121"],
    }
    assert program.files["program.py"] != text  # a new Program; the original is unchanged
    compile(text, "program.py", "exec")
    again = export.add_script_metadata(described, ["six==1.16.0"], (3, 12), "https://pypi.org/simple", [])
    assert again.files["program.py"].count("# /// script") == 1
    data = _script_block(again.files["program.py"])
    assert data == {"requires-python": "==3.12.*", "dependencies": ["six==1.16.0"]}  # PyPI: no [tool.uv]


def test_script_metadata_leaves_notebook_forms_alone():
    program = export.export_notebook([capture.Cell("cell 1", "x = 1")])
    assert export.add_script_metadata(program, ["six==1.16.0"], (3, 11), None, []) is program


def test_parameters_are_injected_after_their_cell_and_records_are_written(tmp_path):
    cells = [
        capture.Cell("cell 1", "import dockermagic as dm\nfrom dockermagic import record"),
        capture.Cell("cell 2", "# parameters\nC = 1.0\nname = 'a'", tags=("parameters",)),
        capture.Cell("cell 3", "for i in range(2):\n    dm.record(f'r{i}', C * i)\nrecord('name', name)"),
        capture.Cell("cell 4", "img = %dockerize -t x\ndm.dockerize('x.ipynb')"),
    ]
    program = export.export_script(cells, parameters_cell="cell 2")
    text = program.files["program.py"]
    assert "import _dockermagic_runtime as dm" in text and "from _dockermagic_runtime import record" in text
    assert "dm.dockerize('x.ipynb')  (dockermagic: kernel only, not run)" in text
    assert text.index("inject_parameters(globals())") > text.index("name = 'a'")
    out = _run(tmp_path, program, env={"DOCKERMAGIC_PARAMETERS": json.dumps({"C": "2.5", "name": "'b'"})})
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "records.json").read_text()) == {"r0": 0.0, "r1": 2.5, "name": "b"}
    assert "[dockermagic] parameter C = 2.5" in out.stdout
