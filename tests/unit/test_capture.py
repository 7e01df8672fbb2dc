"""Capture: pip settings, the notebook locator, cells above the running one."""

import os
import subprocess
from pathlib import Path

from dockermagic import capture, context, datafiles, export
from dockermagic.imports import find_imports


def test_index_settings_from_config_and_environment(tmp_path):
    conf = tmp_path / "pip.conf"
    ca = tmp_path / "ca.pem"
    ca.write_text("cert")
    conf.write_text(
        f"[global]\nindex-url = https://mirror/simple\nextra-index-url = file:///opt/x https://extra/simple\n"
        f"cert = {ca}\nfind-links = /opt/wheels\n"
    )
    settings = capture.index_settings(environ={"PIP_TRUSTED_HOST": "mirror"}, config_files=[conf])
    assert settings.index_url == "https://mirror/simple"
    assert settings.extra_index_urls == ("https://extra/simple",)
    assert settings.trusted_hosts == ("mirror",)
    assert settings.ca_bundle == ca
    assert set(settings.dropped) == {"file:///opt/x", "/opt/wheels"}


def test_find_notebook_from_session_variables(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    assert capture.find_notebook({}, {"JPY_SESSION_NAME": "a.ipynb"}, cwd=tmp_path) == nb.resolve()
    assert capture.find_notebook({"__vsc_ipynb_file__": str(nb)}, {}, cwd="/") == nb.resolve()
    assert capture.find_notebook({}, {}, cwd=tmp_path) is None


def test_cells_before_the_running_cell():
    cells = [capture.Cell(f"cell {i}", s) for i, s in enumerate(["a=1", "%dockerize", "b=2", "%dockerize"], 1)]
    assert [c.source for c in capture.cells_before(cells, "%dockerize\n")] == ["a=1", "%dockerize", "b=2"]
    assert capture.cells_before(cells, "not there") is None


def test_imports_and_data_files_inside_cell_magics_count(tmp_path):
    (tmp_path / "rows.csv").write_text("a\n")
    program = export.export_script([capture.Cell("cell 1", "%%time\nimport yaml\ntext = open('rows.csv').read()")])
    imports = find_imports(program.cells[0].code, "cell 1")
    assert [i.module for i in imports] == ["yaml"]
    uses = datafiles.path_uses([("cell 1", program.cells[0].code)])
    assert list(datafiles.discover(uses, tmp_path, tmp_path).files) == ["rows.csv"]


def test_precompile_reports_a_failing_import_and_goes_on(tmp_path):
    runtime = Path(context.RUNTIME_SOURCE)
    (tmp_path / "_dockermagic_runtime").symlink_to(runtime, target_is_directory=True)
    (tmp_path / "boom.py").write_text("raise RuntimeError('needs libGL.so.1')\n")
    out = subprocess.run(
        ["python", "-m", "_dockermagic_runtime.precompile", "boom", "no_such_module_dm", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "dockermagic: import boom fails in the image: RuntimeError: needs libGL.so.1" in lines
    assert any(
        line.startswith("dockermagic: import no_such_module_dm fails in the image: ModuleNotFoundError")
        for line in lines
    )
    assert lines[-1].startswith("dockermagic: bytecode for 1 of 3 imports")
    # written although the image's environment turns bytecode off (the program's user cannot write it)
    assert [p.name.split(".")[0] for p in (tmp_path / "__pycache__").iterdir()] == ["boom"]
