"""Hidden state: does running the saved notebook top to bottom reproduce the kernel?

Compares the saved notebook with the kernel's execution history. The kernel's state came
from the history, so when the two disagree the program replays the history (without the
cells that failed) and the user is told which cells and names made the difference.
"""

import ast
import builtins

from IPython.core.inputtransformer2 import TransformerManager

_BUILTINS = set(dir(builtins)) | {"get_ipython", "display", "In", "Out", "exit", "quit", "__name__", "__file__"}


def names(source):
    """``(defined, used)`` top-level names of a cell (IPython syntax allowed); empty on a syntax error."""
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set(), set()
    defined, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
            for arg in ast.walk(node.args) if hasattr(node, "args") else ():
                if isinstance(arg, ast.arg):
                    defined.add(arg.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                defined.add((alias.asname or alias.name).partition(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined, used - _BUILTINS


def order_problems(cells):
    """``[(user cell, name, defining cell)]`` for names used before the cell that defines them."""
    parsed = [(c, *names(c.source)) for c in cells]
    problems = []
    seen = set()
    for i, (cell, defined, used) in enumerate(parsed):
        for name in sorted(used - defined - seen):
            later = next((c for c, d, _ in parsed[i + 1 :] if name in d), None)
            if later is not None:
                problems.append((cell.label, name, later.label))
        seen |= defined
    return problems


def compare(notebook_cells, history):
    """Compare the saved notebook with what the kernel ran.

    Args:
        notebook_cells: the saved notebook's cells above the running one.
        history: the kernel's successful executions, oldest first (``In [n]`` cells).

    Returns:
        ``(reasons, remarks)``: reasons the saved notebook would not reproduce the kernel
        (the program must then replay the history), and remarks that change nothing.
    """
    reasons, remarks = [], []
    ran = {c.source.strip() for c in history}
    never = [c.label for c in notebook_cells if c.source.strip() and c.source.strip() not in ran]
    if never:
        remarks.append(f"{', '.join(never[:5])}{' ...' if len(never) > 5 else ''} did not run in this kernel as saved")
    saved = {c.source.strip() for c in notebook_cells}
    gone = [c for c in history if c.source.strip() not in saved and names(c.source)[0]]
    if gone:
        listed = ", ".join(f"{c.label} (defines {', '.join(sorted(names(c.source)[0])[:3])})" for c in gone[:4])
        reasons.append(f"{listed} ran in the kernel but {'is' if len(gone) == 1 else 'are'} not in the saved notebook")
    for user, name, definer in order_problems(notebook_cells):
        reasons.append(f"{user} uses '{name}' before {definer} defines it")
    return reasons, (remarks if reasons else [r + ": the image runs them as saved" for r in remarks])
