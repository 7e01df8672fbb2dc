"""Real projects, not only a notebook (issue 12), in real kernels against the real engine: data
above the notebook's folder, files that travel together, the project's own code, a cell that
failed before the extension was loaded, magics without IPython, figures without plt.show(),
system libraries and programs, extensions' magics, and a notebook form that does not hang."""

import json
import os
import subprocess
import sys

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]

REPORT = (
    "import json\n"
    "print('REPORT ' + json.dumps({'files': img.files, 'notes': img.notes, "
    "'requirements': [r.name.lower() for r in img.requirements], 'dockerfile': img.dockerfile, "
    "'system': [p for p, _ in img.system_packages], 'exit_code': run.exit_code, "
    "'outputs': sorted(str(f.relative_to(run.outputs)) for f in run.files), 'figures': len(run.figures), "
    "'logs': run.logs}))"
)


def _report(executed, index):
    text = executed.text(index)
    assert "REPORT " in text, text
    return json.loads(text.split("REPORT ", 1)[1].splitlines()[0])


def _cookiecutter(root):
    """A cookiecutter-data-science shaped project: pyproject at the root, data/, src/, notebooks/."""
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'heart-study'\nversion = '0.1'\n")
    (root / "src").mkdir()
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "features.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "measurements.csv").write_text("1.0,2.0\n3.0,4.0\n")
    (root / "data" / "days").mkdir()
    for i in range(3):
        (root / "data" / "days" / f"day_{i}.csv").write_text(f"{i}\n")
    (root / "data" / "shapes").mkdir()
    for ext in ("shp", "shx", "dbf", "prj"):
        (root / "data" / "shapes" / f"points.{ext}").write_text(f"{ext} bytes")
    (root / "data" / "unrelated").mkdir()
    (root / "data" / "unrelated" / "big.bin").write_bytes(b"x" * 100_000)


def test_a_project_notebook_runs_in_its_image_as_in_its_kernel(docker_client, notebook_dir, tag):
    root = notebook_dir / "study"
    _cookiecutter(root)
    cells = [
        "import sys, os, glob\nimport numpy as np\nsys.path.append('..')\nfrom src.features import double",
        # raised in the kernel before the extension was loaded: values exists, the rest never ran
        "values = np.loadtxt('../data/raw/measurements.csv', delimiter=',')\nbroken = 1 / 0\nnever = 2",
        "days = [open(f'../data/days/day_{i}.csv').read() for i in range(3)]\n"
        "files = sorted(glob.glob('../data/days/*.csv'))\n"
        "shp = '../data/shapes/points.shp'\nshape = open(shp).read()\ndbf = open(shp[:-4] + '.dbf').read()\n"
        # an absolute path inside the project: the project's own path works in the image too
        f"absolute = open('{root.resolve()}/data/days/day_1.csv').read()\nprint('absolute', absolute.strip())",
        "labels = {'source': '../data/unrelated'}\nlabels['source']",
        "%%time\ntotal = double(values.sum())\nprint('total', total)",
        "!echo shell says hi",
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot(values[:, 0])",
        "ax.legend(['values'])\nfig",
        "import pickle\nos.makedirs('../models', exist_ok=True)\n"
        "pickle.dump({'total': total}, open('../models/model.pkl', 'wb'))\nprint(len(days), len(files), len(dbf))",
        "%%writefile helpers.py\ndef triple(x):\n    return 3 * x",
        "from helpers import triple\nprint('triple', triple(2))",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag} -q\nrun = %docker_run {tag}",
        REPORT,
    ]
    path = make_notebook(root / "notebooks", cells, name="analysis.ipynb")
    executed = execute(path)
    assert executed.errors(1), "cell 2 must fail in the kernel"
    kernel_figures = sum("image/png" in o.get("data", {}) for c in executed.code_cells for o in c.outputs)
    assert "UsageError" not in executed.text(12) and not executed.errors(12), executed.text(12)
    report = _report(executed, 13)
    assert report["exit_code"] == 0, report["logs"]
    for text in ("total 20.0", "shell says hi", "triple 6", "3 3 9", "absolute 1"):
        assert text in report["logs"], (text, report["logs"])
    files = set(report["files"])
    assert {
        "data/raw/measurements.csv",
        "data/days/day_0.csv",
        "data/days/day_2.csv",
        "data/shapes/points.shp",
        "data/shapes/points.shx",
        "data/shapes/points.dbf",
        "data/shapes/points.prj",
        "src",
        "notebooks/program.py",
    } <= files, files
    assert not any(f.startswith(("data/unrelated", "models")) for f in files), files
    assert "WORKDIR /app/notebooks" in report["dockerfile"]
    notes = " | ".join(report["notes"])
    assert "cell 2" in notes and "left out: line 2: broken = 1 / 0" in notes, notes
    assert "data: data/raw/measurements.csv (loadtxt('../data/raw/measurements.csv') in cell 2, line 1)" in notes
    assert "ipython" not in report["requirements"], report["requirements"]  # %%time and ! need no IPython
    assert report["figures"] == kernel_figures == 2, (report["figures"], kernel_figures)
    assert "project-files/models/model.pkl" in report["outputs"] and "helpers.py" in report["outputs"]


def test_a_path_outside_the_project_is_named_before_the_build(docker_client, notebook_dir, tag):
    root = notebook_dir / "study"
    _cookiecutter(root)
    (notebook_dir / "shared.csv").write_text("1\n")
    cells = [
        "rows = open('../../shared.csv').read()",
        "%load_ext dockermagic",
        f"%dockerize -t {tag}",
        "import dockermagic.api\nprint('last build:', dockermagic.api.last_build())",
        "days = open('../data/days/day_1.csv').read()",
        f"plan = %dockerize -t {tag} --dry-run --exclude ../../shared.csv --exclude '../data/days/*'\n"
        "print('FILES', sorted(plan.files))",
    ]
    executed = execute(make_notebook(root / "notebooks", cells))
    # excluded, what the program reads outside the project is no longer an error, nor copied
    assert "UsageError" not in executed.text(5), executed.text(5)
    listed = executed.text(5).split("FILES ", 1)[1]
    assert "day_1" not in listed and "shared" not in listed and "notebooks/program.py" in listed, listed
    lines = [line for line in executed.text(2).splitlines() if line.startswith("UsageError: ")]
    assert len(lines) == 1 and "Traceback" not in executed.text(2), executed.text(2)
    assert f"cell 1, line 1 reads {(notebook_dir / 'shared.csv').resolve()}, outside the project" in lines[0]
    assert "-v " in lines[0] and "last build: None" in executed.text(3)
    assert not docker_client.images.list(name=tag)


def test_an_editable_project_package_is_installed_in_the_image(docker_client, notebook_dir, tag, tmp_path):
    """pip install -e . in the kernel's environment, as cookiecutter-data-science does: the image
    installs the package's source (not editable)."""
    root = notebook_dir / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n"
        "[project]\nname = 'dmtest-features'\nversion = '0.3'\ndependencies = ['six']\n"
        "[tool.setuptools.packages.find]\nwhere = ['src']\n"
    )
    (root / "src" / "dmfeatures").mkdir(parents=True)
    (root / "src" / "dmfeatures" / "__init__.py").write_text("import six\n\ndef answer():\n    return 42\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(root)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    kernels = tmp_path / "share" / "jupyter" / "kernels" / "dmvenv"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "venv",
                "language": "python",
            }
        )
    )
    cells = [
        "from dmfeatures import answer\nprint('answer', answer())",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag} -q\nrun = %docker_run {tag}",
        REPORT,
    ]
    executed = execute(
        make_notebook(root / "notebooks", cells),
        kernel_name="dmvenv",
        extra_env={"JUPYTER_PATH": str(tmp_path / "share" / "jupyter")},
    )
    assert "UsageError" not in executed.text(2) and not executed.errors(2), executed.text(2)
    report = _report(executed, 3)
    assert "answer 42" in report["logs"] and "dmtest-features" in report["requirements"]
    assert "six" in report["requirements"]  # its dependency, pinned from the kernel
    context = next(p for p in (os.path.expanduser("~/.cache/dockermagic/contexts"),) if p)
    listing = subprocess.run(
        ["ls", "-R", f"{context}/{tag}-latest/.dockermagic/projects"], capture_output=True, text=True
    ).stdout
    assert "pyproject.toml" in listing and "notebooks" not in listing, listing


def test_system_libraries_and_programs_come_with_the_image(docker_client, notebook_dir, tag):
    cells = [
        "import cv2, lightgbm, graphviz\nimport numpy as np\n"
        "cv2.imwrite('square.png', np.zeros((8, 8, 3), dtype='uint8'))\n"
        "model = lightgbm.LGBMRegressor(n_estimators=2, min_child_samples=1, verbose=-1)\n"
        "model.fit(np.arange(20).reshape(-1, 1), np.arange(20))\n"
        "graphviz.Digraph(edge_attr={}).render('graph', format='png')\nprint('made them')",
        "%load_ext dockermagic",
        f"plan = %dockerize -t {tag} --dry-run --apt jq\nimg = %dockerize -t {tag} -q --apt jq\n"
        f"run = %docker_run {tag}",
        REPORT,
        f"%docker_run {tag} -- jq --version",
    ]
    executed = execute(make_notebook(notebook_dir, cells))
    assert "UsageError" not in executed.text(2) and not executed.errors(2), executed.text(2)
    dry = executed.text(2)
    assert "#   jq: added with --apt" in dry, dry
    assert "jq-1." in executed.text(4), executed.text(4)
    assert "#   libgl1: libGL.so.1 needed by cv2" in dry and "#   libgomp1: libgomp.so.1 needed by lightgbm" in dry
    assert "#   graphviz: dot" in dry
    report = _report(executed, 3)
    assert report["exit_code"] == 0 and "made them" in report["logs"], report["logs"]
    assert {"libgl1", "libgomp1", "graphviz"} <= set(report["system"])
    assert {"square.png", "graph.png"} <= set(report["outputs"])


def test_an_extensions_magics_run_and_the_notebook_form_does_not_hang_on_widgets(docker_client, notebook_dir, tag):
    profiled = [
        "def slow(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total",
        "%load_ext line_profiler",
        "%lprun -f slow slow(100)",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag} -q\nrun = %docker_run {tag}",
        REPORT,
    ]
    executed = execute(make_notebook(notebook_dir, profiled))
    report = _report(executed, 5)
    assert report["exit_code"] == 0 and "Timer unit" in report["logs"], report["logs"]
    assert "line-profiler" in report["requirements"] or "line_profiler" in report["requirements"]
    widgets = [
        "from ipywidgets import interact\nfor i in range(4):\n    interact(lambda x: x * 2, x=i)",
        "print('after the widgets')",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag}-nb --form notebook -q\nrun = %docker_run {tag}-nb --timeout 300",
        REPORT,
    ]
    executed = execute(make_notebook(notebook_dir, widgets, name="widgets.ipynb"))
    report = _report(executed, 4)
    assert report["exit_code"] == 0 and "after the widgets" in report["logs"], report["logs"]
