"""What ``%dockerize`` and ``%docker_run`` return: plain objects that read well as text and in a notebook."""

import base64
import csv
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional


def human_size(n):
    """``123456789`` -> ``'117.7 MB'``."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def _rows(pairs):
    return "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{v}</td></tr>" for k, v in pairs)


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
        build_seconds: how long the build took.
    """

    tag: str
    image_id: Optional[str]
    size: Optional[int]
    context: Optional[Path]
    requirements: List
    dockerfile: str
    source: str
    base: str
    notes: List[str] = field(default_factory=list)
    cached_steps: List[int] = field(default_factory=list)
    build_seconds: Optional[float] = None
    files: List[str] = field(default_factory=list)
    program: str = ""
    pushed: Optional[str] = None
    compose: Optional[Path] = None
    cells: List = field(default_factory=list, repr=False)
    differences: List = field(default_factory=list)

    @property
    def built(self):
        return self.image_id is not None

    def to_dict(self):
        return {"tag": self.tag, "image_id": self.image_id, "size": self.size,
                "context": str(self.context) if self.context else None,
                "requirements": [{"line": str(r), "origin": r.origin} for r in self.requirements],
                "source": self.source, "base": self.base, "notes": list(self.notes),
                "cached_steps": list(self.cached_steps), "build_seconds": self.build_seconds,
                "files": list(self.files), "pushed": self.pushed,
                "compose": str(self.compose) if self.compose else None}

    def __repr__(self):
        head = (f"Image {self.tag} ({self.image_id[7:19] if self.image_id and self.image_id.startswith('sha256:') else self.image_id}, "
                f"{human_size(self.size)}, built in {self.build_seconds:.1f} s)" if self.built
                else f"Image {self.tag} (not built: {'context written' if self.context else 'dry run'})")
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
        state = (f"<b>{html.escape(self.tag)}</b> built in {self.build_seconds:.1f} s" if self.built
                 else f"<b>{html.escape(self.tag)}</b> not built ({'context written' if self.context else 'dry run'})")
        rows = [("image id", html.escape(str(self.image_id or "-"))), ("size", human_size(self.size)),
                ("from", html.escape(self.source)), ("base", html.escape(self.base))]
        if self.context:
            rows.append(("context", f"<code>{html.escape(str(self.context))}</code>"))
        if self.cached_steps:
            rows.append(("from cache", "steps " + ", ".join(map(str, self.cached_steps))))
        if self.pushed:
            rows.append(("pushed", f"<code>{html.escape(self.pushed)}</code>"))
        reqs = "".join(f"<tr><td><code>{html.escape(str(r))}</code></td><td>{html.escape(r.origin)}</td></tr>"
                       for r in self.requirements) or "<tr><td>(none)</td></tr>"
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<div class='dockermagic-image'><div>{state}</div><table>{_rows(rows)}</table>"
                f"<details><summary>{len(self.requirements)} requirements</summary><table>{reqs}</table></details>"
                f"<details><summary>Dockerfile</summary><pre>{html.escape(self.dockerfile)}</pre></details>"
                + (f"<ul>{notes}</ul>" if notes else "") + "</div>")


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
    """

    image: str
    name: str
    exit_code: Optional[int] = None
    logs: str = ""
    outputs: Optional[Path] = None
    files: List[Path] = field(default_factory=list)
    ports: Dict[str, str] = field(default_factory=dict)
    duration: Optional[float] = None
    detached: bool = False
    timed_out: bool = False

    @property
    def figures(self):
        """The PNG figures the program showed, in order."""
        return [f for f in self.files if f.suffix == ".png" and f.parent.name == "figures"]

    def to_dict(self):
        return {"image": self.image, "name": self.name, "exit_code": self.exit_code,
                "logs": self.logs, "outputs": str(self.outputs) if self.outputs else None,
                "files": [str(f) for f in self.files], "figures": [str(f) for f in self.figures],
                "ports": dict(self.ports), "duration": self.duration, "detached": self.detached,
                "timed_out": self.timed_out}

    def __repr__(self):
        if self.detached:
            head = f"Run {self.name} of {self.image}: running in the background"
        else:
            head = (f"Run {self.name} of {self.image}: exit code {self.exit_code}"
                    + (" (stopped by --timeout)" if self.timed_out else "")
                    + (f" after {self.duration:.1f} s" if self.duration is not None else ""))
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
            state = (f"{mark} <b>{html.escape(self.name)}</b> exited with code {self.exit_code}"
                     + (" (stopped by --timeout)" if self.timed_out else "")
                     + (f" after {self.duration:.1f} s" if self.duration is not None else ""))
        rows = [("image", html.escape(self.image))]
        rows += [(f"port {html.escape(k)}", f"<a href='http://{html.escape(v)}' target='_blank'>http://{html.escape(v)}</a>")
                 for k, v in self.ports.items()]
        if self.outputs:
            listing = "".join(f"<li><code>{html.escape(str(f.relative_to(self.outputs)))}</code> "
                              f"({human_size(f.stat().st_size) if f.exists() else '?'})</li>" for f in self.files)
            rows.append(("outputs", f"<code>{html.escape(str(self.outputs))}</code><ul>{listing}</ul>"))
        shown = "".join(_figure_html(f) for f in self.figures[:MAX_INLINE])
        shown += "".join(_table_html(f) for f in self.files if f.suffix == ".csv")
        if self.exit_code not in (0, None) and self.logs:
            tail = "\n".join(self.logs.splitlines()[-20:])
            shown += f"<pre style='background:#fee'>{html.escape(tail)}</pre>"
        return f"<div class='dockermagic-run'><div>{state}</div><table>{_rows(rows)}</table>{shown}</div>"


MAX_INLINE = 12
MAX_TABLE_ROWS = 30


def _figure_html(path):
    try:
        data = base64.b64encode(Path(path).read_bytes()).decode()
    except OSError:
        return ""
    return (f"<figure style='display:inline-block;margin:4px'><img style='max-width:480px' "
            f"src='data:image/png;base64,{data}'/><figcaption><code>{html.escape(Path(path).name)}</code>"
            "</figcaption></figure>")


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
    return (f"<details open><summary><code>{html.escape(Path(path).name)}</code></summary>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>")
