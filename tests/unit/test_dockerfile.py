"""The Dockerfile as text: stages, order, user, hadolint."""

import subprocess

import pytest

from dockermagic import capture, context, dockerfile, progress


def _render(**kw):
    spec = dockerfile.DockerfileSpec(
        base="python:3.11-slim", command=["python", "program.py"], labels={"org.dockermagic.version": "0"}, **kw
    )
    return dockerfile.render(spec)


@pytest.mark.parametrize("installer,uv_image", [("uv", dockerfile.UV_IMAGE), ("uv", None), ("pip", None)])
def test_dockerfile_installs_before_copying_code_and_runs_as_non_root(installer, uv_image):
    text = _render(
        installer=installer, pip_config=True, uv_config=True, ca_bundle=True, precompile=["pandas"], uv_image=uv_image
    )
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
    index = capture.IndexSettings(
        index_url="https://mirror/simple", extra_index_urls=["https://extra/simple"], trusted_hosts=["mirror"]
    )
    text = context.uv_config(index)
    assert text.splitlines() == [
        'index-url = "https://mirror/simple"',
        'extra-index-url = ["https://extra/simple"]',
        'allow-insecure-host = ["mirror"]',
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"installer": "pip"},
        {"uv_image": dockerfile.UV_IMAGE},
        {"expose": [5000], "healthcheck": ["python", "-c", "1"]},
        {"has_requirements": False},
        {"precompile": ["numpy", "sklearn.linear_model"]},
    ],
)
def test_dockerfile_passes_hadolint(tmp_path, kw):
    path = tmp_path / "Dockerfile"
    path.write_text(_render(**kw))
    out = subprocess.run(["hadolint", "--no-color", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_steps_join_continuations():
    steps = progress.dockerfile_steps(_render())
    assert steps[0] == "FROM python:3.11-slim AS builder"
    assert any(s.startswith("RUN python -m venv --without-pip /opt/venv && { python -c") for s in steps)
