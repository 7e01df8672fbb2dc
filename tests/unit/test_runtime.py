"""The runtime's magics (formats as IPython prints them), figures, and the notebook runner's waits."""

import asyncio
import os
import queue
import sys
import time
import types

import pytest

import dockermagic.runtime as runtime
from dockermagic.runtime import magics, notebook


def test_format_time_as_ipython():
    assert magics.format_time(2.5e-6) == "2.5 \u00b5s"
    assert magics.format_time(0.0123) == "12.3 ms"
    assert magics.format_time(1.5) == "1.5 s"
    assert magics.format_time(0) == "0 ns"
    assert magics.format_time(3725.0) == "1h 2min 5s"


def test_timeit_result_prints_like_ipython(capsys):
    result = magics.TimeitResult(1000, 7, 1e-6, 2e-6, [0.001, 0.0011, 0.0012, 0.001, 0.001, 0.001, 0.001], 0, 3)
    text = str(result)
    assert text.endswith(" per loop (mean \u00b1 std. dev. of 7 runs, 1,000 loops each)")
    assert repr(result) == f"<TimeitResult : {text}>"
    single = magics.TimeitResult(1, 1, 0.5, 0.5, [0.5], 0, 3)
    assert str(single).endswith("(mean \u00b1 std. dev. of 1 run, 1 loop each)")


def test_timeit_measures_inner_and_saves_the_result():
    calls = []

    def inner(iterator, timer):
        start = timer()
        for _ in iterator:
            calls.append(1)
        return timer() - start

    namespace = {}
    exec(
        "result = timeit(inner, number=5, repeat=3, quiet=True, result=True, save='saved')",
        {"timeit": magics.timeit, "inner": inner, "__builtins__": __builtins__},
        namespace,
    )
    result = namespace["result"]
    assert result.loops == 5 and result.repeat == 3 and len(calls) == 15
    # ``-v NAME`` binds in the caller's globals
    glob = {"timeit": magics.timeit, "inner": inner}
    exec("timeit(inner, number=1, repeat=1, quiet=True, save='saved')", glob)
    assert isinstance(glob["saved"], magics.TimeitResult)


def test_timed_prints_times_and_lets_errors_through(capsys):
    with magics.Timed() as timed:
        timed.value = 42
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("CPU times: user ") and ", total: " in out[0] and out[1].startswith("Wall time: ")
    with pytest.raises(ValueError), magics.Timed():
        raise ValueError("boom")
    assert "Wall time: " in capsys.readouterr().out


def test_expansion_follows_ipython():
    namespace = {"name": "bob", "n": 3}
    assert magics.expand("echo $name {n * 2} $$HOME", namespace) == "echo bob 6 $HOME"
    assert magics.expand("echo '$name'", namespace) == "echo '$name'"  # single quotes: left alone
    # one name that does not resolve leaves the whole line to the shell, as in IPython
    assert magics.expand("echo $name $HOME {n}", namespace) == "echo $name $HOME {n}"
    assert magics.expand("awk '{print $1}' f", namespace) == "awk '{print $1}' f"


def test_shell_lines_expand_from_the_callers_locals(capfd):
    def inside():
        word = "local-word"  # noqa: F841 - read by the expansion, through the frame
        magics.system("echo $word")
        return magics.getoutput("echo {word}; echo err 1>&2")

    lines = inside()
    assert capfd.readouterr().out == "local-word\n"
    assert isinstance(lines, magics.SList) and lines == ["local-word", "err"]
    assert lines.n == "local-word\nerr" and lines.s == "local-word err" and lines.l is lines
    assert lines.grep("ERR") == ["err"] and lines.grep("err", prune=True) == ["local-word"]
    assert magics.SList(["a b c", "d e"]).fields(0, -1) == ["a c", "d e"]
    glob = {"system": magics.system}
    exec("system('exit 3')", glob)
    assert glob["_exit_code"] == 3


def test_env_cd_pwd(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DM_TEST_VAR", raising=False)
    value = "x y"
    assert magics.env("DM_TEST_VAR=$value") is None
    assert os.environ["DM_TEST_VAR"] == "x y" and capsys.readouterr().out == "env: DM_TEST_VAR=x y\n"
    assert magics.env("DM_TEST_VAR") == "x y"
    with pytest.raises(magics.UsageError, match="does not have key"):
        magics.env("DM_NOT_SET_ANYWHERE")
    monkeypatch.setenv("DM_API_TOKEN", "s3cret")
    assert magics.env()["DM_API_TOKEN"] == "<hidden>"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    magics.cd("sub")
    assert magics.pwd() == str(tmp_path / "sub") and capsys.readouterr().out == f"{tmp_path / 'sub'}\n"
    magics.cd("-q -")
    assert os.getcwd() == str(tmp_path) and capsys.readouterr().out == ""
    magics.cd("no-such-folder")
    assert "No such file or directory" in capsys.readouterr().out
    del value


def test_who_and_whos_hide_the_runtime(capsys):
    glob = {"who": magics.who, "whos": magics.whos, "who_ls": magics.who_ls, "_private": 1}
    magics.HIDDEN.update({"who": magics.who, "whos": magics.whos, "who_ls": magics.who_ls})
    exec("alpha = 123\nbeta = 'test'\nitems = [1, 2]\nwho()\nwhos()\nwho('int')\nnames = who_ls()", glob)
    out = capsys.readouterr().out
    assert out.startswith("alpha\t beta\t items\t \n")
    assert "Variable   Type    Data/Info\n----------------------------\n" in out
    assert "alpha      int     123\n" in out and "items      list    n=2\n" in out
    assert out.endswith("alpha\t \n") and glob["names"] == ["alpha", "beta", "items"]


def test_writefile_and_capture(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "mod.py"
    magics.writefile("$name", "x = 1\n")
    magics.writefile("-a 'mod.py'", "y = 2\n")
    magics.writefile("mod.py", "z = 3\n")
    assert capsys.readouterr().out == "Writing mod.py\nAppending to mod.py\nOverwriting mod.py\n"
    assert (tmp_path / "mod.py").read_text() == "z = 3\n"
    with magics.capture() as captured:
        print("inside")
        print("oops", file=sys.stderr)
        runtime.show(42)
    assert capsys.readouterr() == ("", "")
    assert captured.stdout == "inside\n" and captured.stderr == "oops\n" and captured.outputs == [42]
    captured()
    assert capsys.readouterr() == ("inside\n42\n", "oops\n")
    del name


def test_start_hides_its_names_and_patches_ipython_display(monkeypatch):
    from IPython import display as ipython_display
    from IPython.core import display_functions

    monkeypatch.setattr(display_functions, "display", display_functions.display)  # restored afterwards
    monkeypatch.setattr(ipython_display, "display", ipython_display.display)
    monkeypatch.setattr(magics, "MICRO", magics.MICRO)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    namespace = {}
    runtime.start(namespace, micro="\u03bc")
    assert namespace["display"] is runtime.display and magics.HIDDEN["display"] is runtime.display
    assert magics.format_time(2e-6) == "2 \u03bcs"
    assert display_functions.display is runtime.display and ipython_display.display is runtime.display
    assert any(isinstance(f, runtime._DisplayFinder) for f in sys.meta_path)


def test_matplotlib_integration_gets_no_gui(monkeypatch):
    """matplotlib < 3.9 imports backend2gui, which IPython 9 removed: it must import, and no GUI starts."""
    from IPython.core import pylabtools

    monkeypatch.delattr(pylabtools, "backend2gui", raising=False)
    shell = types.SimpleNamespace(enable_gui=lambda gui=None: pytest.fail("a GUI was asked for"))
    runtime.quiet_matplotlib_integration(shell)
    from IPython.core.pylabtools import backend2gui  # what matplotlib 3.7's pyplot does

    assert backend2gui.get("module://_dockermagic_runtime.mpl_backend") is None
    assert shell.enable_gui("headless") is None


def test_sliced_wait_finds_a_message_a_long_wait_would_miss():
    """A wait with no timeout polls again every slice, so a message already there is found."""
    arrived = time.monotonic() + 0.3
    asked = []

    async def get_msg(timeout=None):
        asked.append(timeout)
        if timeout is None:  # a lost wake-up: the unsliced wait would never return
            await asyncio.sleep(3600)
        await asyncio.sleep(min(timeout, max(0.0, arrived - time.monotonic())))
        if time.monotonic() >= arrived:
            return {"msg": "reply"}
        raise queue.Empty

    started = time.monotonic()
    reply = asyncio.run(notebook.sliced(get_msg, step=0.05)(timeout=None))
    assert reply == {"msg": "reply"} and time.monotonic() - started < 2
    assert all(t is not None and t <= 0.05 for t in asked)

    async def never(timeout=None):
        await asyncio.sleep(timeout)
        raise queue.Empty

    started = time.monotonic()
    with pytest.raises(queue.Empty):
        asyncio.run(notebook.sliced(never, step=0.05)(timeout=0.2))
    assert 0.15 < time.monotonic() - started < 1.5


def test_cell_timeout_setting():
    assert notebook.cell_timeout({}) == 1800
    assert notebook.cell_timeout({"DOCKERMAGIC_CELL_TIMEOUT": "60"}) == 60
    assert notebook.cell_timeout({"DOCKERMAGIC_CELL_TIMEOUT": "0"}) is None
    cell = {"metadata": {"dockermagic": {"source_cell": "cell 7"}}}
    assert notebook.cell_name(cell, 1) == "cell 2 (cell 7 in the notebook)"
