"""The requirements layer three ways: uv from its image (default), uv fetched by the base image's
pip when that image cannot be had, and pip."""

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]

UNREACHABLE = "127.0.0.1:9/dmtest/uv:0"  # nothing listens there: the pull fails at once


def test_uv_from_its_image_from_pip_and_the_pip_installer(docker_client, notebook_dir, tag):
    cells = [
        "from packaging.version import Version\nprint('newer', Version('2.0') > Version('1.10'))",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag} -q",
        f"import os\nos.environ['DOCKERMAGIC_UV_IMAGE'] = {UNREACHABLE!r}\nfallback = %dockerize -t {tag}-fallback -q",
        f"del os.environ['DOCKERMAGIC_UV_IMAGE']\nwith_pip = %dockerize -t {tag}-pip --installer pip -q",
        "for image in (img, fallback, with_pip):\n"
        "    print('FROM-UV' if 'AS uv' in image.dockerfile else 'NO-UV-STAGE',\n"
        "          'PIP-FETCHES-UV' if '--target /tmp/dockermagic/uv uv==' in image.dockerfile else '-',\n"
        "          'UV-INSTALLS' if 'uv pip install' in image.dockerfile else 'PIP-INSTALLS')\n"
        "print([n for n in fallback.notes if 'cannot be pulled' in n])",
    ]
    result = execute(make_notebook(notebook_dir, cells))
    for i in range(len(cells)):
        assert not result.errors(i) and "UsageError" not in result.text(i), (i, result.text(i))
    lines = result.text(5).strip().splitlines()
    assert lines[:3] == [
        "FROM-UV - UV-INSTALLS",
        "NO-UV-STAGE PIP-FETCHES-UV UV-INSTALLS",
        "NO-UV-STAGE - PIP-INSTALLS",
    ], lines
    assert f"{UNREACHABLE} cannot be pulled here" in lines[3]
    for image in (tag, f"{tag}-fallback", f"{tag}-pip"):
        logs = docker_client.containers.run(image, remove=True).decode()
        assert "newer True" in logs, (image, logs)
        # neither installer is left in the image's environment
        tools = docker_client.containers.run(image, ["ls", "/opt/venv/bin"], remove=True).decode().split()
        assert "uv" not in tools, (image, tools)


def test_a_base_without_pip_still_gets_uv(docker_client, notebook_dir, tag):
    base = f"{tag}-nopip:1"
    folder = notebook_dir / "base"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM python:3.11-slim\nRUN python -m pip uninstall -y -q pip setuptools\n")
    docker_client.images.build(path=str(folder), tag=base, rm=True)
    cells = [
        "from packaging.version import Version\nprint('parsed', Version('3.1'))",
        "%load_ext dockermagic",
        # no uv image: the builder must fetch uv itself, and this base has no pip to do it with
        f"import os\nos.environ['DOCKERMAGIC_UV_IMAGE'] = ''\nimg = %dockerize -t {tag} --base {base} -q",
        "print('ensurepip' in img.dockerfile, 'AS uv' in img.dockerfile)",
    ]
    result = execute(make_notebook(notebook_dir, cells))
    for i in range(len(cells)):
        assert not result.errors(i) and "UsageError" not in result.text(i), (i, result.text(i))
    assert result.text(3).strip() == "True False"
    assert "parsed 3.1" in docker_client.containers.run(tag, remove=True).decode()


def test_a_rebuild_removes_the_image_it_replaced_unless_it_is_still_tagged(docker_client, notebook_dir, tag):
    cells = [
        "x = 1",
        "%load_ext dockermagic",
        f"a = %dockerize -t {tag} -q",
        "x = 2",
        f"b = %dockerize -t {tag} -q",
        "x = 3",
        f"import docker\ndocker.from_env().images.get(b.image_id).tag('{tag}-kept')\nc = %dockerize -t {tag} -q",
        "print(a.image_id, b.image_id, c.image_id)",
    ]
    result = execute(make_notebook(notebook_dir, cells))
    for i in range(len(cells)):
        assert not result.errors(i) and "UsageError" not in result.text(i), (i, result.text(i))
    a, b, c = result.text(7).split()
    assert len({a, b, c}) == 3
    present = {image.id for image in docker_client.images.list(all=True)}
    assert a not in present  # untagged by the rebuild: removed, not left dangling
    assert b in present and docker_client.images.get(b).tags == [f"{tag}-kept:latest"]
    assert c in present
