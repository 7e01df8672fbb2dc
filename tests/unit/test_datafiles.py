"""Data discovery: paths as the code uses them and as the kernel opened them, from the project's root."""

from pathlib import Path

from dockermagic import datafiles
from dockermagic.imports import sys_path_folders


def _project(tmp_path):
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='p'\nversion='0'\n")
    (root / "data" / "raw" / "x.csv").write_text("a\n1\n")
    return root


def _discover(code, root, folder="notebooks", **kw):
    uses = datafiles.path_uses([("cell 3", code)])
    return datafiles.discover(uses, root / folder, root, **kw)


def test_the_project_root_is_found_from_the_notebooks_folder(tmp_path):
    root = _project(tmp_path)
    assert datafiles.project_root(root / "notebooks") == root
    loose = tmp_path / "loose" / "nb"
    loose.mkdir(parents=True)
    (tmp_path / "loose" / "data.csv").write_text("a")
    assert datafiles.project_root(loose) == loose
    assert datafiles.project_root(loose, [tmp_path / "loose" / "data.csv"]) == tmp_path / "loose"


def test_data_above_the_notebooks_folder_comes_along_with_its_origin(tmp_path):
    root = _project(tmp_path)
    plan = _discover("import pandas as pd\nDATA = '../data/raw'\ndf = pd.read_csv(DATA + '/x.csv')", root)
    assert list(plan.files) == ["data/raw/x.csv"]
    assert plan.files["data/raw/x.csv"].origin == "read_csv('../data/raw/x.csv') in cell 3, line 3"
    assert plan.notes() == ["data: data/raw/x.csv (read_csv('../data/raw/x.csv') in cell 3, line 3)"]


def test_a_string_that_is_not_a_path_pulls_nothing_in(tmp_path):
    root = _project(tmp_path)
    plan = _discover("df = {}\ndf['source'] = '../data'\nlabel = '../data/raw'\nprint(label)", root)
    assert plan.files == {}


def test_companions_of_a_shapefile_and_a_partitioned_dataset(tmp_path):
    root = _project(tmp_path)
    for ext in ("shp", "shx", "dbf", "prj", "cpg"):
        (root / "data" / f"points.{ext}").write_text(ext)
    (root / "data" / "other.dbf").write_text("not a companion")
    part = root / "data" / "sales" / "year=2024" / "month=1"
    part.mkdir(parents=True)
    (part / "part-0.parquet").write_text("p")
    plan = _discover(
        "gpd.read_file('../data/points.shp')\npq.read_table('../data/sales/year=2024/month=1/part-0.parquet')", root
    )
    assert sorted(plan.files) == [
        "data/points.cpg",
        "data/points.dbf",
        "data/points.prj",
        "data/points.shp",
        "data/points.shx",
        "data/sales",
    ]


def test_globs_and_f_strings_over_a_loop_variable(tmp_path):
    root = _project(tmp_path)
    for i in range(3):
        (root / "data" / f"day_{i}.csv").write_text(str(i))
    (root / "data" / "notes.txt").write_text("no")
    plan = _discover(
        "import glob\nfiles = sorted(glob.glob('../data/*.csv'))\n"
        "for i in range(3):\n    pd.read_csv(f'../data/day_{i}.csv')",
        root,
    )
    assert sorted(plan.files) == ["data/day_0.csv", "data/day_1.csv", "data/day_2.csv"]


def test_what_the_program_writes_first_is_an_output(tmp_path):
    root = _project(tmp_path)
    (root / "models").mkdir()
    (root / "models" / "model.pkl").write_bytes(b"old")
    plan = _discover(
        "import joblib\njoblib.dump(m, '../models/model.pkl')\nm2 = joblib.load('../models/model.pkl')", root
    )
    assert plan.files == {}
    # the kernel's own opens count, in the order they happened
    opened = [(str(root / "models" / "model.pkl"), "write", "opened by the kernel in In [4]")]
    assert datafiles.discover([], root / "notebooks", root, opened=opened).files == {}
    opened = [(str(root / "data" / "raw" / "x.csv"), "read", "opened by the kernel in In [2]")]
    found = datafiles.discover([], root / "notebooks", root, opened=opened)
    assert found.files["data/raw/x.csv"].origin == "opened by the kernel in In [2]"


def test_outside_the_project_credentials_and_urls_are_reported(tmp_path):
    root = _project(tmp_path)
    (tmp_path / "shared.csv").write_text("a")
    (root / ".env").write_text("TOKEN=1")
    plan = _discover(
        "pd.read_csv('../../shared.csv')\nopen('../.env')\npd.read_csv('https://example.org/x.csv')\n"
        "create_engine('postgresql://db/app')",
        root,
    )
    assert plan.outside == [
        (str((tmp_path / "shared.csv").resolve()), "read_csv('../../shared.csv') in cell 3, line 1")
    ]
    assert plan.refused == [(".env", "open('../.env') in cell 3, line 2")]
    assert [address for address, _ in plan.remote] == ["https://example.org/x.csv", "postgresql://db/app"]


def test_absolute_paths_inside_the_project_and_excludes(tmp_path):
    root = _project(tmp_path)
    plan = _discover(f"pd.read_csv('{root}/data/raw/x.csv')", root)
    assert list(plan.files) == ["data/raw/x.csv"] and plan.absolute
    assert _discover("pd.read_csv('../data/raw/x.csv')", root, exclude=["../data/raw"]).files == {}


def test_a_too_large_folder_names_the_cell_and_line(tmp_path):
    root = _project(tmp_path)
    plan = _discover("x = 1\nfiles = os.listdir('../data')", root, limit=1)
    assert plan.too_large == [("data", "listdir('../data') in cell 3, line 2", 4)]


def test_folders_the_program_adds_to_sys_path(tmp_path):
    root = _project(tmp_path)
    (root / "src").mkdir()
    code = "import sys, os\nsys.path.append('..')\nsys.path.insert(0, os.path.abspath(os.path.join('..', 'src')))"
    assert sys_path_folders([code], root / "notebooks") == [root, root / "src"]
    assert Path(root / "src").is_dir()


def test_shell_lines_name_the_files_they_read_and_write(tmp_path):
    from dockermagic.datafiles import shell_paths

    assert shell_paths("ls data") == [("data", False, False)]
    assert shell_paths("cat data/*.csv | sort > out.txt") == [("data/*.csv", False, True), ("out.txt", True, False)]
    assert shell_paths("wget -q https://x/y.csv -O raw.csv && head -n 2 raw.csv") == [
        ("raw.csv", True, False),
        ("2", False, False),
        ("raw.csv", False, False),
    ]
    assert shell_paths("echo $HOME {name}") == []
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "README.txt").write_text("about")
    (tmp_path / "data" / "readings.csv").write_text("1")
    found = _discover("files = get_ipython().getoutput('ls data')\n", tmp_path, folder="")
    assert set(found.files) == {"data"}
    assert found.files["data"].origin == "!ls data in cell 3, line 1"
