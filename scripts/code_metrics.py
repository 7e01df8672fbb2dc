"""Size figures of the Python package, for the contributor section of the README.

    python scripts/code_metrics.py [PACKAGE_DIR]

Prints the largest module (lines), the largest function (lines) and the widest functions
(parameters, ``self`` not counted): the public facade (``dockermagic.dockerize`` and
``dockermagic.run`` keep their keyword signatures by design) and everything else.
"""

import ast
import sys
from pathlib import Path

FACADE = {"api.py:dockerize", "api.py:run"}


def measure(root: Path):
    modules, functions = [], []
    for path in sorted(root.rglob("*.py")):
        if "labextension" in path.parts:
            continue
        text = path.read_text()
        rel = path.relative_to(root.parent).as_posix()
        modules.append((len(text.splitlines()), rel))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
                if a.args and a.args[0].arg in ("self", "cls"):
                    params -= 1
                functions.append((node.end_lineno - node.lineno + 1, params, f"{rel}:{node.name}"))
    return modules, functions


def main(argv):
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1] / "dockermagic")
    modules, functions = measure(root)
    inner = [f for f in functions if not any(f[2].endswith(name) for name in FACADE)]
    print(f"largest module:   {max(modules)[1]} ({max(modules)[0]} lines)")
    longest = max(functions)
    print(f"largest function: {longest[2]} ({longest[0]} lines)")
    widest = max(functions, key=lambda f: f[1])
    print(f"widest function:  {widest[2]} ({widest[1]} parameters)")
    inner_widest = max(inner, key=lambda f: f[1])
    print(f"widest below the facade: {inner_widest[2]} ({inner_widest[1]} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
