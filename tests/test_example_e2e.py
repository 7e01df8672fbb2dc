"""The bundled example, executed in a real kernel against a real engine: the notebook
dockerizes itself, runs its image, and the figures and files come back."""

import json

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]


def test_example_notebook_builds_runs_and_brings_outputs_back(docker_client, example_dir, tag):
    nb_path = example_dir / "heart_roc.ipynb"
    text = (
        nb_path.read_text().replace("-t heart-roc", f"-t {tag}").replace("%docker_run heart-roc", f"%docker_run {tag}")
    )
    nb_path.write_text(text)
    shown = text.count("plt.show()")
    assert shown >= 2

    run = execute(nb_path)
    cells = run.code_cells
    for i in range(len(cells)):
        assert not run.errors(i), run.text(i)

    image = docker_client.images.get(f"{tag}:latest")
    assert image.labels["org.dockermagic.notebook"] == "heart_roc.ipynb"
    assert image.attrs["Config"]["User"] == "1000"
    assert image.attrs["Config"]["Cmd"] == ["python", "program.py"]

    dockerize_cell = next(i for i, c in enumerate(cells) if "%dockerize" in c.source)
    assert "built" in run.text(dockerize_cell) or "done" in run.text(dockerize_cell)

    outputs_dir = example_dir / "dockermagic-outputs"
    runs = list(outputs_dir.iterdir())
    assert len(runs) == 1
    figures = sorted((runs[0] / "figures").glob("*.png"))
    assert len(figures) == shown
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 5000 for f in figures)
    metrics = (runs[0] / "metrics.csv").read_text()
    assert metrics.splitlines()[0].startswith("model,roc_auc")
    assert len(metrics.splitlines()) == 4
    # the data file went in, but does not come back as an output
    assert not (runs[0] / "data").exists()
    # the value the notebook recorded came back with the run
    assert json.loads((runs[0] / "records.json").read_text())["roc_auc_smote"] > 0.5
    assert docker_client.containers.list(all=True, filters={"label": f"org.dockermagic.image={tag}:latest"}) == []


def test_dockerfile_installs_requirements_before_code_and_code_change_hits_cache(docker_client, notebook_dir, tag):
    cells = [
        "import numpy as np\nvalues = np.arange(5)\nprint('sum', values.sum())",
        "%load_ext dockermagic",
        f"img = %dockerize -t {tag}",
        "print(json.dumps({'context': str(img.context), 'cached': img.cached_steps, "
        "'reqs': [str(r) for r in img.requirements], 'dockerfile': img.dockerfile, 'notes': img.notes}))",
    ]
    cells[0] = "import json\n" + cells[0]
    path = make_notebook(notebook_dir, cells)
    first = execute(path)
    assert not any(first.errors(i) for i in range(4)), first.text(2) + first.text(3)
    info = json.loads(first.text(3).strip().splitlines()[-1])
    dockerfile = info["dockerfile"].splitlines()
    install = next(i for i, l in enumerate(dockerfile) if "pip install" in l)
    copy_code = next(i for i, l in enumerate(dockerfile) if l.startswith("COPY --chown") and "app/" in l)
    assert install < copy_code
    assert any(r.startswith("numpy==") for r in info["reqs"])

    # a code-only change: the requirements step comes from the cache
    edited = cells[:]
    edited[0] = edited[0].replace("'sum'", "'total'")
    make_notebook(notebook_dir, edited)
    second = execute(path)
    info2 = json.loads(second.text(3).strip().splitlines()[-1])
    steps = [l for l in dockerfile if l.startswith(("FROM", "RUN", "COPY", "ENV", "LABEL", "USER", "WORKDIR", "CMD"))]
    pip_step = next(i + 1 for i, l in enumerate(steps) if l.startswith("RUN python -m venv"))
    assert pip_step in info2["cached"], (pip_step, info2["cached"])
    assert any(
        "rebuilt from step" in n and "the program or its files changed" in n and "requirements" not in n
        for n in info2["notes"]
    ), info2["notes"]
    run = docker_client.containers.run(f"{tag}:latest", remove=True)
    assert b"total 10" in run
