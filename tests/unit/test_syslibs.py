"""The plan of system packages (on synthetic shared objects and, when installed, the real
opencv-python wheel), and the build-time check that runs in the image."""

import shutil
import sys
from pathlib import Path

import pytest
from elves import build_elves, files_of, needs_elftools, needs_gcc

from dockermagic import sharedlibs, syslibs
from dockermagic.runtime import checklibs


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    """The synthetic shared objects of :func:`elves.build_elves`, built once for the module."""
    return build_elves(tmp_path_factory.mktemp("elves"))


# --- the plan --------------------------------------------------------------------------------------


@needs_gcc
@needs_elftools
def test_plan_names_packages_with_reasons_and_reports_what_no_package_provides(elves):
    root = elves["root"]
    files = files_of(root, elves["ext"], elves["dep"], elves["orphan"]) + [
        sharedlibs.InstalledFile("pytesseract", "pytesseract/__init__.py", root / "none.py"),
        sharedlibs.InstalledFile("python-magic", "magic/__init__.py", root / "none.py"),
        sharedlibs.InstalledFile("jupyter-core", "../../../bin/jupyter", root / "none"),
    ]
    program = "import subprocess\nsubprocess.run(['dot', '-Tpng'])\nget_ipython().system('jupyter nbconvert x')\n"
    plan = syslibs.plan_system_packages(
        files, [program], release="bookworm", python_version="3.11", extra_packages=["curl"], use_host_dpkg=False
    )
    orphan = elves["orphan"].relative_to(root).as_posix()
    assert plan.packages == [
        ("curl", "added with --apt"),
        ("graphviz", "dot run by subprocess.run at line 2"),
        ("libgomp1", f"libgomp.so.1 needed by {orphan}"),
        ("libmagic1", "libmagic.so.1 needed by the python-magic package (loaded with ctypes)"),
        ("tesseract-ocr", "tesseract run by the pytesseract package"),
    ]
    assert plan.unknown == [("libdmgone.so.7", orphan)]
    assert plan.unknown_programs == []  # jupyter is the environment's own script
    assert "libgomp1: libgomp.so.1 needed by " + orphan in plan.dry_run_lines()
    assert any(line.startswith("libdmgone.so.7: no Debian bookworm package") for line in plan.dry_run_lines())
    args = plan.check_args()
    assert "--hint=libgomp.so.1=libgomp1" in args and "--program=dot=graphviz" in args
    assert "--program=tesseract=tesseract-ocr" in args and "--library=libmagic.so.1=libmagic1" in args


@needs_gcc
@needs_elftools
def test_plan_against_a_base_that_has_everything_is_empty(elves):
    root = elves["root"]
    files = files_of(root, elves["ext"], elves["dep"], elves["orphan"])
    plan = syslibs.plan_system_packages(
        files, base_sonames={"libgomp.so.1", "libdmgone.so.7"}, python_version="3.11", use_host_dpkg=False
    )
    assert plan.packages == [] and plan.unknown == [] and plan.programs == {}


def test_plan_names_the_extension_module_through_the_bundled_library():
    scan = sharedlibs.Scan()
    scan.loads["cv2/cv2.abi3.so"] = {"opencv_python.libs/libQt5Gui-1.so.5"}
    scan.loads["opencv_python.libs/libQt5Gui-1.so.5"] = {"opencv_python.libs/libQt5Core-1.so.5"}
    who = syslibs._who(["opencv_python.libs/libQt5Core-1.so.5", "cv2/qt/plugins/libqxcb.so"], scan)
    assert who == "cv2/cv2.abi3.so (through opencv_python.libs/libQt5Core-1.so.5) and 1 more"


def test_the_real_opencv_wheel_needs_gl_but_not_x11_for_its_window_plugin():
    from importlib import metadata

    try:
        files = sharedlibs.installed_files([metadata.distribution("opencv-python")])
    except metadata.PackageNotFoundError:
        pytest.skip("opencv-python is not installed here")
    plan = syslibs.plan_system_packages(files, use_host_dpkg=False)
    assert "libgl1" in plan.package_names and "libsm6" not in plan.package_names, plan.packages
    assert "cv2/qt/plugins/platforms/libqxcb.so" in plan.skipped
    assert any("libSM.so.6" in note and "--apt" in note for note in plan.notes), plan.notes
    assert "--skip=cv2/qt/plugins/platforms/libqxcb.so" in plan.check_args()


# --- the check in the image --------------------------------------------------------------------------


def _venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    return venv


def test_parse_ldd_reads_single_and_batched_output():
    one = "\tlinux-vdso.so.1 (0x0)\n\tlibGL.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n"
    assert checklibs.parse_ldd(one, ["/v/a.so"]) == {"/v/a.so": ["libGL.so.1"]}
    many = (
        "/v/a.so:\n\tlibGL.so.1 => not found\n/v/b.so:\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n\tlibx.so.2 => not found\n"
    )
    assert checklibs.parse_ldd(many, ["/v/a.so", "/v/b.so"]) == {"/v/a.so": ["libGL.so.1"], "/v/b.so": ["libx.so.2"]}
    assert checklibs.pairs(["dot=graphviz", "java"]) == {"dot": "graphviz", "java": None}


@needs_gcc
@pytest.mark.parametrize("mode", [[], ["--ldd"]])
def test_checklibs_fails_naming_the_library_the_module_and_the_package(elves, tmp_path, capsys, mode):
    venv = _venv(tmp_path)
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "pkg").mkdir()
    shutil.copy2(elves["orphan"], site / "pkg" / elves["orphan"].name)  # needs libdmgone.so.7, which is nowhere
    code = checklibs.main(["--venv", str(venv), "--hint", "libdmgone.so.7=libdmgone7", "--program", "sh", *mode])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert out == [
        f"dockermagic: libdmgone.so.7 needed by pkg/{elves['orphan'].name} is missing in the image: "
        "add its Debian package with --apt libdmgone7"
    ]


@needs_gcc
def test_checklibs_passes_when_bundled_libraries_resolve_and_reports_missing_programs(elves, tmp_path, capsys):
    venv = _venv(tmp_path)
    site = venv / "lib" / "python3.11" / "site-packages"
    for name in ("ext", "dep"):
        target = site / elves[name].relative_to(elves["root"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(elves[name], target)
    assert checklibs.main(["--venv", str(venv), "--program", "sh"]) == 0
    summary = capsys.readouterr().out.strip()
    assert summary.startswith("dockermagic: the libraries of 2 shared objects resolve, 1 program on PATH")
    code = checklibs.main(["--venv", str(venv), "--program", "dm-no-such-program=dmpkg", "--program", "dm-other"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert out == [
        "dockermagic: program dm-no-such-program is not on PATH in the image: add its Debian package with --apt dmpkg",
        "dockermagic: program dm-other is not on PATH in the image: no Debian package is known to provide it; "
        "add the one that does with --apt PACKAGE",
    ]


def test_checklibs_checks_ctypes_libraries_against_the_loader_cache(tmp_path, capsys):
    if checklibs.known_sonames() is None:
        pytest.skip("no ldconfig")
    venv = _venv(tmp_path)
    assert checklibs.main(["--venv", str(venv), "--library", "libc.so.6"]) == 0
    capsys.readouterr()
    assert checklibs.main(["--venv", str(venv), "--library", "libdmnowhere.so.3=libdmnowhere3"]) == 1
    assert capsys.readouterr().out.strip() == (
        "dockermagic: libdmnowhere.so.3 (loaded with ctypes) is missing in the image: "
        "add its Debian package with --apt libdmnowhere3"
    )


def test_checklibs_finds_the_dynamic_loader_of_this_python():
    loader = checklibs.interpreter(Path(sys.executable).resolve())
    assert loader is None or Path(loader).exists()
    assert checklibs.interpreter(__file__) is None
    assert checklibs.elf_machine(__file__) is None


def test_without_pyelftools_the_build_is_planned_and_left_to_the_check_in_the_image(monkeypatch):
    import importlib.util
    from types import SimpleNamespace

    from dockermagic import planning

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "elftools" else real(name, *a))
    plan = planning.system_packages(
        SimpleNamespace(), SimpleNamespace(apt=("curl",)), SimpleNamespace(), SimpleNamespace(), SimpleNamespace()
    )
    assert plan.package_names == ["curl"] and "pyelftools is not installed" in plan.notes[0]
