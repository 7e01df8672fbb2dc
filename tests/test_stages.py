"""Unit tests of the pure stages: tags, export, requirements, Dockerfile, progress, context, capture."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from dockermagic import capture, context, dockerfile, export, progress, requirements, tags
from dockermagic.errors import DockermagicError, InvalidTag, NotebookError


# --- tags ---

@pytest.mark.parametrize("good", ["heart-roc", "heart-roc:v1", "me/heart_roc:1.0", "localhost:5000/a/b:c", "a__b"])
def test_valid_tags(good):
    assert tags.validate_tag(good) == good


@pytest.mark.parametrize("bad", ["Heart", "heart roc", "-x", "x:", "x:-y", "a..b", ""])
def test_invalid_tags_name_the_rule(bad):
    with pytest.raises(InvalidTag, match="lowercase"):
        tags.validate_tag(bad)


def test_default_tag_from_notebook_name():
    assert tags.default_tag("My Heart ROC (v2).ipynb") == "my-heart-roc-v2"
    tags.validate_tag(tags.default_tag("Ünïcode.ipynb"))


# --- export ---

def test_magics_are_translated_dropped_or_handed_to_requirements():
    cells = [capture.Cell("cell 1", "%matplotlib inline\n%load_ext dockermagic\nimport math\n%pip install -q six==1.16.0"),
             capture.Cell("cell 2", "%%time\nx = math.sqrt(16)"),
             capture.Cell("cell 3", "img = %dockerize -t x\n!echo hi\nx")]
    program = export.export_script(cells, final_body="print('last')")
    text = program.files["program.py"]
    assert "run_line_magic('matplotlib'" not in text and "run_line_magic('load_ext'" not in text
    assert "run_line_magic('dockerize'" not in text
    assert "run_cell_magic('time'" in text and "system('echo hi')" in text
    assert program.uses_ipython
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


def test_exported_script_runs_and_saves_figures(tmp_path):
    pytest.importorskip("matplotlib")
    cells = [capture.Cell("cell 1", "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"),
             capture.Cell("cell 2", "plt.figure(); plt.bar([1], [2])"),  # shown at the end of the cell
             capture.Cell("cell 3", "open('out.txt', 'w').write('ok')\n'done'")]
    program = export.export_script(cells)
    (tmp_path / "program.py").write_text(program.files["program.py"])
    import shutil
    shutil.copytree(context.RUNTIME_SOURCE, tmp_path / "_dockermagic_runtime")
    env = {"MPLBACKEND": "module://_dockermagic_runtime.mpl_backend", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)}
    import sys
    out = subprocess.run([sys.executable, "program.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == ["figure-001.png", "figure-002.png"]
    assert "'done'" in out.stdout and (tmp_path / "out.txt").read_text() == "ok"


# --- requirements ---

class FakeDist:
    def __init__(self, name, version, requires=(), files=(), direct_url=None):
        self.metadata = {"Name": name}
        self.version = version
        self.requires = list(requires)
        self.files = list(files)
        self._direct = direct_url

    def read_text(self, name):
        if name == "direct_url.json" and self._direct:
            return json.dumps(self._direct)
        return None


def fake_installed(*dists, modules=None):
    by_name = {d.metadata["Name"].lower(): d for d in dists}
    return requirements.Installed(by_module=modules or {}, dists=by_name)


def test_imports_map_to_installed_distributions_with_closure_and_origins(tmp_path):
    inst = fake_installed(
        FakeDist("scikit-learn", "1.5.2", ["numpy>=1.19", "pytest; extra == 'tests'", "pywin32; sys_platform == 'win32'"]),
        FakeDist("numpy", "2.0.1"),
        FakeDist("six", "1.16.0"),
        modules={"sklearn": ["scikit-learn"], "numpy": ["numpy"], "six": ["six"]})
    code = "import sklearn.linear_model\nimport os, json\ntry:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
    result = requirements.infer([("cell 2", code)], tmp_path, loaded_modules={"six"}, installed=inst)
    lines = {str(r): r.origin for r in result.requirements}
    assert lines == {"numpy==2.0.1": "dependency of scikit-learn",
                     "scikit-learn==1.5.2": "import sklearn in cell 2",
                     "six==1.16.0": "loaded in the kernel (module six), declared by no requirement"}
    assert result.missing == []
    assert any("ujson" in n for n in result.notes)
    assert result.text() == "numpy==2.0.1\nscikit-learn==1.5.2\nsix==1.16.0\n"


def test_local_module_is_copied_and_its_imports_followed(tmp_path):
    (tmp_path / "helpers.py").write_text("import yaml\n")
    inst = fake_installed(FakeDist("PyYAML", "6.0.1"), modules={"yaml": ["PyYAML"]})
    result = requirements.infer([("cell 1", "import helpers")], tmp_path, installed=inst)
    assert result.local_modules == {"helpers": tmp_path / "helpers.py"}
    assert [str(r) for r in result.requirements] == ["PyYAML==6.0.1"]


def test_missing_import_is_reported_not_guessed(tmp_path):
    result = requirements.infer([("cell 4", "import notinstalledanywhere")], tmp_path, installed=fake_installed())
    assert [(m, c) for m, c, _ in result.missing] == [("notinstalledanywhere", "cell 4")]
    assert result.requirements == []


def test_pip_lines_pin_to_kernel_version_and_keep_index_options(tmp_path):
    inst = fake_installed(FakeDist("requests", "2.32.3"))
    lines = [export.PipLine("cell 1", ("-q", "--index-url", "https://pypi.example/simple", "requests>=2"), "%pip ...")]
    result = requirements.infer([], tmp_path, pip_lines=lines, installed=inst)
    assert [str(r) for r in result.requirements] == ["requests==2.32.3"]
    assert result.requirements[0].origin == "%pip in cell 1"
    assert result.text().splitlines()[0] == "--index-url https://pypi.example/simple"


def test_non_index_installs_are_problems_before_any_build(tmp_path):
    inst = fake_installed(
        FakeDist("mylib", "0.1", direct_url={"url": "file:///home/me/mylib", "dir_info": {"editable": True}}),
        FakeDist("gitlib", "0.2", direct_url={"url": "https://github.com/x/gitlib", "vcs_info": {"vcs": "git", "commit_id": "abc"}}),
        modules={"mylib": ["mylib"], "gitlib": ["gitlib"]})
    result = requirements.infer([("cell 1", "import mylib, gitlib")], tmp_path, installed=inst)
    assert len(result.problems) == 2
    assert any("mylib" in p and "editable" in p and "pip wheel" in p for p in result.problems)
    assert any("gitlib" in p and "git+https://github.com/x/gitlib@abc" in p for p in result.problems)


def test_real_kernel_metadata_resolves_packaging():
    result = requirements.infer([("cell 1", "import packaging.version")], ".")
    assert any(str(r).startswith("packaging==") for r in result.requirements)


# --- Dockerfile ---

def _render(**kw):
    spec = dockerfile.DockerfileSpec(base="python:3.11-slim", command=["python", "program.py"],
                                     labels={"org.dockermagic.version": "0"}, **kw)
    return dockerfile.render(spec)


@pytest.mark.parametrize("installer,uv_image", [("uv", dockerfile.UV_IMAGE), ("uv", None), ("pip", None)])
def test_dockerfile_installs_before_copying_code_and_runs_as_non_root(installer, uv_image):
    text = _render(installer=installer, pip_config=True, uv_config=True, ca_bundle=True, precompile=["pandas"],
                   uv_image=uv_image)
    # uv comes from its own image when the engine has it, else the base image's pip fetches it
    assert (f"FROM {dockerfile.UV_IMAGE} AS uv\n" in text) == bool(uv_image)
    assert ("--target /tmp/dockermagic/uv uv==" in text) == (installer == "uv" and not uv_image)
    assert text.index("pip install") < text.index("COPY --chown=1000:1000 app/ /app/")
    assert "USER 1000" in text and text.rstrip().endswith('CMD ["python", "program.py"]')
    builder, final = text.split("\nFROM python:3.11-slim\n", 1)
    assert "/tmp/dockermagic" not in final  # CA bundle and index settings stay in the builder
    assert ("SSL_CERT_FILE=/tmp/dockermagic/ca-bundle.pem" in builder) == (installer == "uv")
    # bytecode of the program's imports is written before the code arrives (a code edit keeps it)
    assert final.index("precompile --owner 1000 pandas") < final.index("COPY --chown=1000:1000 app/ /app/")


def test_uv_config_carries_index_settings():
    index = capture.IndexSettings(index_url="https://mirror/simple", extra_index_urls=["https://extra/simple"],
                                  trusted_hosts=["mirror"])
    text = context.uv_config(index)
    assert text.splitlines() == ['index-url = "https://mirror/simple"', 'extra-index-url = ["https://extra/simple"]',
                                 'allow-insecure-host = ["mirror"]']


@pytest.mark.parametrize("kw", [{}, {"installer": "pip"}, {"uv_image": dockerfile.UV_IMAGE},
                                {"expose": [5000], "healthcheck": ["python", "-c", "1"]},
                                {"has_requirements": False}, {"precompile": ["numpy", "sklearn.linear_model"]}])
def test_dockerfile_passes_hadolint(tmp_path, kw):
    path = tmp_path / "Dockerfile"
    path.write_text(_render(**kw))
    out = subprocess.run(["hadolint", "--no-color", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_steps_join_continuations():
    steps = progress.dockerfile_steps(_render())
    assert steps[0] == "FROM python:3.11-slim AS builder"
    assert any(s.startswith("RUN python -m venv --without-pip /opt/venv && { python -c")
               for s in steps)


# --- progress ---

def test_build_progress_follows_steps_cache_and_failure():
    state = progress.BuildProgress.for_dockerfile("t", "FROM a\nRUN x\nRUN y\n")
    for chunk in [{"stream": "Step 1/3 : FROM a\n"}, {"stream": " ---> 1234567890ab\n"},
                  {"stream": "Step 2/3 : RUN x\n ---> Using cache\n ---> 2234567890ab\n"},
                  {"stream": "Step 3/3 : RUN y\n"}, {"stream": " ---> Running in ffff\n"},
                  {"stream": "partial "}, {"stream": "line\nboom\n"}]:
        state.feed(chunk)
    assert [s.state for s in state.steps] == ["done", "cached", "running"]
    assert state.steps[2].log == ["partial line", "boom"]
    state.feed({"errorDetail": {"code": 2, "message": "The command '/bin/sh -c y' returned a non-zero code: 2"},
                "error": "..."})
    assert state.phase == "failed" and state.failed_step.n == 3 and state.error["exit_code"] == 2
    assert state.cached_steps == [2]
    assert state.new_layers == []  # the base image and cached layers are never removed
    assert json.loads(json.dumps(state.to_dict()))["steps"][2]["state"] == "failed"


# --- context ---

def test_data_files_found_secrets_refused_written_files_skipped(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n")
    (tmp_path / ".env").write_text("TOKEN=1\n")
    (tmp_path / "old_result.csv").write_text("stale")
    code = "import pandas as pd\ndf = pd.read_csv('data/x.csv')\nopen('.env')\ndf.to_csv('old_result.csv')\n"
    found = context.find_data_files([code], tmp_path)
    assert list(found.files) == ["data/x.csv"]
    assert found.refused == [".env"]


def test_context_is_written_whole_and_never_over_a_users_folder(tmp_path):
    plan = context.ContextPlan(dockerfile="FROM x\n", requirements="", program_files={"program.py": "print(1)\n"})
    users = tmp_path / "mine"
    users.mkdir()
    (users / "important.txt").write_text("keep")
    with pytest.raises(DockermagicError, match="not empty"):
        context.write_context(plan, users)
    assert (users / "important.txt").read_text() == "keep"
    out = context.write_context(plan, tmp_path / "ctx")
    assert (out / "Dockerfile").is_file() and (out / "app" / "program.py").is_file()
    assert (out / "app" / "_dockermagic_runtime" / "__init__.py").is_file()
    again = context.write_context(plan, tmp_path / "ctx")  # ours: replaced
    assert again == out and sorted(p.name for p in tmp_path.iterdir()) == ["ctx", "mine"]


# --- capture ---

def test_index_settings_from_config_and_environment(tmp_path):
    conf = tmp_path / "pip.conf"
    ca = tmp_path / "ca.pem"
    ca.write_text("cert")
    conf.write_text(f"[global]\nindex-url = https://mirror/simple\nextra-index-url = file:///opt/x https://extra/simple\n"
                    f"cert = {ca}\nfind-links = /opt/wheels\n")
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
    imports = requirements.find_imports(program.cells[0].code, "cell 1")
    assert [i.module for i in imports] == ["yaml"]
    assert list(context.find_data_files([program.cells[0].code], tmp_path).files) == ["rows.csv"]


def test_precompile_reports_a_failing_import_and_goes_on(tmp_path):
    runtime = Path(context.RUNTIME_SOURCE)
    (tmp_path / "_dockermagic_runtime").symlink_to(runtime, target_is_directory=True)
    (tmp_path / "boom.py").write_text("raise RuntimeError('needs libGL.so.1')\n")
    out = subprocess.run(["python", "-m", "_dockermagic_runtime.precompile", "boom", "no_such_module_dm", "json"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "dockermagic: import boom fails in the image: RuntimeError: needs libGL.so.1" in lines
    assert any(line.startswith("dockermagic: import no_such_module_dm fails in the image: ModuleNotFoundError")
               for line in lines)
    assert lines[-1].startswith("dockermagic: bytecode for 1 of 3 imports")
    # written although the image's environment turns bytecode off (the program's user cannot write it)
    assert [p.name.split(".")[0] for p in (tmp_path / "__pycache__").iterdir()] == ["boom"]
