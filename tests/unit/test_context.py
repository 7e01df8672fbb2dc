"""The build context: written whole, never over a user's folder."""

import pytest

from dockermagic import context
from dockermagic.errors import DockermagicError


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
    assert (out / "runtime" / "_dockermagic_runtime" / "__init__.py").is_file()  # /opt/dockermagic in the image
    again = context.write_context(plan, tmp_path / "ctx")  # ours: replaced
    assert again == out and sorted(p.name for p in tmp_path.iterdir()) == ["ctx", "mine"]
