"""The build context: data files found, secrets refused, written whole."""

import pytest

from dockermagic import context
from dockermagic.errors import DockermagicError


def test_data_files_found_secrets_refused_written_files_skipped(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n")
    (tmp_path / ".env").write_text("TOKEN=1\n")
    (tmp_path / "old_result.csv").write_text("stale")
    code = "import pandas as pd\ndf = pd.read_csv('data/x.csv')\nopen('.env')\ndf.to_csv('old_result.csv')\n"
    found = context.find_data_files([code], tmp_path)
    assert list(found.files) == ["data/x.csv"]
    assert found.refused == [".env"]


def test_context_is_written_whole_and_never_over_a_users_folder(tmp_path):
    plan = context.ContextPlan(dockerfile="FROM x\n", requirements="", program_files={"program.py": "print(1)\n"})
    users = tmp_path / "mine"
    users.mkdir()
    (users / "important.txt").write_text("keep")
    with pytest.raises(DockermagicError, match="not empty"):
        context.write_context(plan, users)
    assert (users / "important.txt").read_text() == "keep"
    out = context.write_context(plan, tmp_path / "ctx")
    assert (out / "Dockerfile").is_file() and (out / "app" / "program.py").is_file()
    assert (out / "app" / "_dockermagic_runtime" / "__init__.py").is_file()
    again = context.write_context(plan, tmp_path / "ctx")  # ours: replaced
    assert again == out and sorted(p.name for p in tmp_path.iterdir()) == ["ctx", "mine"]
