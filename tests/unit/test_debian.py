"""Debian tables: the shipped tables, python:3.X-slim's contents, the host's dpkg, and the pure
parts of the generator (scripts/gen_debian_tables.py)."""

import gzip
import importlib.util
from pathlib import Path

import pytest

from dockermagic import debian

ROOT = Path(__file__).resolve().parents[2]


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_debian_tables", ROOT / "scripts" / "gen_debian_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Debian tables -------------------------------------------------------------------------------


def test_the_shipped_bookworm_table_is_small_and_maps_runtime_packages():
    path = debian.DATA / "debian-bookworm.json.gz"
    assert path.stat().st_size < 2_000_000
    table = debian.load_table("bookworm")
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
    assert {s: debian.package_for_soname(s, table) for s in expected} == expected
    programs = {
        "dot": "graphviz",
        "pdftoppm": "poppler-utils",
        "tesseract": "tesseract-ocr",
        "java": "default-jre-headless",
        "ffmpeg": "ffmpeg",
        "convert": "imagemagick",
    }
    assert {p: debian.package_for_program(p, table) for p in programs} == programs
    assert debian.package_for_soname("libdmnowhere.so.9", table) is None
    assert debian.package_for_program("dm-no-such-program", table) is None
    assert debian.load_table("no-such-release") is None
    assert "bookworm" in debian.shipped_releases()


def test_the_trixie_table_knows_the_64_bit_time_renames():
    # python:3.x-slim moved to trixie, where many library packages were renamed (t64)
    table = debian.load_table("trixie")
    assert table is not None and "trixie" in debian.shipped_releases()
    assert debian.package_for_soname("libssl.so.3", table) == "libssl3t64"
    assert debian.package_for_soname("libGL.so.1", table) == "libgl1"
    assert debian.package_for_program("dot", table) == "graphviz"
    assert "libc.so.6" in debian.python_slim_sonames("3.11", "trixie")


def test_python_slim_sonames_are_the_slim_image_s():
    slim = debian.python_slim_sonames("3.11", "bookworm")
    assert {"libz.so.1", "libstdc++.so.6", "libgcc_s.so.1", "libssl.so.3", "libffi.so.8", "libsqlite3.so.0"} <= slim
    assert {"libpython3.11.so.1.0", "libnsl.so.2"} <= slim  # CPython's own; the nis module's until 3.12
    assert not {"libGL.so.1", "libgomp.so.1", "libglib-2.0.so.0", "libX11.so.6"} & slim
    assert "libnsl.so.2" not in debian.python_slim_sonames("3.13", "bookworm")
    programs = debian.python_slim_programs("3.11")
    assert {"python3.11", "pip", "ldd", "ldconfig", "which", "bash"} <= programs and "dot" not in programs
    assert debian.python_slim_sonames("3.11", "no-such-release") == frozenset()


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
    assert debian.parse_dpkg_search(text, "lib") == {
        "libGL.so.1": ["libgl1", "primus-libs"],
        "libgomp.so.1": ["libgomp1"],
    }
    assert debian.parse_dpkg_search(text, "bin") == {"dot": ["graphviz"]}


def test_host_dpkg_answers_only_on_the_same_release():
    if debian.host_release() != ("debian", "bookworm") or not Path("/usr/lib/x86_64-linux-gnu/libgomp.so.1").exists():
        assert debian.host_dpkg_packages(["libgomp.so.1"], "lib", "no-such-release") == {}
        pytest.skip("this machine is not Debian bookworm with libgomp1")
    assert debian.host_dpkg_packages(["libgomp.so.1", "libdmnowhere.so.9"], "lib") == {"libgomp.so.1": "libgomp1"}
    assert debian.host_dpkg_packages(["libgomp.so.1"], "lib", "trixie") == {}


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

    with gzip.open(debian.DATA / "debian-bookworm.json.gz", "rt") as f:
        data = json.load(f)
    assert data["release"] == "bookworm" and data["generator"] == "scripts/gen_debian_tables.py"
    assert {"amd64", "arm64"} <= set(data["architectures"])
    assert "libc6" in data["python_slim"]["packages"] and "ca-certificates" in data["python_slim"]["packages"]
