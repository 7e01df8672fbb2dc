"""Parameters, recorded values and sweeps on the local engine, from a real kernel."""

import json

import pytest
from conftest import execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]

NOTEBOOK = [
    ("code", "# parameters\nC = 1.0\nseed = 0"),
    "import os, time\nimport dockermagic\nscore = C * 10 + seed\ntime.sleep(float(os.environ.get('NAP', '0')))",
    "with open('score.txt', 'w') as f:\n    f.write(str(score))\ndockermagic.record('score', score)",
    "%load_ext dockermagic",
]


def _cells(*more):
    return [c[1] if isinstance(c, tuple) else c for c in NOTEBOOK] + list(more)


def _usage_error(text):
    lines = [line for line in text.splitlines() if line.startswith("UsageError: ")]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_parameters_records_and_a_sweep_with_resume(docker_client, notebook_dir, tag):
    cells = _cells(
        f"img = %dockerize -t {tag} -q",
        f"run = %docker_run {tag} --param C=5 --param seed=1\nprint('RECORDS', json.dumps(run.records))",
        f"%docker_run {tag} --param lr=0.1",
        f"sweep = %docker_sweep {tag} --grid C=0.1,1,10 --grid seed=1,2 --parallel 3 --name grid\n"
        "print('TABLE', sweep.table[['C', 'seed', 'status', 'attempts', 'score']].to_json(orient='records'))",
        f"again = %docker_sweep {tag} --grid C=0.1,1,10 --grid seed=1,2 --name grid --resume\n"
        "print('STATUSES', sorted(set(again.table['status'])))",
    )
    cells[4] = "import json\n" + cells[4]
    run = execute(make_notebook(notebook_dir, cells))
    for i in (4, 5, 7, 8):
        assert "UsageError" not in run.text(i) and not run.errors(i), run.text(i)
    records = json.loads(run.text(5).split("RECORDS ", 1)[1].splitlines()[0])
    assert records == {"score": 51.0}
    assert "--param lr: the parameters cell (cell 1) assigns C, seed" in _usage_error(run.text(6))
    table = json.loads(run.text(7).split("TABLE ", 1)[1].splitlines()[0])
    assert len(table) == 6 and {row["status"] for row in table} == {"done"}
    assert sorted(row["score"] for row in table) == sorted(c * 10 + s for c in (0.1, 1, 10) for s in (1, 2))
    folder = notebook_dir / "dockermagic-outputs" / "grid"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"C-{c}_seed-{s}" for c in (0.1, 1, 10) for s in (1, 2))
    assert (folder / "C-10_seed-2" / "score.txt").read_text() == "102"
    assert "STATUSES ['skipped']" in run.text(8)
    assert docker_client.containers.list(all=True, filters={"label": "org.dockermagic.sweep=grid"}) == []


def test_a_point_that_fails_once_succeeds_on_retry_and_a_final_failure_is_named(docker_client, notebook_dir, tag):
    flaky = (
        "attempt = os.environ.get('DOCKERMAGIC_ATTEMPT', '1')\n"
        "if C == 0.5 and attempt == '1':\n    raise SystemExit('C=0.5 failed on its first attempt')\n"
        "if C == 0.9:\n    raise SystemExit('C=0.9 is not allowed')"
    )
    cells = _cells(
        flaky,
        f"img = %dockerize -t {tag} -q",
        f"sweep = %docker_sweep {tag} --grid C=0.1,0.5,0.9 --retries 1 --name flaky",
        "print('STATUS', [(p.values['C'], p.status, p.attempts) for p in _docker_sweep.points])",
    )
    run = execute(make_notebook(notebook_dir, cells))
    message = _usage_error(run.text(6))
    assert "1 of 3 points failed after their retries: C-0.9" in message and "C=0.9 is not allowed" in message
    assert "(sweep was not assigned: the sweep is in _docker_sweep)" in message
    assert "STATUS [(0.1, 'done', 1), (0.5, 'done', 2), (0.9, 'failed', 2)]" in run.text(7)
    assert docker_client.containers.list(all=True, filters={"label": "org.dockermagic.sweep=flaky"}) == []
