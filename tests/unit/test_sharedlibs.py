"""Shared libraries of the environment: ELF reading, resolution inside the environment, the
environment's files and programs, and Qt's window plugins (on synthetic shared objects)."""

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elves import build_elves, files_of, needs_elftools, needs_gcc

from dockermagic import sharedlibs


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    """The shared objects of :func:`build_elves`, built once for the module."""
    return build_elves(tmp_path_factory.mktemp("elves"))


# --- ELF ---------------------------------------------------------------------------------------


@needs_elftools
def test_read_elf_of_numpy_extension_module_names_its_bundled_openblas_and_rpath():
    numpy = pytest.importorskip("numpy")
    module = next(Path(numpy.__file__).parent.glob("_core/_multiarray_umath*.so"), None)
    if module is None:
        pytest.skip("numpy without _core/_multiarray_umath")
    info = sharedlibs.read_elf(module)
    assert info is not None and info.machine == sharedlibs.host_machine()
    assert "libc.so.6" in info.needed
    bundled = [n for n in info.needed if "openblas" in n]
    if bundled:  # the manylinux wheel: openblas in numpy.libs, reached through $ORIGIN
        assert any("numpy.libs" in p for p in info.rpath + info.runpath)


@needs_elftools
def test_read_elf_of_a_system_library_gives_its_soname():
    libz = next(
        (
            p
            for p in (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/x86_64-linux-gnu/libz.so.1"))
            if p.exists()
        ),
        None,
    )
    if libz is None:
        pytest.skip("no x86-64 libz on this machine")
    info = sharedlibs.read_elf(libz)
    assert info.soname == "libz.so.1" and "libc.so.6" in info.needed


@needs_elftools
def test_read_elf_tolerates_text_truncated_and_corrupt_files(tmp_path):
    real = Path(sys.executable).resolve().read_bytes()
    cases = {
        "text.so": b"not an ELF file\n",
        "empty.so": b"",
        "truncated.so": real[:100],
        "garbage.so": b"\x7fELF" + b"\xff" * 300,
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert sharedlibs.read_elf(tmp_path / name) is None, name
    assert sharedlibs.read_elf(tmp_path / "missing.so") is None


def test_expand_origin_and_shared_object_names():
    assert sharedlibs.expand_origin("$ORIGIN/../opencv_python.libs", "cv2") == "opencv_python.libs"
    assert sharedlibs.expand_origin("${ORIGIN}/../../numpy.libs", "numpy/_core") == "numpy.libs"
    for name in ("cv2.abi3.so", "libGL.so.1", "libQt5Core-9088e21b.so.5.15.19", "libscipy_openblas64_-32a4b2a6.so"):
        assert sharedlibs.looks_like_shared_object(name), name
    for name in ("setup.py", "libs.txt", "socket.sock"):
        assert not sharedlibs.looks_like_shared_object(name), name
    assert sharedlibs.display_path("../../../bin/ruff") == "bin/ruff"
    assert sharedlibs.is_extension_module("cv2/cv2.abi3.so")
    assert not sharedlibs.is_extension_module("opencv_python.libs/libQt5Gui-afbd4980.so.5.15.19")


# --- resolution inside the environment ----------------------------------------------------------


@needs_gcc
@needs_elftools
def test_libraries_bundled_through_origin_rpath_are_not_asked_from_the_system(elves):
    root = elves["root"]
    needed = sharedlibs.needed_by_distribution(files_of(root, elves["ext"], elves["dep"]))
    assert needed == {}  # the extension needs only libdmdep.so.1 (bundled) and glibc


@needs_gcc
@needs_elftools
def test_a_soname_nothing_bundles_is_expected_from_the_system(elves):
    root = elves["root"]
    needed = sharedlibs.needed_by_distribution(files_of(root, elves["ext"], elves["dep"], elves["orphan"]))
    orphan = elves["orphan"].relative_to(root).as_posix()
    assert set(needed["dmpkg"][orphan]) == {"libdmgone.so.7", "libgomp.so.1"}
    missing = sharedlibs.missing_libraries(needed, base_sonames={"libz.so.1"})
    assert missing == {"libdmgone.so.7": [orphan], "libgomp.so.1": [orphan]}
    assert sharedlibs.missing_libraries(needed, {"libgomp.so.1", "libdmgone.so.7"}) == {}


@needs_gcc
@needs_elftools
def test_another_distributions_bundled_copy_counts_and_foreign_machines_are_ignored(elves):
    root = elves["root"]
    files = files_of(root, elves["ext"]) + files_of(root, elves["dep"], dist="otherdist")
    assert sharedlibs.needed_by_distribution(files) == {}
    assert sharedlibs.needed_by_distribution(files_of(root, elves["orphan"]), machine="EM_AARCH64") == {}


def test_missing_libraries_leaves_out_glibc_and_the_gpu_driver_and_lists_modules_first():
    needed = {
        "opencv-python": {
            "opencv_python.libs/libQt5Gui-1.so.5": ("libGL.so.1", "libc.so.6"),
            "cv2/cv2.abi3.so": ("libGL.so.1", "libpthread.so.0"),
        },
        "torch": {"torch/lib/libtorch_cuda.so": ("libcuda.so.1", "libstdc++.so.6")},
    }
    assert sharedlibs.missing_libraries(needed, {"libstdc++.so.6"}) == {
        "libGL.so.1": ["cv2/cv2.abi3.so", "opencv_python.libs/libQt5Gui-1.so.5"]
    }


def test_parse_ldconfig():
    text = (
        "93 libs found in cache `/etc/ld.so.cache'\n"
        "\tlibzstd.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libzstd.so.1\n"
        "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n"
        "\tld-linux-x86-64.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
    )
    assert sharedlibs.parse_ldconfig(text) == {"libzstd.so.1", "libz.so.1", "ld-linux-x86-64.so.2"}
    assert sharedlibs.parse_ldconfig("") == set()


def test_parse_ldconfig_of_this_machine():
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not Path(ldconfig).exists():
        pytest.skip("no ldconfig")
    out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    assert "libc.so.6" in sharedlibs.parse_ldconfig(out)


# --- the environment's files and programs --------------------------------------------------------


def test_environment_programs_are_its_scripts(tmp_path):
    files = [
        sharedlibs.InstalledFile("jupyter-core", "../../../bin/jupyter", tmp_path / "jupyter"),
        sharedlibs.InstalledFile("jupyter-core", "jupyter_core/__init__.py", tmp_path / "x.py"),
    ]
    assert sharedlibs.environment_programs(files) == {"jupyter"}


def test_installed_files_of_a_real_distribution():
    dist = importlib.metadata.distribution("pytest")
    files = sharedlibs.installed_files([dist])
    assert files and all(f.path.is_file() and f.distribution == "pytest" for f in files)
    assert any(f.relpath == "pytest/__init__.py" for f in files)


# --- Qt's window plugins ---------------------------------------------------------------------------


def test_libraries_only_qt_window_plugins_load_are_left_to_the_user():
    scan = sharedlibs.Scan()
    plugin, xcbqpa, gui = (
        "cv2/qt/plugins/platforms/libqxcb.so",
        "opencv_python.libs/libQt5XcbQpa-1.so.5",
        "opencv_python.libs/libQt5Gui-1.so.5",
    )
    scan.loads["cv2/cv2.abi3.so"] = {gui}
    scan.loads[plugin] = {xcbqpa, gui}
    scan.loads[xcbqpa] = {gui}
    scan.system = {"cv2/cv2.abi3.so": (), plugin: ("libX11.so.6",), xcbqpa: ("libSM.so.6",), gui: ("libGL.so.1",)}
    # the GUI library the extension module loads stays; the plugin's own chain goes
    assert sharedlibs.window_only(scan) == {plugin, xcbqpa}
