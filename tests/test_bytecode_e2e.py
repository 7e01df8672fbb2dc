"""--precompile: the bytecode of the program's imports is in the image, written at build time."""

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]

# prints whether each module's .pyc exists in the image, as the image's own user sees it
CHECK = (
    "import os, json, packaging.version, colorsys; "
    "print(json.dumps({m.__name__: os.path.exists(m.__cached__) for m in (packaging.version, colorsys)}))"
)


def _cached(docker_client, tag):
    out = docker_client.containers.run(tag, ["python", "-c", CHECK], remove=True, labels={"org.dockermagic.test": "1"})
    return out.decode().strip().splitlines()[-1]


def test_precompile_writes_the_bytecode_of_the_programs_imports(docker_client, notebook_dir, tag):
    cells = [
        "import colorsys\nfrom packaging.version import Version\nprint(Version('1.2'), colorsys.rgb_to_hsv(1, 0, 0))",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag} --precompile -q",
        "import dockermagic.api\n"
        "print([line for s in dockermagic.api.last_build().steps for line in s.log if 'bytecode' in line])",
        f"plain = %dockerize -t {tag}-plain -q",
        "print(img.dockerfile)",
    ]
    # a project folder of its own makes the working folder, and so the precompile step, this
    # test's: a reused engine may hold the layer of an earlier run's step, and a cached step
    # prints no report
    (notebook_dir / ".git").mkdir()
    folder = notebook_dir / f"notebooks-{tag}"
    folder.mkdir()
    result = execute(make_notebook(folder, cells))
    for i in range(len(cells)):
        assert not result.errors(i), (i, result.text(i))
    assert f"WORKDIR /app/notebooks-{tag}" in result.text(5)
    assert "RUN python -m _dockermagic_runtime.precompile --owner 1000 colorsys packaging.version" in result.text(5)
    # the step's own report is in the build's log
    assert "bytecode for 2 of 2 imports" in result.text(3), result.text(3)
    assert _cached(docker_client, tag) == '{"packaging.version": true, "colorsys": true}'
    # without it (a script's default) nothing is compiled: the user 1000 cannot write it either
    assert _cached(docker_client, f"{tag}-plain") == '{"packaging.version": false, "colorsys": false}'
    # and the program still runs the same
    for image in (tag, f"{tag}-plain"):
        logs = docker_client.containers.run(image, remove=True, labels={"org.dockermagic.test": "1"})
        assert "1.2 (0.0, 1.0, 1)" in logs.decode()
