"""Files out of tar archives (a container's download, a sweep point's outputs from the object
store), written only inside the folder they are meant for."""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath
from typing import Optional


def write_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, rel: PurePosixPath, *, replace: bool = False
) -> Optional[Path]:
    """Write a regular file of ``archive`` as ``dest/rel``; return the path, or None when it is not a
    regular file or ``rel`` would leave ``dest`` (absolute, or ``..``). An existing file is an error
    unless ``replace``."""
    if not member.isfile() or not rel.parts or rel.is_absolute() or ".." in rel.parts:
        return None
    target = dest.joinpath(*rel.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = archive.extractfile(member)
    if source is None:
        return None
    with source, open(target, "wb" if replace else "xb") as out:
        out.write(source.read())
    return target
