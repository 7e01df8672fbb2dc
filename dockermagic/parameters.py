"""Parameters, as papermill users know them: the cell tagged ``parameters`` (or whose first line
is ``# parameters``) holds the defaults; a run overrides them with ``--param NAME=VALUE``.

The names and defaults are found when the image is built and recorded in a label, so a run
from a terminal checks ``--param`` without the notebook. Values travel to the program as
Python literals in ``DOCKERMAGIC_PARAMETERS``; the program assigns them right after the
parameters cell runs, so later cells see the new values.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import DockermagicError

TAG = "parameters"
ENV = "DOCKERMAGIC_PARAMETERS"


@dataclass(frozen=True)
class Parameters:
    """The notebook's parameters cell.

    Attributes:
        cell: the label of the cell (``cell 2``).
        defaults: ``{name: source text of its default}`` in the order the cell assigns them.
    """

    cell: str
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.defaults)

    def to_label(self) -> str:
        """The image label's text."""
        return json.dumps({"cell": self.cell, "defaults": self.defaults}, separators=(",", ":"))

    @classmethod
    def from_label(cls, text: Optional[str]) -> Optional[Parameters]:
        """The parameters an image records, or None (an image without a parameters cell)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(cell=str(data["cell"]), defaults={str(k): str(v) for k, v in data["defaults"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def is_parameters_cell(source: str, tags: Iterable[str] = ()) -> bool:
    """Tagged ``parameters`` (papermill's convention), or a first line ``# parameters``."""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return TAG in tags or first.lower().replace(" ", "") == "#parameters"


def assigned(source: str) -> dict[str, str]:
    """``{name: source text of the value}`` of the top-level assignments of a cell."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return {}
    found: dict[str, str] = {}
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = ast.unparse(node.value)
    return found


def find(cells: Sequence[Any]) -> Optional[Parameters]:
    """The parameters cell among ``cells`` (objects with ``label``, ``source`` and ``tags``)."""
    for cell in cells:
        if is_parameters_cell(cell.source, getattr(cell, "tags", ())):
            return Parameters(cell=cell.label, defaults=assigned(cell.source))
    return None


def literal(text: str) -> Any:
    """A value as typed after ``NAME=``: a Python literal (``0.1``, ``[1, 2]``, ``'a'``), else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=0.1", "name=run a"]`` -> ``{"lr": 0.1, "name": "run a"}``."""
    values: dict[str, Any] = {}
    for item in items:
        name, eq, text = str(item).partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise DockermagicError(f"--param {item!r}: write NAME=VALUE, e.g. --param lr=0.1")
        values[name] = literal(text)
    return values


def check(values: Mapping[str, Any], parameters: Optional[Parameters], image: str) -> None:
    """Refuse names the notebook's parameters cell does not assign, listing those it does."""
    if not values:
        return
    if parameters is None:
        raise DockermagicError(
            f"{image} has no parameters cell: tag a cell 'parameters' (or start it with '# parameters') and build again"
        )
    unknown = [name for name in values if name not in parameters.defaults]
    if unknown:
        raise DockermagicError(
            f"--param {', '.join(unknown)}: the parameters cell ({parameters.cell}) assigns "
            f"{', '.join(parameters.names) or 'nothing'}"
        )


def encode(values: Mapping[str, Any]) -> str:
    """The value of :data:`ENV`: ``{name: Python literal}`` as JSON."""
    for name, value in values.items():
        text = repr(value)
        if literal(text) != value:
            raise DockermagicError(f"--param {name}: {text} is not a value a program can read back (use a literal)")
    return json.dumps({name: repr(value) for name, value in values.items()})
