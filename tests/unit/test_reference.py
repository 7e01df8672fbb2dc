"""Image references: one parser for every caller, digests and registry ports included."""

import pytest
from docker.utils import parse_repository_tag

from dockermagic.errors import InvalidTag
from dockermagic.reference import ImageRef, default_name, validate_tag

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text,registry,path,tag,digest",
    [
        ("heart-roc", None, "heart-roc", None, None),
        ("heart-roc:v1", None, "heart-roc", "v1", None),
        ("me/heart_roc:1.0", None, "me/heart_roc", "1.0", None),
        ("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", None),
        ("localhost/a", "localhost", "a", None, None),
        ("registry.example.com:443/team/app", "registry.example.com:443", "team/app", None, None),
        ("10.0.0.2:5000/app:7", "10.0.0.2:5000", "app", "7", None),
        (f"python@{DIGEST}", None, "python", None, DIGEST),
        (f"ghcr.io/astral-sh/uv:0.9.5@{DIGEST}", "ghcr.io", "astral-sh/uv", "0.9.5", DIGEST),
        ("a__b", None, "a__b", None, None),
    ],
)
def test_parse_splits_registry_path_tag_and_digest(text, registry, path, tag, digest):
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)
    assert str(ref) == text and validate_tag(text) == text


@pytest.mark.parametrize("text", ["heart-roc", "localhost:5000/a/b:c", f"python@{DIGEST}", "team/app:1"])
def test_the_sdk_splits_what_we_hand_it_the_same_way(text):
    ref = ImageRef.parse(text).pinned()
    repository, tag = parse_repository_tag(str(ref))
    assert repository == ref.repository
    assert tag == (ref.digest or ref.tag)


def test_default_tag_short_name_and_retagging():
    assert str(ImageRef.parse("x").pinned()) == "x:latest"
    assert str(ImageRef.parse(f"x@{DIGEST}").pinned()) == f"x@{DIGEST}"  # a digest needs no tag
    assert ImageRef.parse("localhost:5000/team/heart-roc:v2").short == "heart-roc"
    assert str(ImageRef.parse("localhost:5000/team/app:v1").with_tag("v2")) == "localhost:5000/team/app:v2"
    assert ImageRef.parse("localhost:5000/team/app").repository == "localhost:5000/team/app"


@pytest.mark.parametrize(
    "bad", ["Heart", "heart roc", "-x", "x:", "x:-y", "a..b", "", "x@sha256:abc", "Not_Valid!", "a/" * 130 + "b"]
)
def test_invalid_references_name_the_rule(bad):
    with pytest.raises(InvalidTag, match="lowercase"):
        ImageRef.parse(bad)


def test_default_name_from_a_notebook():
    assert default_name("My Heart ROC (v2).ipynb") == "my-heart-roc-v2"
    ImageRef.parse(default_name("Ünïcode.ipynb"))
    assert default_name("") == "notebook"
