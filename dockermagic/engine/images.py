"""Images on the engine and in registries: look up, pull, push, retire, and what a base image holds."""

from docker.errors import APIError, DockerException, NotFound
from docker.errors import ImageNotFound as _SdkImageNotFound

from ..errors import (
    BaseImageUnavailable,
    ImageNotFound,
    PushError,
)
from ..layout import LABEL_VERSION
from ..reference import ImageRef


def local_image(client, ref):
    """The local image ``ref``, or None."""
    try:
        return client.images.get(str(ref))
    except (_SdkImageNotFound, NotFound):
        return None
    except APIError:
        return None


def pull(client, ref, on_chunk=None):
    """Pull ``ref`` (an :class:`~dockermagic.reference.ImageRef` or text), passing each decoded
    progress chunk to ``on_chunk``. The SDK splits the reference itself, digests included.

    Raises:
        ImageNotFound: the registry does not have it, or no registry is reachable.
    """
    ref = str(ImageRef.parse(ref).pinned())
    try:
        for chunk in client.api.pull(ref, stream=True, decode=True):
            if "error" in chunk:
                raise ImageNotFound(f"cannot pull {ref}: {chunk['error']}")
            if on_chunk:
                on_chunk(chunk)
    except APIError as exc:
        raise ImageNotFound(f"cannot pull {ref}: {exc.explanation or exc}") from None
    image = local_image(client, ref)
    if image is None:
        raise ImageNotFound(f"cannot pull {ref}")
    return image


def push(client, image, ref, on_chunk=None):
    """Tag ``image`` as ``ref`` and push it, passing each progress chunk to ``on_chunk``.

    Uses the credentials of the user's Docker configuration (``docker login``).

    Raises:
        PushError: the registry refused or could not be reached.
    """
    target = ImageRef.parse(ref).pinned()
    try:
        client.images.get(str(image)).tag(target.repository, target.tag)
        for chunk in client.api.push(str(target), stream=True, decode=True):
            if "error" in chunk:
                raise PushError(f"cannot push {target}: {chunk['error'].strip()}")
            if on_chunk:
                on_chunk(chunk)
    except (_SdkImageNotFound, NotFound):
        raise ImageNotFound(f"no image {image} on the engine") from None
    except APIError as exc:
        raise PushError(f"cannot push {target}: {exc.explanation or exc}") from None
    return str(target)


def ensure_base(client, ref, on_chunk=None):
    """Make sure the base image is local, pulling it with progress when it is not."""
    if local_image(client, ref) is not None:
        return
    try:
        pull(client, ref, on_chunk)
    except ImageNotFound as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise BaseImageUnavailable(
            f"base image {ref} is not on this engine and cannot be pulled ({reason[:160]}): "
            "pull it or build it yourself, or choose another with --base"
        ) from None


_unreachable = set()


def optional_image(client, ref, on_chunk=None):
    """Whether ``ref`` is on the engine, pulling it if need be; a failed pull is not retried
    for this engine in this process (it is only ever a faster way, never a requirement)."""
    if local_image(client, ref) is not None:
        return True
    key = (getattr(client.api, "base_url", ""), ref)
    if key in _unreachable:
        return False
    try:
        pull(client, ref, on_chunk)
        return True
    except ImageNotFound:
        _unreachable.add(key)
        return False


def image_by_id(client, image_id):
    """The image with this id (it exists: the build just made it)."""
    return client.images.get(image_id)


def retire_replaced(client, image_id):
    """Remove an image of dockermagic's that a rebuild took the tag from, unless it still has
    another tag or a container uses it (the engine refuses then)."""
    try:
        image = client.images.get(image_id)
        if not image.tags and LABEL_VERSION in (image.labels or {}):
            client.images.remove(image_id, noprune=False)
    except (APIError, NotFound, _SdkImageNotFound):
        pass


def registry_has(client, ref):
    """Whether the registry of ``ref`` serves it (asked through the engine, as a node would pull it)."""
    try:
        client.api.inspect_distribution(str(ref))
        return True
    except (APIError, NotFound):
        return False


_BASE_PROBE = (
    "ldconfig -p 2>/dev/null; echo '--- os-release'; cat /etc/os-release 2>/dev/null; "
    "echo '--- programs'; ls -1 /usr/local/bin /usr/bin /bin /usr/sbin /sbin 2>/dev/null; true"
)


def base_image_facts(client, ref):
    """What a base image has: ``ldconfig -p`` text, its ``/etc/os-release`` text and the
    programs on its PATH, read once from a throw-away container and cached per image id.

    Returns ``(ldconfig text, os-release text, programs)``, or None when it cannot be read.
    """
    import json

    from ..layout import cache_home

    image = local_image(client, ref)
    if image is None:
        return None
    cache = cache_home() / "base-facts" / f"{image.id.split(':')[-1][:24]}.json"
    try:
        data = json.loads(cache.read_text())
        return data["ldconfig"], data["os_release"], data["programs"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        out = client.containers.run(
            image.id, ["sh", "-c", _BASE_PROBE], remove=True, entrypoint=[], labels={LABEL_VERSION: "probe"}
        ).decode("utf-8", errors="replace")
    except (APIError, DockerException):
        return None
    ldconfig, _, rest = out.partition("--- os-release\n")
    os_release, _, programs = rest.partition("--- programs\n")
    names = sorted({line.strip() for line in programs.splitlines() if line.strip() and not line.endswith(":")})
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"ldconfig": ldconfig, "os_release": os_release, "programs": names}))
    except OSError:
        pass
    return ldconfig, os_release, names
