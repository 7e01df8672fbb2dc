"""Programs the code and its packages run: shell command lines, Python calls, IPython's and
dockermagic's translations of shell lines and cells, and well-known wrappers."""

from dockermagic import programs


def test_command_words():
    assert programs.command_words("cd out && dot -Tpng g.dot | convert - g.jpg; FOO=1 sudo tesseract x y") == [
        "dot",
        "convert",
        "tesseract",
    ]
    assert programs.command_words("/usr/bin/pdftoppm -r 300 a.pdf out > log 2>&1") == ["pdftoppm"]
    assert programs.command_words("./run.sh; $CMD x; {sys.executable} -m pip; echo hi") == []
    assert programs.command_words("ls 'unbalanced") == ["ls"]
    assert programs.command_words("# a comment\nffmpeg -i a.mp4 b.wav") == ["ffmpeg"]


def test_programs_in_source_finds_literal_commands_through_aliases_and_ipython_lines():
    source = "\n".join(
        [
            "import os, subprocess as sp",
            "from subprocess import check_output",
            "sp.run(['dot', '-Tpng', 'g.dot'], check=True)",
            "check_output('pdftoppm -png a.pdf out', shell=True)",
            "os.system(f'tesseract {image} out')",
            "get_ipython().system('ffmpeg -i in.mp4 out.wav')",
            "files = get_ipython().getoutput('ls data | wc -l')",
            "get_ipython().run_cell_magic('bash', '', 'java -version\\nRscript x.R\\n')",
            "sp.Popen([program, 'x'])",  # not a literal: unknown, left out
            "subprocess_like.run(['nope'])",
            "os.popen(cmd)",
            "get_ipython().run_line_magic('sx', 'pdfinfo a.pdf')",
            "get_ipython().run_cell_magic('script', 'node', 'console.log(1)')",
        ]
    )
    found = [(u.program, u.line, u.how) for u in programs.programs_in_source(source)]
    assert found == [
        ("dot", 3, "subprocess.run"),
        ("pdftoppm", 4, "subprocess.check_output"),
        ("tesseract", 5, "os.system"),
        ("ffmpeg", 6, "get_ipython().system"),
        ("ls", 7, "get_ipython().getoutput"),
        ("wc", 7, "get_ipython().getoutput"),
        ("java", 8, "%%bash"),
        ("Rscript", 8, "%%bash"),
        ("pdfinfo", 12, "get_ipython().run_line_magic"),
        ("node", 13, "%%script"),
    ]
    assert programs.programs_in_source("def broken(:\n") == []


def test_programs_in_what_ipython_makes_of_shell_lines_and_cells():
    from IPython.core.inputtransformer2 import TransformerManager

    cells = ["!dot -Tpng {name}.dot -o g.png\n", "files = !ls data\n", "%%bash\nffmpeg -i a.mp4 a.wav\n"]
    source = "".join(TransformerManager().transform_cell(cell) for cell in cells)
    assert [u.program for u in programs.programs_in_source(source)] == ["dot", "ls", "ffmpeg"]
    # dockermagic's own translation of the same lines, without IPython
    translated = (
        "import _dockermagic_runtime\n"
        "_dockermagic_runtime.system('dot -Tpng {name}.dot -o g.png')\n"
        "files = _dockermagic_runtime.getoutput('ls data')\n"
        "_dockermagic_runtime.script('bash', 'ffmpeg -i a.mp4 a.wav\\n')  # %%bash\n"
    )
    uses = [(u.program, u.how) for u in programs.programs_in_source(translated)]
    assert uses == [
        ("dot", "_dockermagic_runtime.system"),
        ("ls", "_dockermagic_runtime.getoutput"),
        ("ffmpeg", "%%bash"),
    ]


def test_programs_of_well_known_wrappers():
    got = programs.programs_of_distributions(["graphviz", "pdf2image", "PyTesseract", "pyspark", "ffmpeg_python", "x"])
    assert got == {
        "dot": ["graphviz"],
        "pdftoppm": ["pdf2image"],
        "pdfinfo": ["pdf2image"],
        "tesseract": ["PyTesseract"],
        "java": ["pyspark"],
        "ffmpeg": ["ffmpeg_python"],
        "ffprobe": ["ffmpeg_python"],
    }
    assert "moviepy" not in programs.PROGRAM_WRAPPERS  # imageio-ffmpeg bundles its ffmpeg
    assert programs.libraries_of_distributions(["python-magic"]) == {"libmagic.so.1": ["python-magic"]}
