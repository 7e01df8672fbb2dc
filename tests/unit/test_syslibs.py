"""System libraries and programs: ELF reading, resolution inside the environment, Debian tables,
program detection, and the build-time check that runs in the image (on fake environments)."""

import gzip
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockermagic import syslibs
from dockermagic.runtime import checklibs

ROOT = Path(__file__).resolve().parents[2]
HAVE_GCC = shutil.which("gcc") is not None
needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="gcc builds the synthetic shared objects")
needs_elftools = pytest.mark.skipif(importlib.util.find_spec("elftools") is None, reason="pyelftools")


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_debian_tables", ROOT / "scripts" / "gen_debian_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cc(out: Path, source: str, *flags: str) -> Path:
    """A shared object built from C source with gcc (flags go after the source: -L, -l, -Wl,...)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(src), *flags], check=True, capture_output=True)
    src.unlink()
    return out


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    """Synthetic shared objects: libdmdep.so.1 (with its soname), an extension module linking it
    through an $ORIGIN rpath to a bundled ``pkg.libs`` folder, and one linking a soname nothing provides."""
    root = tmp_path_factory.mktemp("elves")
    dep = _cc(root / "pkg.libs" / "libdmdep.so.1", "int dm_dep(void){return 1;}", "-Wl,-soname,libdmdep.so.1")
    gone = _cc(root / "build" / "libdmgone.so.7", "int dm_gone(void){return 7;}", "-Wl,-soname,libdmgone.so.7")
    ext = _cc(
        root / "pkg" / "_ext.cpython-311-x86_64-linux-gnu.so",
        "int dm_dep(void); int f(void){return dm_dep();}",
        f"-L{dep.parent}",
        "-l:libdmdep.so.1",
        "-Wl,-rpath,$ORIGIN/../pkg.libs",
    )
    orphan = _cc(
        root / "pkg" / "_orphan.cpython-311-x86_64-linux-gnu.so",
        "int dm_gone(void); int g(void){return dm_gone();}",
        f"-L{gone.parent}",
        "-l:libdmgone.so.7",
        "-Wl,--no-as-needed",
        "-lgomp",
    )
    return {"root": root, "dep": dep, "gone": gone, "ext": ext, "orphan": orphan}


def _files(root: Path, *paths: Path, dist: str = "dmpkg") -> list:
    return [syslibs.InstalledFile(dist, p.relative_to(root).as_posix(), p) for p in paths]


# --- ELF ---------------------------------------------------------------------------------------


@needs_elftools
def test_read_elf_of_numpy_extension_module_names_its_bundled_openblas_and_rpath():
    numpy = pytest.importorskip("numpy")
    module = next(Path(numpy.__file__).parent.glob("_core/_multiarray_umath*.so"), None)
    if module is None:
        pytest.skip("numpy without _core/_multiarray_umath")
    info = syslibs.read_elf(module)
    assert info is not None and info.machine == syslibs.host_machine()
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
    info = syslibs.read_elf(libz)
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
        assert syslibs.read_elf(tmp_path / name) is None, name
    assert syslibs.read_elf(tmp_path / "missing.so") is None


def test_expand_origin_and_shared_object_names():
    assert syslibs.expand_origin("$ORIGIN/../opencv_python.libs", "cv2") == "opencv_python.libs"
    assert syslibs.expand_origin("${ORIGIN}/../../numpy.libs", "numpy/_core") == "numpy.libs"
    for name in ("cv2.abi3.so", "libGL.so.1", "libQt5Core-9088e21b.so.5.15.19", "libscipy_openblas64_-32a4b2a6.so"):
        assert syslibs.looks_like_shared_object(name), name
    for name in ("setup.py", "libs.txt", "socket.sock"):
        assert not syslibs.looks_like_shared_object(name), name
    assert syslibs.display_path("../../../bin/ruff") == "bin/ruff"
    assert syslibs.is_extension_module("cv2/cv2.abi3.so")
    assert not syslibs.is_extension_module("opencv_python.libs/libQt5Gui-afbd4980.so.5.15.19")


# --- resolution inside the environment ----------------------------------------------------------


@needs_gcc
@needs_elftools
def test_libraries_bundled_through_origin_rpath_are_not_asked_from_the_system(elves):
    root = elves["root"]
    needed = syslibs.needed_by_distribution(_files(root, elves["ext"], elves["dep"]))
    assert needed == {}  # the extension needs only libdmdep.so.1 (bundled) and glibc


@needs_gcc
@needs_elftools
def test_a_soname_nothing_bundles_is_expected_from_the_system(elves):
    root = elves["root"]
    needed = syslibs.needed_by_distribution(_files(root, elves["ext"], elves["dep"], elves["orphan"]))
    orphan = elves["orphan"].relative_to(root).as_posix()
    assert set(needed["dmpkg"][orphan]) == {"libdmgone.so.7", "libgomp.so.1"}
    missing = syslibs.missing_libraries(needed, base_sonames={"libz.so.1"})
    assert missing == {"libdmgone.so.7": [orphan], "libgomp.so.1": [orphan]}
    assert syslibs.missing_libraries(needed, {"libgomp.so.1", "libdmgone.so.7"}) == {}


@needs_gcc
@needs_elftools
def test_another_distributions_bundled_copy_counts_and_foreign_machines_are_ignored(elves):
    root = elves["root"]
    files = _files(root, elves["ext"]) + _files(root, elves["dep"], dist="otherdist")
    assert syslibs.needed_by_distribution(files) == {}
    assert syslibs.needed_by_distribution(_files(root, elves["orphan"]), machine="EM_AARCH64") == {}


def test_missing_libraries_leaves_out_glibc_and_the_gpu_driver_and_lists_modules_first():
    needed = {
        "opencv-python": {
            "opencv_python.libs/libQt5Gui-1.so.5": ("libGL.so.1", "libc.so.6"),
            "cv2/cv2.abi3.so": ("libGL.so.1", "libpthread.so.0"),
        },
        "torch": {"torch/lib/libtorch_cuda.so": ("libcuda.so.1", "libstdc++.so.6")},
    }
    assert syslibs.missing_libraries(needed, {"libstdc++.so.6"}) == {
        "libGL.so.1": ["cv2/cv2.abi3.so", "opencv_python.libs/libQt5Gui-1.so.5"]
    }


def test_parse_ldconfig():
    text = (
        "93 libs found in cache `/etc/ld.so.cache'\n"
        "\tlibzstd.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libzstd.so.1\n"
        "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n"
        "\tld-linux-x86-64.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
    )
    assert syslibs.parse_ldconfig(text) == {"libzstd.so.1", "libz.so.1", "ld-linux-x86-64.so.2"}
    assert syslibs.parse_ldconfig("") == set()


def test_parse_ldconfig_of_this_machine():
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not Path(ldconfig).exists():
        pytest.skip("no ldconfig")
    out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    assert "libc.so.6" in syslibs.parse_ldconfig(out)


# --- programs ------------------------------------------------------------------------------------


def test_command_words():
    assert syslibs.command_words("cd out && dot -Tpng g.dot | convert - g.jpg; FOO=1 sudo tesseract x y") == [
        "dot",
        "convert",
        "tesseract",
    ]
    assert syslibs.command_words("/usr/bin/pdftoppm -r 300 a.pdf out > log 2>&1") == ["pdftoppm"]
    assert syslibs.command_words("./run.sh; $CMD x; {sys.executable} -m pip; echo hi") == []
    assert syslibs.command_words("ls 'unbalanced") == ["ls"]
    assert syslibs.command_words("# a comment\nffmpeg -i a.mp4 b.wav") == ["ffmpeg"]


def test_programs_in_source_finds_literal_commands_through_aliases_and_ipython_lines():
    source = "\n".join(
        [
            "import os, subprocess as sp",
            "from subprocess import check_output",
            "sp.run(['dot', '-Tpng', 'g.dot'], check=True)",
            "check_output('pdftoppm -png a.pdf out', shell=True)",
            "os.system(f'tesseract {image} out')",
            "get_ipython().system('ffmpeg -i in.mp4 out.wav')",
            "files = get_ipython().getoutput('ls data | wc -l')",
            "get_ipython().run_cell_magic('bash', '', 'java -version\\nRscript x.R\\n')",
            "sp.Popen([program, 'x'])",  # not a literal: unknown, left out
            "subprocess_like.run(['nope'])",
            "os.popen(cmd)",
            "get_ipython().run_line_magic('sx', 'pdfinfo a.pdf')",
            "get_ipython().run_cell_magic('script', 'node', 'console.log(1)')",
        ]
    )
    found = [(u.program, u.line, u.how) for u in syslibs.programs_in_source(source)]
    assert found == [
        ("dot", 3, "subprocess.run"),
        ("pdftoppm", 4, "subprocess.check_output"),
        ("tesseract", 5, "os.system"),
        ("ffmpeg", 6, "get_ipython().system"),
        ("ls", 7, "get_ipython().getoutput"),
        ("wc", 7, "get_ipython().getoutput"),
        ("java", 8, "%%bash"),
        ("Rscript", 8, "%%bash"),
        ("pdfinfo", 12, "get_ipython().run_line_magic"),
        ("node", 13, "%%script"),
    ]
    assert syslibs.programs_in_source("def broken(:\n") == []


def test_programs_in_what_ipython_makes_of_shell_lines_and_cells():
    from IPython.core.inputtransformer2 import TransformerManager

    cells = ["!dot -Tpng {name}.dot -o g.png\n", "files = !ls data\n", "%%bash\nffmpeg -i a.mp4 a.wav\n"]
    source = "".join(TransformerManager().transform_cell(cell) for cell in cells)
    assert [u.program for u in syslibs.programs_in_source(source)] == ["dot", "ls", "ffmpeg"]
    # dockermagic's own translation of the same lines, without IPython
    translated = (
        "import _dockermagic_runtime\n"
        "_dockermagic_runtime.system('dot -Tpng {name}.dot -o g.png')\n"
        "files = _dockermagic_runtime.getoutput('ls data')\n"
        "_dockermagic_runtime.script('bash', 'ffmpeg -i a.mp4 a.wav\\n')  # %%bash\n"
    )
    uses = [(u.program, u.how) for u in syslibs.programs_in_source(translated)]
    assert uses == [
        ("dot", "_dockermagic_runtime.system"),
        ("ls", "_dockermagic_runtime.getoutput"),
        ("ffmpeg", "%%bash"),
    ]


def test_programs_of_well_known_wrappers():
    got = syslibs.programs_of_distributions(["graphviz", "pdf2image", "PyTesseract", "pyspark", "ffmpeg_python", "x"])
    assert got == {
        "dot": ["graphviz"],
        "pdftoppm": ["pdf2image"],
        "pdfinfo": ["pdf2image"],
        "tesseract": ["PyTesseract"],
        "java": ["pyspark"],
        "ffmpeg": ["ffmpeg_python"],
        "ffprobe": ["ffmpeg_python"],
    }
    assert "moviepy" not in syslibs.PROGRAM_WRAPPERS  # imageio-ffmpeg bundles its ffmpeg
    assert syslibs.libraries_of_distributions(["python-magic"]) == {"libmagic.so.1": ["python-magic"]}


def test_environment_programs_are_its_scripts(tmp_path):
    files = [
        syslibs.InstalledFile("jupyter-core", "../../../bin/jupyter", tmp_path / "jupyter"),
        syslibs.InstalledFile("jupyter-core", "jupyter_core/__init__.py", tmp_path / "x.py"),
    ]
    assert syslibs.environment_programs(files) == {"jupyter"}


# --- Debian tables -------------------------------------------------------------------------------


def test_the_shipped_bookworm_table_is_small_and_maps_runtime_packages():
    path = syslibs.DATA / "debian-bookworm.json.gz"
    assert path.stat().st_size < 2_000_000
    table = syslibs.load_table("bookworm")
    assert table is not None and table.release == "bookworm"
    expected = {
        "libGL.so.1": "libgl1",
        "libgomp.so.1": "libgomp1",
        "libglib-2.0.so.0": "libglib2.0-0",
        "libgthread-2.0.so.0": "libglib2.0-0",
        "libxcb.so.1": "libxcb1",
        "libstdc++.so.6": "libstdc++6",
        "libblas.so.3": "libblas3",
        "libbz2.so.1.0": "libbz2-1.0",
    }
    assert {s: syslibs.package_for_soname(s, table) for s in expected} == expected
    programs = {
        "dot": "graphviz",
        "pdftoppm": "poppler-utils",
        "tesseract": "tesseract-ocr",
        "java": "default-jre-headless",
        "ffmpeg": "ffmpeg",
        "convert": "imagemagick",
    }
    assert {p: syslibs.package_for_program(p, table) for p in programs} == programs
    assert syslibs.package_for_soname("libdmnowhere.so.9", table) is None
    assert syslibs.package_for_program("dm-no-such-program", table) is None
    assert syslibs.load_table("no-such-release") is None
    assert "bookworm" in syslibs.shipped_releases()


def test_the_trixie_table_knows_the_64_bit_time_renames():
    # python:3.x-slim moved to trixie, where many library packages were renamed (t64)
    table = syslibs.load_table("trixie")
    assert table is not None and "trixie" in syslibs.shipped_releases()
    assert syslibs.package_for_soname("libssl.so.3", table) == "libssl3t64"
    assert syslibs.package_for_soname("libGL.so.1", table) == "libgl1"
    assert syslibs.package_for_program("dot", table) == "graphviz"
    assert "libc.so.6" in syslibs.python_slim_sonames("3.11", "trixie")


def test_python_slim_sonames_are_the_slim_image_s():
    slim = syslibs.python_slim_sonames("3.11", "bookworm")
    assert {"libz.so.1", "libstdc++.so.6", "libgcc_s.so.1", "libssl.so.3", "libffi.so.8", "libsqlite3.so.0"} <= slim
    assert {"libpython3.11.so.1.0", "libnsl.so.2"} <= slim  # CPython's own; the nis module's until 3.12
    assert not {"libGL.so.1", "libgomp.so.1", "libglib-2.0.so.0", "libX11.so.6"} & slim
    assert "libnsl.so.2" not in syslibs.python_slim_sonames("3.13", "bookworm")
    programs = syslibs.python_slim_programs("3.11")
    assert {"python3.11", "pip", "ldd", "ldconfig", "which", "bash"} <= programs and "dot" not in programs
    assert syslibs.python_slim_sonames("3.11", "no-such-release") == frozenset()


def test_parse_dpkg_search_keeps_runtime_folders_and_packages():
    text = "\n".join(
        [
            "libgl1:amd64: /usr/lib/x86_64-linux-gnu/libGL.so.1",
            "primus-libs:amd64: /usr/lib/x86_64-linux-gnu/primus/libGL.so.1",
            "libgomp1:amd64, lib32gomp1: /usr/lib/x86_64-linux-gnu/libgomp.so.1",
            "diversion by dash from: /bin/sh",
            "graphviz: /usr/bin/dot",
            "libglib2.0-dev:amd64: /usr/lib/x86_64-linux-gnu/libglib-2.0.so",
        ]
    )
    assert syslibs.parse_dpkg_search(text, "lib") == {
        "libGL.so.1": ["libgl1", "primus-libs"],
        "libgomp.so.1": ["libgomp1"],
    }
    assert syslibs.parse_dpkg_search(text, "bin") == {"dot": ["graphviz"]}


def test_host_dpkg_answers_only_on_the_same_release():
    if syslibs.host_release() != ("debian", "bookworm") or not Path("/usr/lib/x86_64-linux-gnu/libgomp.so.1").exists():
        assert syslibs.host_dpkg_packages(["libgomp.so.1"], "lib", "no-such-release") == {}
        pytest.skip("this machine is not Debian bookworm with libgomp1")
    assert syslibs.host_dpkg_packages(["libgomp.so.1", "libdmnowhere.so.9"], "lib") == {"libgomp.so.1": "libgomp1"}
    assert syslibs.host_dpkg_packages(["libgomp.so.1"], "lib", "trixie") == {}


# --- the plan --------------------------------------------------------------------------------------


@needs_gcc
@needs_elftools
def test_plan_names_packages_with_reasons_and_reports_what_no_package_provides(elves):
    root = elves["root"]
    files = _files(root, elves["ext"], elves["dep"], elves["orphan"]) + [
        syslibs.InstalledFile("pytesseract", "pytesseract/__init__.py", root / "none.py"),
        syslibs.InstalledFile("python-magic", "magic/__init__.py", root / "none.py"),
        syslibs.InstalledFile("jupyter-core", "../../../bin/jupyter", root / "none"),
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
    files = _files(root, elves["ext"], elves["dep"], elves["orphan"])
    plan = syslibs.plan_system_packages(
        files, base_sonames={"libgomp.so.1", "libdmgone.so.7"}, python_version="3.11", use_host_dpkg=False
    )
    assert plan.packages == [] and plan.unknown == [] and plan.programs == {}


def test_plan_names_the_extension_module_through_the_bundled_library():
    scan = syslibs._Scan()
    scan.loads["cv2/cv2.abi3.so"] = {"opencv_python.libs/libQt5Gui-1.so.5"}
    scan.loads["opencv_python.libs/libQt5Gui-1.so.5"] = {"opencv_python.libs/libQt5Core-1.so.5"}
    who = syslibs._who(["opencv_python.libs/libQt5Core-1.so.5", "cv2/qt/plugins/libqxcb.so"], scan)
    assert who == "cv2/cv2.abi3.so (through opencv_python.libs/libQt5Core-1.so.5) and 1 more"


def test_libraries_only_qt_window_plugins_load_are_left_to_the_user():
    scan = syslibs._Scan()
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
    assert syslibs.window_only(scan) == {plugin, xcbqpa}


def test_the_real_opencv_wheel_needs_gl_but_not_x11_for_its_window_plugin():
    from importlib import metadata

    try:
        files = syslibs.installed_files([metadata.distribution("opencv-python")])
    except metadata.PackageNotFoundError:
        pytest.skip("opencv-python is not installed here")
    plan = syslibs.plan_system_packages(files, use_host_dpkg=False)
    assert "libgl1" in plan.package_names and "libsm6" not in plan.package_names, plan.packages
    assert "cv2/qt/plugins/platforms/libqxcb.so" in plan.skipped
    assert any("libSM.so.6" in note and "--apt" in note for note in plan.notes), plan.notes
    assert "--skip=cv2/qt/plugins/platforms/libqxcb.so" in plan.check_args()


# --- the generator's pure parts --------------------------------------------------------------------


def test_generator_parses_contents_and_keeps_runtime_library_packages():
    gen = _gen_module()
    lines = [
        "usr/lib/x86_64-linux-gnu/libGL.so.1                     libs/libgl1\n",
        "usr/lib/x86_64-linux-gnu/libGL.so.1.7.0                 libs/libgl1\n",
        "usr/lib/x86_64-linux-gnu/primus/libGL.so.1              utils/primus-libs\n",
        "usr/lib/x86_64-linux-gnu/libgthread-2.0.so              libdevel/libglib2.0-dev\n",
        "usr/lib/x86_64-linux-gnu/libgthread-2.0.so.0            libs/libglib2.0-0\n",
        "usr/lib32/libgomp.so.1                                  libs/lib32gomp1\n",
        "usr/x86_64-linux-gnu/lib/libgomp.so.1                   devel/libgomp1-amd64-cross\n",
        "lib/x86_64-linux-gnu/libbz2.so.1.0                      libs/libbz2-1.0\n",
        "lib/x86_64-linux-gnu/libbz2.so.1.0.4                    libs/libbz2-1.0\n",
        "usr/bin/dot                                             graphics/graphviz\n",
        "usr/share/doc/graphviz/copyright                        graphics/graphviz\n",
        "usr/bin/name with space                                 misc/odd,non-free/misc/other\n",
    ]
    top, nested = gen.library_dirs(["x86_64-linux-gnu"])
    found = gen.collect(gen.parse_contents(lines), top, nested)
    sonames, programs, package_libs, _ = gen.build_maps(found)
    assert sonames == {
        "libGL.so.1": ["libgl1", "primus-libs"],
        "libgthread-2.0.so.0": ["libglib2.0-0"],
        "libbz2.so.1.0": ["libbz2-1.0"],
    }
    assert programs == {"dot": ["graphviz"], "name with space": ["odd", "other"]}
    assert package_libs["libgl1"] == {"libGL.so.1"}
    assert gen.soname_links_only(["libbz2.so.1", "libbz2.so.1.0", "libbz2.so.1.0.4"]) == {
        "libbz2.so.1",
        "libbz2.so.1.0",
    }


def test_generator_closure_follows_dependencies_like_apt():
    gen = _gen_module()
    index = gen.parse_packages(
        "Package: base\nPriority: required\nDepends: libc6 (>= 2.36), mawk | awk\n\n"
        "Package: libc6\nPriority: optional\nDepends: libgcc-s1\n\n"
        "Package: libgcc-s1\nPriority: optional\n\n"
        "Package: mawk\nPriority: required\nProvides: awk\n\n"
        "Package: gawk\nPriority: optional\nProvides: awk\n\n"
        "Package: tool\nPriority: optional\nDepends: usrmerge | usr-is-merged, awk\n\n"
        "Package: usrmerge\nPriority: optional\nDepends: perl\n\n"
        "Package: usr-is-merged\nPriority: optional\n\n"
    )
    assert gen.closure(index, ["base"]) == {"base", "libc6", "libgcc-s1", "mawk"}
    assert gen.closure(index, ["base", "usr-is-merged", "tool"]) == {
        "base",
        "libc6",
        "libgcc-s1",
        "mawk",
        "tool",
        "usr-is-merged",
    }


def test_shipped_table_is_valid_json_with_its_provenance():
    import json

    with gzip.open(syslibs.DATA / "debian-bookworm.json.gz", "rt") as f:
        data = json.load(f)
    assert data["release"] == "bookworm" and data["generator"] == "scripts/gen_debian_tables.py"
    assert {"amd64", "arm64"} <= set(data["architectures"])
    assert "libc6" in data["python_slim"]["packages"] and "ca-certificates" in data["python_slim"]["packages"]


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


def test_installed_files_of_a_real_distribution():
    dist = importlib.metadata.distribution("pytest")
    files = syslibs.installed_files([dist])
    assert files and all(f.path.is_file() and f.distribution == "pytest" for f in files)
    assert any(f.relpath == "pytest/__init__.py" for f in files)
