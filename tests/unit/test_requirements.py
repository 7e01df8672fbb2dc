"""Requirement inference from the kernel's metadata (fake distributions, no network)."""

import json

from dockermagic import requirements, translate


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
        FakeDist(
            "scikit-learn", "1.5.2", ["numpy>=1.19", "pytest; extra == 'tests'", "pywin32; sys_platform == 'win32'"]
        ),
        FakeDist("numpy", "2.0.1"),
        FakeDist("six", "1.16.0"),
        modules={"sklearn": ["scikit-learn"], "numpy": ["numpy"], "six": ["six"]},
    )
    code = (
        "import sklearn.linear_model\nimport os, json\ntry:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
    )
    result = requirements.infer([("cell 2", code)], tmp_path, loaded_modules={"six"}, installed=inst)
    lines = {str(r): r.origin for r in result.requirements}
    assert lines == {
        "numpy==2.0.1": "dependency of scikit-learn",
        "scikit-learn==1.5.2": "import sklearn in cell 2",
        "six==1.16.0": "loaded in the kernel (module six), declared by no requirement",
    }
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
    lines = [
        translate.PipLine("cell 1", ("-q", "--index-url", "https://pypi.example/simple", "requests>=2"), "%pip ...")
    ]
    result = requirements.infer([], tmp_path, pip_lines=lines, installed=inst)
    assert [str(r) for r in result.requirements] == ["requests==2.32.3"]
    assert result.requirements[0].origin == "%pip in cell 1"
    assert result.text().splitlines()[0] == "--index-url https://pypi.example/simple"


def test_non_index_installs_are_problems_before_any_build(tmp_path):
    inst = fake_installed(
        FakeDist("mylib", "0.1", direct_url={"url": "file:///home/me/mylib", "dir_info": {"editable": True}}),
        FakeDist(
            "gitlib",
            "0.2",
            direct_url={"url": "https://github.com/x/gitlib", "vcs_info": {"vcs": "git", "commit_id": "abc"}},
        ),
        modules={"mylib": ["mylib"], "gitlib": ["gitlib"]},
    )
    result = requirements.infer([("cell 1", "import mylib, gitlib")], tmp_path, installed=inst)
    assert len(result.problems) == 2
    assert any("mylib" in p and "has no pyproject.toml, setup.py or setup.cfg: add one" in p for p in result.problems)
    assert any("gitlib" in p and "git+https://github.com/x/gitlib@abc" in p for p in result.problems)


def test_an_editable_project_is_installed_from_its_source(tmp_path):
    project = tmp_path / "my project"
    (project / "src" / "features").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'features'\nversion = '0.1'\n")
    url = project.as_uri()
    inst = fake_installed(
        FakeDist("features", "0.1", ["numpy>=1"], direct_url={"url": url, "dir_info": {"editable": True}}),
        FakeDist("numpy", "2.0.1"),
        modules={"features": ["features"]},
    )
    result = requirements.infer([("cell 2", "import features")], tmp_path / "nb", installed=inst)
    assert result.problems == []
    req = next(r for r in result.requirements if r.name == "features")
    assert req.local_project == project and "installed from" in req.origin
    assert result.text().splitlines() == ["/tmp/dockermagic/projects/features", "numpy==2.0.1"]


def test_real_kernel_metadata_resolves_packaging():
    result = requirements.infer([("cell 1", "import packaging.version")], ".")
    assert any(str(r).startswith("packaging==") for r in result.requirements)


def test_a_pytorch_build_gets_pytorchs_own_index(tmp_path):
    from dockermagic import capture, context
    from dockermagic.planning import builder_index

    reqs = [
        requirements.Requirement("torch", "2.3.1+cu121", "import torch in cell 1"),
        requirements.Requirement("torchvision", "0.18.1+cu121", "dependency of x"),
        requirements.Requirement("torchaudio", "2.3.1+cpu", "import torchaudio in cell 1"),
        requirements.Requirement("numpy", "2.0.1", "dependency of torch"),
    ]
    assert requirements.pytorch_indexes(reqs) == [
        "https://download.pytorch.org/whl/cu121",
        "https://download.pytorch.org/whl/cpu",
    ]
    assert requirements.pytorch_indexes(reqs[3:]) == []

    class Cap:
        index = capture.IndexSettings(index_url="https://mirror/simple")

    class Reqs:
        requirements = reqs

    index = builder_index(Cap(), Reqs())
    text = context.uv_config(index)
    assert (
        'extra-index-url = ["https://download.pytorch.org/whl/cu121", "https://download.pytorch.org/whl/cpu"]' in text
    )
    assert 'index-url = "https://mirror/simple"' in text and 'index-strategy = "unsafe-best-match"' in text
    assert "extra-index-url = https://download.pytorch.org/whl/cu121" in context.pip_config(index)
    assert str(reqs[0]) == "torch==2.3.1+cu121"  # the pin stays exact
