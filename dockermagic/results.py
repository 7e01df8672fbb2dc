"""What ``%dockerize`` and ``%docker_run`` return: plain objects that read well as text and in a notebook."""

import base64
import csv
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


def human_size(n):
    """Bytes in the units ``docker images`` uses (powers of 1000): ``123456789`` -> ``'123 MB'``."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            if unit == "B":
                return f"{size:.0f} B"
            return f"{size:.3g} {unit}" if size >= 1 else f"{size:.2f} {unit}"
        size /= 1000


def _rows(pairs):
    return "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{v}</td></tr>"
        for k, v in pairs
    )


@dataclass
class Image:
    """A built (or, with ``--dry-run``, planned) image.

    Attributes:
        tag: the image's name, e.g. ``heart-roc:latest``.
        image_id: the engine's id (None for a dry run).
        size: bytes (None for a dry run).
        context: the build context folder (Dockerfile, requirements.txt, app/), None for a dry run.
        requirements: :class:`dockermagic.requirements.Requirement` list; ``str()`` of each is its pip line
            and ``.origin`` says where it came from.
        dockerfile: the Dockerfile text.
        source: where the program's cells came from.
        base: the base image.
        notes: warnings and remarks for the user.
        cached_steps: numbers of the steps that came from the build cache.
        build_seconds: how long the whole call took (reading the notebook, planning, building).
        engine_seconds: the engine's part of it: from sending the context to the built image.
        notebook: the notebook file the program came from, when there is one.
    """

    tag: str
    image_id: Optional[str]
    size: Optional[int]
    context: Optional[Path]
    requirements: list
    dockerfile: str
    source: str
    base: str
    notes: list[str] = field(default_factory=list)
    cached_steps: list[int] = field(default_factory=list)
    build_seconds: Optional[float] = None
    engine_seconds: Optional[float] = None
    files: list[str] = field(default_factory=list)
    pushed: Optional[str] = None
    compose: Optional[Path] = None
    cells: list = field(default_factory=list, repr=False)
    differences: list = field(default_factory=list)
    notebook: Optional[Path] = None
    system_packages: list = field(default_factory=list)
    script_metadata: str = ""

    @property
    def built(self):
        return self.image_id is not None

    def to_dict(self):
        return {
            "tag": self.tag,
            "image_id": self.image_id,
            "size": self.size,
            "context": str(self.context) if self.context else None,
            "requirements": [{"line": str(r), "origin": r.origin} for r in self.requirements],
            "source": self.source,
            "base": self.base,
            "notes": list(self.notes),
            "cached_steps": list(self.cached_steps),
            "build_seconds": self.build_seconds,
            "files": list(self.files),
            "pushed": self.pushed,
            "compose": str(self.compose) if self.compose else None,
            "notebook": str(self.notebook) if self.notebook else None,
            "system_packages": [{"package": p, "reason": r} for p, r in self.system_packages],
        }

    def dry_run_text(self) -> str:
        """What ``--dry-run`` shows: the Dockerfile, then requirements.txt with each line's origin."""
        lines = [self.dockerfile.rstrip("\n")]
        if self.system_packages:
            lines.append("# system packages (apt-get install in the final stage)")
            lines += [f"#   {package}: {reason}" for package, reason in self.system_packages]
        if self.script_metadata:
            lines.append("# program.py starts with (uv run program.py reproduces the environment outside Docker):")
            lines += self.script_metadata.splitlines()
        lines.append("# requirements.txt")
        lines += [f"{str(r):<40} # {r.origin}" for r in self.requirements] or ["# (none)"]
        return "\n".join(lines)

    def __repr__(self):
        short_id = self.image_id[7:19] if self.image_id and self.image_id.startswith("sha256:") else self.image_id
        head = (
            f"Image {self.tag} ({short_id}, {human_size(self.size)}, built in {self.build_seconds:.1f} s)"
            if self.built
            else f"Image {self.tag} (not built: {'context written' if self.context else 'dry run'})"
        )
        lines = [head, f"  from: {self.source}", f"  base: {self.base}"]
        if self.context:
            lines.append(f"  context: {self.context}")
        if self.pushed:
            lines.append(f"  pushed: {self.pushed}")
        if self.compose:
            lines.append(f"  compose file: {self.compose}")
        lines.append(f"  requirements ({len(self.requirements)}):")
        lines += [f"    {str(r):<40} {r.origin}" for r in self.requirements] or ["    (none)"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self):
        state = (
            f"<b>{html.escape(self.tag)}</b> built in {self.build_seconds:.1f} s"
            if self.built
            else f"<b>{html.escape(self.tag)}</b> not built ({'context written' if self.context else 'dry run'})"
        )
        rows = [
            ("image id", html.escape(str(self.image_id or "-"))),
            ("size", human_size(self.size)),
            ("from", html.escape(self.source)),
            ("base", html.escape(self.base)),
        ]
        if self.context:
            rows.append(("context", f"<code>{html.escape(str(self.context))}</code>"))
        if self.cached_steps:
            rows.append(("from cache", "steps " + ", ".join(map(str, self.cached_steps))))
        if self.pushed:
            rows.append(("pushed", f"<code>{html.escape(self.pushed)}</code>"))
        reqs = (
            "".join(
                f"<tr><td><code>{html.escape(str(r))}</code></td><td>{html.escape(r.origin)}</td></tr>"
                for r in self.requirements
            )
            or "<tr><td>(none)</td></tr>"
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            f"<div class='dockermagic-image'><div>{state}</div><table>{_rows(rows)}</table>"
            f"<details><summary>{len(self.requirements)} requirements</summary><table>{reqs}</table></details>"
            f"<details><summary>Dockerfile</summary><pre>{html.escape(self.dockerfile)}</pre></details>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</div>"
        )


@dataclass
class Run:
    """A container run of an image.

    Attributes:
        image: the image that ran.
        name: the container's name.
        exit_code: the program's exit code (None while a detached container runs).
        logs: everything the program printed (stdout and stderr).
        outputs: the host folder holding what the program produced (None when detached).
        files: the files in ``outputs``.
        ports: published ports, ``{"5000/tcp": "127.0.0.1:8080"}``.
        duration: seconds.
        detached: the container was left running (``-d``).
        timed_out: the container was stopped by ``--timeout``.
        node: the engine (or cluster node) it ran on.
        timings: seconds: ``start`` (until the container ran), ``first_output`` (until the
            program's first line), ``program`` (until it ended), ``collect`` (its outputs home).
    """

    image: str
    name: str
    exit_code: Optional[int] = None
    logs: str = ""
    outputs: Optional[Path] = None
    files: list[Path] = field(default_factory=list)
    ports: dict[str, str] = field(default_factory=dict)
    duration: Optional[float] = None
    detached: bool = False
    timed_out: bool = False
    node: Optional[str] = None
    timings: dict = field(default_factory=dict)

    @property
    def records(self) -> dict:
        """The values the program recorded with ``dockermagic.record(name, value)`` (its ``records.json``)."""
        import json

        path = Path(self.outputs) / "records.json" if self.outputs else None
        try:
            data = json.loads(path.read_text()) if path else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def figures(self):
        """The PNG figures the program showed, in order (not the PNG files it wrote itself,
        even in a folder of its own named ``figures``)."""
        if not self.outputs:
            return []
        shown = Path(self.outputs) / "figures"
        return sorted(f for f in self.files if f.parent == shown and re.fullmatch(r"figure-\d{3}(-\w+)?\.png", f.name))

    def to_dict(self):
        return {
            "image": self.image,
            "name": self.name,
            "exit_code": self.exit_code,
            "logs": self.logs,
            "outputs": str(self.outputs) if self.outputs else None,
            "files": [str(f) for f in self.files],
            "figures": [str(f) for f in self.figures],
            "ports": dict(self.ports),
            "duration": self.duration,
            "detached": self.detached,
            "timed_out": self.timed_out,
            "node": self.node,
        }

    def __repr__(self):
        if self.detached:
            head = f"Run {self.name} of {self.image}: running in the background"
        else:
            head = (
                f"Run {self.name} of {self.image}: exit code {self.exit_code}"
                + (" (stopped by --timeout)" if self.timed_out else "")
                + (f" after {self.duration:.1f} s" if self.duration is not None else "")
            )
        lines = [head]
        lines += [f"  port {inner} -> http://{outer}" for inner, outer in self.ports.items()]
        if self.outputs:
            lines.append(f"  outputs: {self.outputs} ({len(self.files)} files, {len(self.figures)} figures)")
        return "\n".join(lines)

    def _repr_html_(self):
        if self.detached:
            state = f"<b>{html.escape(self.name)}</b> running in the background"
        else:
            mark = "✅" if self.exit_code == 0 else "❌"
            state = (
                f"{mark} <b>{html.escape(self.name)}</b> exited with code {self.exit_code}"
                + (" (stopped by --timeout)" if self.timed_out else "")
                + (f" after {self.duration:.1f} s" if self.duration is not None else "")
            )
        rows = [("image", html.escape(self.image))]
        rows += [
            (f"port {html.escape(k)}", f"<a href='http://{html.escape(v)}' target='_blank'>http://{html.escape(v)}</a>")
            for k, v in self.ports.items()
        ]
        if self.node:
            rows.append(("ran on", html.escape(self.node)))
        if self.outputs:
            listing = "".join(
                f"<li>{_link(f, str(f.relative_to(self.outputs)))} "
                f"({human_size(f.stat().st_size) if f.exists() else '?'})</li>"
                for f in self.files
            )
            rows.append(("outputs", f"{_link(self.outputs, str(self.outputs))}<ul>{listing}</ul>"))
        shown = "".join(_figure_html(f) for f in self.figures[:MAX_INLINE])
        shown += "".join(_table_html(f) for f in self.files if f.suffix == ".csv")
        if self.exit_code not in (0, None) and self.logs:
            tail = "\n".join(self.logs.splitlines()[-20:])
            shown += f"<pre style='background:#fee'>{html.escape(tail)}</pre>"
        return f"<div class='dockermagic-run'><div>{state}</div><table>{_rows(rows)}</table>{shown}</div>"


MAX_INLINE = 12
MAX_TABLE_ROWS = 30


def _href(path) -> Optional[str]:
    """A link to ``path`` relative to the kernel's folder (the notebook's), which JupyterLab opens
    in a tab of its own (image viewer, CSV viewer, file browser); None outside that folder."""
    import os

    try:
        rel = Path(os.path.relpath(Path(path).resolve(), Path.cwd().resolve()))
    except ValueError:
        return None
    return None if rel.parts and rel.parts[0] == ".." else rel.as_posix()


def _link(path, text) -> str:
    href = _href(path)
    label = f"<code>{html.escape(text)}</code>"
    return f"<a href='{html.escape(href)}' target='_blank'>{label}</a>" if href else label


def _figure_html(path):
    try:
        data = base64.b64encode(Path(path).read_bytes()).decode()
    except OSError:
        return ""
    image = f"<img style='max-width:480px' src='data:image/png;base64,{data}' title='click to enlarge'/>"
    href = _href(path)
    if href:
        image = f"<a href='{html.escape(href)}' target='_blank'>{image}</a>"
    return (
        f"<figure style='display:inline-block;margin:4px'>{image}<figcaption>"
        f"<code>{html.escape(Path(path).name)}</code></figcaption></figure>"
    )


def _table_html(path):
    """A small CSV as an HTML table (large ones are only listed)."""
    try:
        if Path(path).stat().st_size > 64 * 1024:
            return ""
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return ""
    if not rows or len(rows) > MAX_TABLE_ROWS + 1:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return (
        f"<details open><summary><code>{html.escape(Path(path).name)}</code></summary>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
    )


@dataclass
class Point:
    """One point of a sweep and how it went."""

    values: dict[str, Any]
    folder: Path
    status: str = "pending"  # pending, running, done, failed, skipped (resumed), interrupted
    exit_code: Optional[int] = None
    attempts: int = 0
    node: Optional[str] = None
    started: Optional[float] = None
    duration: Optional[float] = None
    records: dict[str, Any] = field(default_factory=dict)
    run: Any = None
    error: str = ""

    @property
    def name(self) -> str:
        return self.folder.name

    def to_dict(self) -> dict:
        return {
            "values": dict(self.values),
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "attempts": self.attempts,
            "node": self.node,
            "duration": None if self.duration is None else round(self.duration, 2),
            "records": dict(self.records),
            "error": self.error,
        }


@dataclass
class Sweep:
    """A finished (or interrupted) sweep.

    Attributes:
        name: the sweep's name; its folder holds one folder per point.
        image: the image that ran.
        folder: where the points' outputs are.
        points: every :class:`Point`, in grid order.
        backend: ``local`` or ``swarm``.
    """

    name: str
    image: str
    folder: Path
    points: list[Point]
    backend: str = "local"
    duration: Optional[float] = None

    @property
    def runs(self) -> list:
        """One :class:`~dockermagic.results.Run` per point (None for a point that never ran)."""
        return [p.run for p in self.points]

    @property
    def failed(self) -> list[Point]:
        return [p for p in self.points if p.status not in ("done", "skipped")]

    def rows(self) -> list[dict[str, Any]]:
        """The table as plain rows: parameter values, status, exit_code, duration, attempts,
        node, outputs, and one column per recorded value."""
        recorded: list[str] = []
        for p in self.points:
            recorded += [k for k in p.records if k not in recorded]
        rows = []
        for p in self.points:
            row: dict[str, Any] = dict(p.values)
            row.update(
                status=p.status,
                exit_code=p.exit_code,
                duration=None if p.duration is None else round(p.duration, 2),
                attempts=p.attempts,
                node=p.node,
                outputs=str(p.folder),
            )
            row.update({k: p.records.get(k) for k in recorded})
            rows.append(row)
        return rows

    @property
    def table(self):
        """The sweep as a pandas DataFrame, one row per point."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    def plot_axes(self) -> Optional[tuple[str, str]]:
        """``(parameter, record)`` worth a plot: one numeric parameter that varies and a numeric record."""

        def numeric(values):
            return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)

        names = [
            n
            for n in (self.points[0].values if self.points else {})
            if len({repr(p.values[n]) for p in self.points}) > 1
        ]
        varying = [n for n in names if numeric(p.values[n] for p in self.points)]
        records = [
            k
            for k in dict.fromkeys(k for p in self.points for k in p.records)
            if numeric(p.records.get(k) for p in self.points) and any(p.records.get(k) is not None for p in self.points)
        ]
        if len(varying) == 1 and records:
            return varying[0], records[0]
        return None

    def to_dict(self) -> dict:
        return {
            "kind": "sweep",
            "name": self.name,
            "image": self.image,
            "folder": str(self.folder),
            "backend": self.backend,
            "points": [p.to_dict() for p in self.points],
        }

    def __repr__(self) -> str:
        done = sum(p.status in ("done", "skipped") for p in self.points)
        lines = [f"Sweep {self.name} of {self.image} on {self.backend}: {done} of {len(self.points)} points done"]
        lines.append(f"  outputs: {self.folder}")
        for row in self.rows():
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in row.items() if k != "outputs"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = self.rows()
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in (rows[0] if rows else {}) if k != "outputs")
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for k, v in row.items() if k != "outputs") + "</tr>"
            for row in rows
        )
        plot = self._plot_html()
        done = sum(p.status in ("done", "skipped") for p in self.points)
        title = f"<b>{html.escape(self.name)}</b>: {done} of {len(self.points)} points done on {self.backend}"
        return (
            f"<div class='dockermagic-sweep'><div>{title}</div><div><code>{html.escape(str(self.folder))}</code></div>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{plot}</div>"
        )

    def _plot_html(self) -> str:
        axes = self.plot_axes()
        if axes is None:
            return ""
        try:
            import base64
            import io

            from matplotlib.figure import Figure
        except ImportError:
            return ""
        x_name, y_name = axes
        pairs = sorted((p.values[x_name], p.records[y_name]) for p in self.points if p.records.get(y_name) is not None)
        figure = Figure(figsize=(4.5, 3))
        ax = figure.subplots()
        ax.plot([x for x, _ in pairs], [y for _, y in pairs], marker="o")
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        data = base64.b64encode(buffer.getvalue()).decode()
        return f"<img alt='{y_name} against {x_name}' src='data:image/png;base64,{data}'/>"
