"""Files out of a finished container, through the Engine API's archive download (so remote
engines work too): what the program wrote, placed as it would be next to the notebook."""

import io
import tarfile
from pathlib import Path, PurePosixPath

from docker.errors import APIError, NotFound

from ..archives import write_member


def changed_files(container, root="/app"):
    """Files under ``root`` that the container added or changed (relative paths)."""
    changes = container.diff() or []
    root_path = PurePosixPath(root)
    paths = []
    for change in changes:
        if change.get("Kind") not in (0, 1):  # 0 changed, 1 added, 2 deleted
            continue
        path = PurePosixPath(change["Path"])
        try:
            paths.append(path.relative_to(root_path))
        except ValueError:
            continue
    return paths


#: up to this many changed files are fetched one by one; more, and the whole folder comes at once
FILES_ONE_BY_ONE = 64


def _archive(container, path):
    stream, _ = container.get_archive(path)
    buffer = io.BytesIO()
    for chunk in stream:
        buffer.write(chunk)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def _members(archive, top):
    """``(relative path, member)`` of the regular files of an archive of folder ``top``."""
    for member in archive.getmembers():
        if member.isfile():
            parts = PurePosixPath(member.name).parts
            yield (PurePosixPath(*parts[1:]) if parts and parts[0] == top else PurePosixPath(member.name)), member


def download(container, root, wanted, dest, place=None):
    """Copy the files ``wanted`` (relative to ``root`` in the container) into ``dest``.

    Uses the Engine API's archive download, so it works with remote engines; a few files are
    fetched one by one (the folder may hold large data the program only read). Only regular
    files are written, and only inside ``dest``. ``place`` maps a file's path relative to
    ``root`` to where it goes under ``dest`` (default: the same).

    Returns:
        the written host paths.
    """
    wanted = {str(p) for p in wanted}
    if not wanted:
        return []
    place = place or (lambda rel: rel)
    dest = Path(dest)
    written = []

    def write(rel, archive, member):
        if str(rel) not in wanted or ".." in rel.parts:
            return
        target = write_member(archive, member, dest, PurePosixPath(place(rel)))
        if target is not None:
            written.append(target)

    if len(wanted) <= FILES_ONE_BY_ONE:
        for rel in sorted(wanted):
            try:
                with _archive(container, f"{root.rstrip('/')}/{rel}") as archive:
                    # the archive of one file holds just that file, under its own name
                    for member in archive.getmembers():
                        if member.isfile() and member.name == PurePosixPath(rel).name:
                            write(PurePosixPath(rel), archive, member)
            except (APIError, NotFound):
                continue
    else:
        with _archive(container, root) as archive:
            for rel, member in _members(archive, PurePosixPath(root).name):
                write(rel, archive, member)
    return sorted(written)


def collect_outputs(container, dest, root="/app"):
    """What the program wrote under ``root``, into ``dest``: files in its working folder keep their
    path relative to it; files it wrote elsewhere in the project go under ``project-files/``."""
    from ..layout import PROJECT_FILES

    workdir = PurePosixPath((container.attrs.get("Config") or {}).get("WorkingDir") or root)
    try:
        inside = workdir.relative_to(PurePosixPath(root))
    except ValueError:
        inside = PurePosixPath(".")

    def place(rel):
        rel = PurePosixPath(rel)
        if str(inside) in (".", ""):
            return str(rel)
        try:
            return str(rel.relative_to(inside))
        except ValueError:
            return f"{PROJECT_FILES}/{rel}"

    return download(container, root, changed_files(container, root), dest, place)
