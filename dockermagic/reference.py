"""Image references: ``[REGISTRY[:PORT]/]PATH[:TAG][@DIGEST]``, checked the way Docker checks them.

:class:`ImageRef` is the one type every stage uses for an image name; pulls and pushes hand
``str(ref)`` to the Docker SDK, which splits it again with its own parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

from .errors import InvalidTag

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_HOST = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}"
_HOST_RE = re.compile(rf"^{_HOST}$")
_NAME = re.compile(rf"^(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
DEFAULT_TAG = "latest"
RULE = (
    "use lowercase letters, digits and . _ - separators, optionally REGISTRY/ before and :TAG "
    "(letters, digits, . _ -) after, e.g. heart-roc:v1"
)


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference.

    Attributes:
        registry: ``localhost:5000`` or ``ghcr.io``; None for Docker Hub names.
        path: the repository path inside the registry, ``team/heart-roc``.
        tag: ``v1``; None when the reference has none.
        digest: ``sha256:...``; None when the reference has none.

    >>> ref = ImageRef.parse("localhost:5000/team/heart-roc")
    >>> (ref.registry, ref.path, str(ref.pinned()), ref.short)
    ('localhost:5000', 'team/heart-roc', 'localhost:5000/team/heart-roc:latest', 'heart-roc')
    """

    path: str
    registry: Optional[str] = None
    tag: Optional[str] = None
    digest: Optional[str] = None

    @classmethod
    def parse(cls, text: str | ImageRef) -> ImageRef:
        """Parse ``text``; raise :class:`~dockermagic.errors.InvalidTag` naming the rule if Docker would refuse it."""
        if isinstance(text, ImageRef):
            return text
        text = str(text or "")
        registry, rest = None, text
        first, slash, after = text.partition("/")
        # as Docker reads it, the first part names a registry only when it looks like a host
        if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
            registry, rest = first, after
        match = _NAME.match(rest)
        if not match or len(text) > 255 or (registry is not None and not _HOST_RE.match(registry)):
            raise InvalidTag(f"invalid image tag {text!r}: {RULE}")
        return cls(path=match.group("path"), registry=registry, tag=match.group("tag"), digest=match.group("digest"))

    @property
    def repository(self) -> str:
        """The name without tag or digest: ``localhost:5000/team/heart-roc``."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    @property
    def short(self) -> str:
        """The last path component: ``heart-roc`` (for container and folder names)."""
        return self.path.rsplit("/", 1)[-1]

    def pinned(self) -> ImageRef:
        """The same reference with the default tag when it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return replace(self, tag=DEFAULT_TAG)
        return self

    def with_tag(self, tag: str) -> ImageRef:
        """This repository with another tag (and no digest)."""
        return ImageRef.parse(f"{self.repository}:{tag}")

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def validate_tag(tag: str) -> str:
    """Return ``tag`` if Docker accepts it as an image name, else raise :class:`InvalidTag`.

    >>> validate_tag("heart-roc:v1")
    'heart-roc:v1'
    """
    ImageRef.parse(tag)
    return tag


def default_name(name: object) -> str:
    """A valid image name made from a notebook's (or anything's) name: ``Heart ROC.ipynb`` -> ``heart-roc``."""
    stem = re.sub(r"\.ipynb$", "", str(name or "")).lower()
    stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    return (stem or "notebook")[:100]


def slug(text: str) -> str:
    """A file-name-safe form of a tag or name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "image"
