"""Verify: run the built image once and compare what each cell printed with the kernel.

The program prints a marker after each cell (``DOCKERMAGIC_MARKERS=1``), so its output can
be split by cell and compared with the text outputs the saved notebook shows for the same
cells. Lines that differ on every run (timings, memory addresses, dockermagic's own notes)
are left out of the comparison.
"""

import re
from dataclasses import dataclass

MARK = "\x1e[dockermagic cell end] "
_VOLATILE = [
    re.compile(p)
    for p in (r" at 0x[0-9a-f]+", r"^(CPU times|Wall time):", r"^\[dockermagic\]", r"^\d+(\.\d+)? [mµn]?s ± ")
]


@dataclass(frozen=True)
class Difference:
    """A cell whose text output in the image differs from the kernel's."""

    cell: str
    expected: str
    got: str

    def __str__(self):
        exp = self.expected.splitlines()
        got = self.got.splitlines()
        for i in range(max(len(exp), len(got))):
            a = exp[i] if i < len(exp) else "(nothing)"
            b = got[i] if i < len(got) else "(nothing)"
            if a != b:
                return f"{self.cell}: the kernel showed {a[:80]!r}, the image printed {b[:80]!r}"
        return f"{self.cell}: output differs"


def normalize(text):
    lines = []
    for line in text.replace("\r\n", "\n").splitlines():
        line = line.rstrip()
        if any(p.search(line) for p in _VOLATILE):
            continue
        if line:
            lines.append(line)
    return "\n".join(lines)


def split_by_cell(logs):
    """``{cell label: text}`` from a program's output with cell markers."""
    found, current = {}, []
    for line in logs.split("\n"):  # not splitlines(): it splits at the marker's \x1e too
        if line.startswith(MARK):
            found[line[len(MARK) :].strip()] = "\n".join(current)
            current = []
        else:
            current.append(line)
    return found


def compare(cells, logs):
    """Differences between the kernel's text outputs and the image's, cell by cell.

    Only cells whose kernel output is known (a saved notebook with outputs) are compared.
    """
    produced = split_by_cell(logs)
    differences = []
    for cell in cells:
        if not cell.outputs_text.strip() or cell.label not in produced:
            continue
        expected, got = normalize(cell.outputs_text), normalize(produced[cell.label])
        if expected != got:
            differences.append(Difference(cell.label, expected, got))
    return differences
