"""Secret scanning: nothing that looks like a credential enters an image.

Before anything is built, the program, the local modules and data files going into the
build context, and the notebook's text outputs are scanned with Yelp's detect-secrets. A
finding stops the build unless the user overrides it explicitly.
"""

import tempfile
from pathlib import Path

from . import wording
from .errors import SecretFound

#: detectors that flag any random-looking string; used on code only, not on data files
ENTROPY_KINDS = {"Base64 High Entropy String", "Hex High Entropy String"}
MAX_SCAN_BYTES = 2 * 1024 * 1024


def scan_texts(texts, code_names=()):
    """Scan ``{name: text}``; return ``[(name, line, kind)]`` sorted by name and line.

    Entropy-based findings count only for names in ``code_names`` (data is often random-looking).
    A text scanned before (by its content) is not scanned again.
    """
    findings = []
    for name, text in texts.items():
        for line, kind in _scan_text(name, text):
            if kind in ENTROPY_KINDS and name not in code_names:
                continue
            findings.append((name, line, kind))
    return sorted(set(findings), key=lambda f: (f[0], f[1], f[2]))


_SCANNED: dict[str, list[tuple[int, str]]] = {}


def _scan_text(name, text):
    """``[(line, kind)]`` detect-secrets finds in one text, remembered by the text's hash."""
    import hashlib

    key = hashlib.sha256(f"{Path(name).suffix}\0{text}".encode("utf-8", errors="replace")).hexdigest()
    if key in _SCANNED:
        return _SCANNED[key]
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory(prefix="dockermagic-scan-") as tmp:
        # the file name's suffix matters to detect-secrets (keyword rules per language)
        path = Path(tmp) / (Path(name).name or "text")
        path.write_text(text, encoding="utf-8", errors="replace")
        collection = SecretsCollection()
        with default_settings():
            collection.scan_file(str(path))
        found = [(secret.line_number, secret.type) for _, secret in collection]
    _SCANNED[key] = found
    return found


def readable(path):
    """The text of a small text file, or None (binary, large or unreadable)."""
    try:
        path = Path(path)
        if path.stat().st_size > MAX_SCAN_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


def check(program_files, copies, cells, allow=False):
    """Scan what would enter the image; raise :class:`SecretFound` on a finding.

    Args:
        program_files: ``{name: text}`` of generated program files.
        copies: ``{relative name: host path}`` of files and folders to copy.
        cells: :class:`dockermagic.capture.Cell` list (their text outputs are scanned too).
        allow: the user's explicit override; findings are returned, not raised.

    Returns:
        the findings.
    """
    texts = dict(program_files)
    code = set(program_files)
    for rel, src in copies.items():
        src = Path(src)
        files = (
            [(rel, src)]
            if src.is_file()
            else [(f"{rel}/{p.relative_to(src).as_posix()}", p) for p in sorted(src.rglob("*")) if p.is_file()]
        )
        for name, path in files:
            text = readable(path)
            if text is not None:
                texts[name] = text
                if path.suffix == ".py":
                    code.add(name)
    for cell in cells:
        if cell.outputs_text.strip():
            texts[f"output of {cell.label}"] = cell.outputs_text
    findings = scan_texts(texts, code)
    if findings and not allow:
        name, line, kind = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise SecretFound(
            f"possible secret, not building: {kind} in {name} line {line}{more}; remove it "
            f"and pass it at run time ({wording.run('-e NAME')}), or override with --allow-secrets",
            findings,
        )
    return findings
