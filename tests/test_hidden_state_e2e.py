"""Hidden state and secrets, in a real kernel against a real engine."""

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


def test_notebook_with_hidden_state_still_runs_in_its_image(docker_client, notebook_dir, tag):
    # saved order: the cell using `threshold` comes before the one defining it; the kernel
    # ran them in the other order (cell 2 first), and cell 4 failed in the kernel.
    saved = [
        "result = threshold * 2\nprint('result', result)",
        "threshold = 21",
        "%load_ext dockermagic",
        "1 / 0",
        f"img = %dockerize -t {tag}",
        f"run = %docker_run {tag}",
    ]
    path = make_notebook(notebook_dir, saved)
    # the kernel executes cells in the order a user did: 2, 1, then the rest
    order = [saved[1], saved[0]] + saved[2:]
    make_notebook(notebook_dir, order, name="as_run.ipynb")
    run = execute(notebook_dir / "as_run.ipynb", extra_env={"JPY_SESSION_NAME": str(path)})
    dockerize_text = run.text(4)
    assert "hidden state" in dockerize_text
    assert "cell 1 uses 'threshold' before cell 2 defines it" in dockerize_text
    assert not run.errors(5), run.text(5)
    assert "result 42" in run.text(5)
    assert "ZeroDivisionError" not in run.text(5)


def test_fake_cloud_key_stops_the_build_and_env_files_never_enter(docker_client, notebook_dir, tag):
    (notebook_dir / ".env").write_text("AWS_SECRET_ACCESS_KEY=abc\n")
    (notebook_dir / "data").mkdir()
    (notebook_dir / "data" / "rows.csv").write_text("a\n1\n")
    (notebook_dir / "data" / ".env").write_text("TOKEN=x\n")
    cells = [
        "import csv\nrows = list(csv.reader(open('data/rows.csv')))",
        "AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE'\nprint('configured')",
        "%load_ext dockermagic",
        f"%dockerize -t {tag}",
        "%dockerize --context ctx --include data --allow-secrets",
        "%dockerize --dry-run",
    ]
    path = make_notebook(notebook_dir, cells)
    images_before = {i.id for i in docker_client.images.list(all=True)}
    run = execute(path)
    message = [l for l in run.text(3).splitlines() if l.startswith("UsageError: ")]
    assert message and "AWS Access Key in program.py line" in message[0], run.text(3)
    assert not docker_client.images.list(name=tag)
    assert {i.id for i in docker_client.images.list(all=True)} == images_before
    # with the explicit override the context is written, and still holds no .env anywhere
    assert not run.errors(4), run.text(4)
    ctx = notebook_dir / "ctx"
    assert (ctx / "app" / "data" / "rows.csv").is_file()
    assert not [p for p in ctx.rglob("*") if p.name == ".env"]
    # the kernel's environment variables are not baked in
    assert "AWS_SECRET" not in (ctx / "Dockerfile").read_text()
    # without the override, a dry run refuses just the same
    assert "AWS Access Key" in run.text(5)
