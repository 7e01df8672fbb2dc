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
    assert lines[:3] == ["FROM-UV - UV-INSTALLS", "NO-UV-STAGE PIP-FETCHES-UV UV-INSTALLS",
                         "NO-UV-STAGE - PIP-INSTALLS"], lines
    assert f"{UNREACHABLE} cannot be pulled here" in lines[3]
    for image in (tag, f"{tag}-fallback", f"{tag}-pip"):
        logs = docker_client.containers.run(image, remove=True).decode()
        assert "newer True" in logs, (image, logs)
        # neither installer is left in the image's environment
        tools = docker_client.containers.run(image, ["ls", "/opt/venv/bin"], remove=True).decode().split()
        assert "uv" not in tools, (image, tools)
