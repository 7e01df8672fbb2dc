"""Grids of a sweep: expanding ``--grid NAME=V1,V2`` (a Cartesian product) or a grid file into
points, naming each point's outputs folder from its values, and recognising points an earlier
sweep finished (``--resume``). Running them is :mod:`dockermagic.sweeping`; the result is a
:class:`dockermagic.results.Sweep`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from .errors import DockermagicError
from .parameters import literal
from .reference import slug

#: the file a finished point leaves in its folder; ``--resume`` skips points that have one
POINT_FILE = "dockermagic-point.json"


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["lr=0.1,0.01", "seed=1,2"]`` -> ``{"lr": [0.1, 0.01], "seed": [1, 2]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, eq, values = str(item).partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise DockermagicError(f"--grid {item!r}: write NAME=V1,V2,..., e.g. --grid lr=0.1,0.01")
        parsed = [literal(v.strip()) for v in values.split(",") if v.strip()]
        if not parsed:
            raise DockermagicError(f"--grid {name}: give at least one value (NAME=V1,V2,...)")
        grid[name] = parsed
    return grid


def read_grid_file(path: str) -> list[dict[str, Any]]:
    """Points from a YAML (or JSON) file: a list of ``{name: value}`` mappings, or a mapping of
    name -> list of values (a grid)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise DockermagicError(f"--grid-file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise DockermagicError(f"--grid-file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, Mapping):
        return points({str(k): list(v) if isinstance(v, list) else [v] for k, v in data.items()})
    if isinstance(data, list) and all(isinstance(p, Mapping) for p in data):
        return [{str(k): v for k, v in p.items()} for p in data]
    raise DockermagicError(f"--grid-file {path}: write a list of points (- lr: 0.1) or a grid (lr: [0.1, 0.01])")


def points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of a grid, in the order the values were given."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def point_name(values: Mapping[str, Any]) -> str:
    """A folder name made from a point's values: ``lr=0.1,seed=3`` -> ``lr-0.1_seed-3``."""
    text = "_".join(f"{k}-{v}" for k, v in values.items())
    name = slug(text.replace("/", "-"))[:80]
    if len(text) > 80 or name != text.replace("/", "-"):
        name += "-" + hashlib.sha256(json.dumps(values, sort_keys=True, default=repr).encode()).hexdigest()[:6]
    return name or "point"


def sweep_key(image_id: str, grid_points: Sequence[Mapping[str, Any]]) -> str:
    """What makes two sweeps the same for ``--resume``: the image and its points."""
    text = json.dumps([image_id, [sorted(p.items()) for p in grid_points]], default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finished_point(folder: Path, key: str) -> Optional[dict]:
    """What an earlier sweep with the same key recorded in ``folder`` if that point succeeded."""
    try:
        data = json.loads((folder / POINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("key") == key and data.get("status") == "done" else None
