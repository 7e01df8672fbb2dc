"""Image names: checking a tag the way Docker will, and making one from a notebook's name."""

import re

from .errors import InvalidTag

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_TAG = r"[\w][\w.-]{0,127}"
_REFERENCE = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?$")


def validate_tag(tag):
    """Return ``tag`` if Docker accepts it as an image name, else raise :class:`InvalidTag`.

    >>> validate_tag("heart-roc:v1")
    'heart-roc:v1'
    """
    if not tag or len(tag) > 255 or not _REFERENCE.match(tag):
        raise InvalidTag(f"invalid image tag {tag!r}: use lowercase letters, digits and . _ - "
                         "separators, optionally REGISTRY/ before and :TAG (letters, digits, . _ -) "
                         "after, e.g. heart-roc:v1")
    return tag


def default_tag(name):
    """A valid image name made from a notebook's (or anything's) name: ``Heart ROC.ipynb`` -> ``heart-roc``."""
    stem = re.sub(r"\.ipynb$", "", str(name or "")).lower()
    stem = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    return (stem or "notebook")[:100]


def slug(tag):
    """A file-name-safe form of a tag."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-") or "image"
