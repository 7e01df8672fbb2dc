"""Bad input inside a real kernel: one-line errors, nothing left behind."""

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


def _usage_error(executed, index):
    """The one-line message of the UsageError a cell ended with (IPython prints it, no traceback)."""
    text = executed.text(index)
    lines = [line for line in text.splitlines() if line.startswith("UsageError: ")]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0][len("UsageError: ") :]


def test_no_engine_reachable_is_one_line_with_how_to_start_one(notebook_dir):
    path = make_notebook(notebook_dir, ["x = 1", "%load_ext dockermagic", "%dockerize -t dmtest-noengine"])
    run = execute(path, extra_env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    message = _usage_error(run, 2)
    assert "no Docker engine answers at tcp://127.0.0.1:9" in message and "start Docker" in message


def test_invalid_tag_names_the_rule_and_builds_nothing(docker_client, notebook_dir):
    path = make_notebook(
        notebook_dir,
        [
            "x = 1",
            "%load_ext dockermagic",
            "%dockerize -t Not_Valid!",
            "import dockermagic.api\nprint('last build:', dockermagic.api.last_build())",
        ],
    )
    run = execute(path)
    assert "invalid image tag 'Not_Valid!'" in _usage_error(run, 2)
    assert "last build: None" in run.text(3)


def test_a_pip_line_that_failed_in_the_kernel_is_named_before_the_build(docker_client, notebook_dir, tag):
    cells = [
        "%pip install -q dmtest-no-such-package-xyz==0.0.1",
        "print('hello')",
        "%load_ext dockermagic",
        f"%dockerize -t {tag}",
        "import dockermagic.api\nprint('last build:', dockermagic.api.last_build())",
    ]
    run = execute(make_notebook(notebook_dir, cells))
    message = _usage_error(run, 3)
    assert message.startswith(
        "dmtest-no-such-package-xyz from %pip in cell 1 is not installed in this kernel (did the %pip line fail?)"
    ), message
    assert "last build: None" in run.text(4)  # refused before anything was built
    assert not docker_client.images.list(name=tag)


@pytest.fixture
def empty_index(docker_client):
    """A package index that has nothing (every page 404), reachable from builds at the engine's
    bridge gateway."""
    import http.server
    import threading

    class Nothing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Nothing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import ipaddress

    config = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    gateway = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    yield f"http://{gateway}:{server.server_address[1]}/simple/"
    server.shutdown()


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_requirement_the_index_lacks_names_the_package_its_cell_and_tags_nothing(
    docker_client, notebook_dir, tag, empty_index, installer
):
    cells = [
        "import six\nprint(six.__version__)",
        "%load_ext dockermagic",
        f"%dockerize -t {tag} --installer {installer}",
        "import dockermagic.api\nprint(dockermagic.api.last_build().new_layers)",
    ]
    run = execute(make_notebook(notebook_dir, cells), extra_env={"PIP_INDEX_URL": empty_index})
    message = _usage_error(run, 2)
    assert "RUN python -m venv" in message and "exited with code 1" in message, message
    assert "six==" in message and "is not on the package index the build uses (import six in cell 1)" in message
    assert not docker_client.images.list(name=tag)
    layers = eval(run.text(3).strip().splitlines()[-1])
    assert layers, "the build made no layer before the failing step"
    existing = {i.id.split(":")[1][:12] for i in docker_client.images.list(all=True)}
    assert not existing & {layer[:12] for layer in layers}


def test_failing_program_raises_with_its_last_line_and_removes_container(docker_client, notebook_dir, tag):
    cells = [
        "print('about to fail')",
        "%load_ext dockermagic",
        f"%%dockerize -t {tag}\nimport sys\nsys.exit('bad data: column missing')",
        f"%docker_run {tag}",
        "print('not reached')",
    ]
    path = make_notebook(notebook_dir, cells)
    run = execute(path)
    assert not run.errors(2), run.text(2)
    message = _usage_error(run, 3)
    assert "exited with code 1" in message and "bad data: column missing" in message
    assert "about to fail" in run.text(3)
    assert docker_client.containers.list(all=True, filters={"label": f"org.dockermagic.image={tag}"}) == []


def test_syntax_error_and_bare_shell_command_name_the_cell(notebook_dir):
    path = make_notebook(
        notebook_dir, ["x = 1", "pip install requests", "%load_ext dockermagic", "%dockerize --dry-run"]
    )
    run = execute(path)
    message = _usage_error(run, 3)
    assert message.startswith("cell 2 has a syntax error") and "!pip install requests" in message


def test_notebook_without_imports_builds_and_runs(docker_client, notebook_dir, tag):
    path = make_notebook(
        notebook_dir,
        [
            "total = sum(range(10))",
            "print('total', total)",
            "%load_ext dockermagic",
            f"img = %dockerize -t {tag} -q",
            f"run = %docker_run {tag}",
            "print(img.requirements, run.exit_code)",
        ],
    )
    run = execute(path)
    assert "total 45" in run.text(4)
    assert run.text(5).strip().endswith("[] 0")
